import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { describeCallFailure, StackFaultExecutor } from '../../../harness/chaos/fault-executor.ts';
import type { PlannedFault } from '../../../harness/chaos/fault-schema.ts';

/** A Toxiproxy API with one proxy, enough for down faults: GET/POST /proxies/detector, GET /proxies, POST /reset. */
class FakeToxiproxy {
  enabled = true;
  readonly history: boolean[] = [];
  private server: Server | undefined;

  private proxy() {
    return { name: 'detector', listen: '[::]:8668', upstream: 'ai-yolo26:8095', enabled: this.enabled, toxics: [] };
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.method === 'POST' && req.url === '/proxies/detector') {
          this.enabled = (JSON.parse(body) as { enabled: boolean }).enabled;
          this.history.push(this.enabled);
          return res.end(JSON.stringify(this.proxy()));
        }
        if (req.method === 'POST' && req.url === '/reset') {
          this.enabled = true;
          return res.end('');
        }
        if (req.url === '/proxies/detector') return res.end(JSON.stringify(this.proxy()));
        if (req.url === '/proxies') return res.end(JSON.stringify({ detector: this.proxy() }));
        res.statusCode = 404;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  stop(): Promise<unknown> {
    return new Promise((r) => this.server?.close(r));
  }
}

const down = (name: string, index: number): PlannedFault => ({ index, name, target: 'detector', atMs: 0, durationMs: 1000, fault: { type: 'down' } });

let fake: FakeToxiproxy | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

describe('StackFaultExecutor', () => {
  it('two overlapping down faults on one proxy: it stays down until the last one ends', async () => {
    fake = new FakeToxiproxy();
    const executor = new StackFaultExecutor({ toxiproxyApiUrl: await fake.start(), emulatorUrls: {} });
    await executor.resetAll();
    await executor.apply(down('first', 0));
    await executor.apply(down('second', 1));
    expect(fake.enabled).toBe(false);
    await executor.remove(down('first', 0));
    expect(fake.enabled).toBe(false);
    expect(executor.downFaultsInEffect()).toEqual({ detector: ['second'] });
    await executor.remove(down('second', 1));
    expect(fake.enabled).toBe(true);
    expect(fake.history).toEqual([false, true]); // one disable, one enable
    expect(executor.downFaultsInEffect()).toEqual({});
  });

  it('a failed call names the endpoint, never just "fetch failed"', async () => {
    const executor = new StackFaultExecutor({ toxiproxyApiUrl: 'http://127.0.0.1:1', emulatorUrls: { llm: 'http://127.0.0.1:1' } });
    await expect(executor.apply(down('x', 0))).rejects.toThrow(/^Toxiproxy \(read proxy detector\) http:\/\/127\.0\.0\.1:1 failed: /); // the client drops the cause; the endpoint is named
    await expect(executor.apply({ index: 0, name: 'slow', target: 'llm', atMs: 0, durationMs: 1, fault: { type: 'emulator', error_rate: 0, status_code: 503, delay_ms: 300, delay_jitter_ms: 0 } })).rejects.toThrow(
      /^emulator fault endpoint PUT http:\/\/127\.0\.0\.1:1\/admin\/faults failed: .*ECONNREFUSED/,
    );
    const bare = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8474'), { code: 'ECONNREFUSED' }) });
    expect(describeCallFailure('Toxiproxy (reset)', 'http://127.0.0.1:8474', bare)).toBe('Toxiproxy (reset) http://127.0.0.1:8474 failed: fetch failed: connect ECONNREFUSED 127.0.0.1:8474');
  });

  it('an external stack with emulator endpoints only does not call a Toxiproxy', async () => {
    const executor = new StackFaultExecutor({ toxiproxyApiUrl: '', emulatorUrls: {} });
    expect(executor.hasToxiproxy).toBe(false);
    await expect(executor.resetAll()).resolves.toBeUndefined();
  });
});
