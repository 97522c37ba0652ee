import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsiStack, newRunId, type StartedHsiStack } from '../../harness/stack/hsi-stack.ts';
import { dockerResourcesOfRun, PROJECT_ROOT, runCli, testConfig } from './stack-helpers.ts';

/**
 * Issue 13 items 4 and 6 on ONE reference stack started with the defect switch
 * ws-drops-broadcast: a run shows upload → WebSocket event latency and nothing-lost fails on the
 * one dropped broadcast, naming it; `conform` passes on the stack; `conform` through a proxy that
 * breaks two contract details (a renamed /api/events field, a span attribute stripped from
 * Jaeger's answers) reports each as one line and exits 1.
 */
let stack: StartedHsiStack;
let runId: string;
let dir: string;

function stackFile(name: string, backendUrl: string, jaegerUrl: string): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ endpoints: { backendUrl, jaegerUrl, postgresUrl: stack.getPostgresConnectionUri(), redisUrl: stack.getRedisUrl() } }));
  return file;
}

/** Forwards to `target`, rewriting JSON answers of the paths `rewrite` knows; WebSocket upgrades are piped through. */
async function breakingProxy(target: string, rewrite: (path: string, body: unknown) => unknown): Promise<{ url: string; server: Server }> {
  const upstream = new URL(target);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const out = httpRequest({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host, 'accept-encoding': 'identity' } }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        let body = Buffer.concat(chunks);
        try {
          body = Buffer.from(JSON.stringify(rewrite(new URL(req.url ?? '/', 'http://x').pathname, JSON.parse(body.toString('utf8')))));
        } catch {
          // not JSON (Jaeger's v3 answers JSON as text/plain on errors): passed through
        }
        const headers = { ...answer.headers, 'content-length': String(body.length) };
        delete headers['transfer-encoding'];
        res.writeHead(answer.statusCode ?? 502, headers);
        res.end(body);
      });
    });
    req.pipe(out);
  });
  server.on('upgrade', (req: IncomingMessage, socket) => {
    const up = connect(Number(upstream.port), upstream.hostname, () => {
      up.write(`${req.method} ${req.url} HTTP/1.1\r\n${Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`).join('\r\n')}\r\n\r\n`);
      up.pipe(socket).pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

type Json = Record<string, unknown>;
const renameRiskScore = (path: string, body: unknown) => {
  if (path !== '/api/events') return body;
  const b = body as { items: Json[] };
  return { ...b, items: b.items.map(({ risk_score, ...rest }) => ({ ...rest, riskScore: risk_score })) };
};
/** Jaeger's answers (legacy `tags` or API v3 `attributes`) without `media_type` on detection_processing. */
const stripMediaType = (_path: string, body: unknown): unknown => {
  if (Array.isArray(body)) return body.map((v) => stripMediaType(_path, v));
  if (body === null || typeof body !== 'object') return body;
  const o = Object.fromEntries(Object.entries(body as Json).map(([k, v]) => [k, stripMediaType(_path, v)]));
  if (o['operationName'] !== 'detection_processing' && o['name'] !== 'detection_processing') return o;
  for (const list of ['tags', 'attributes']) if (Array.isArray(o[list])) o[list] = (o[list] as Json[]).filter((t) => t['key'] !== 'media_type');
  return o;
};

describe('what a person sees (/ws/events) and conform, on one stack', () => {
  beforeAll(async () => {
    runId = newRunId('test-ws-conform');
    dir = mkdtempSync(join(tmpdir(), 'hsi-ws-conform-'));
    stack = await new HsiStack(testConfig()).withRunId(runId).withDefects(['ws-drops-broadcast']).withLlmEnvironment({ EMULATOR_TIME_SCALE: '0.05' }).start();
  });

  afterAll(async () => {
    await stack?.stop();
    expect(await dockerResourcesOfRun(runId)).toEqual([]);
  });

  it('a run reports upload → WebSocket event latency, and nothing-lost names the one broadcast the stack dropped', async () => {
    const file = stackFile('stack', stack.getBackendUrl(), stack.getJaegerQueryUrl());
    const res = await runCli(['run', join(PROJECT_ROOT, 'test/fixtures/scenarios/ws-short.ts'), '--external', file]);
    expect(res.code, res.stdout + res.stderr).toBe(1);
    expect(res.stdout).toMatch(/✗ nothing-lost +every event broadcast on \/ws\/events: 1\/\d+ stored events never reached \/ws\/events: event \d+ \(batch batch-[0-9a-f]{8}\): stored in PostgreSQL, received by no subscriber/);
    expect(res.stdout).toMatch(/✓ nothing-lost +nothing lost/);
    expect(res.stdout).toMatch(/websocket +upload → \/ws\/events event p50 \d+ ms, p95 \d+ ms, p99 \d+ ms \(n=\d+\)/);
    const results = join(PROJECT_ROOT, 'results', res.runId!);
    const summary = JSON.parse(readFileSync(join(results, 'summary.json'), 'utf8')) as { eventStream: { storedEvents: number; broadcastEvents: number; uploadToEventMs: { count: number; p95Ms: number } } };
    expect(summary.eventStream.broadcastEvents).toBe(summary.eventStream.storedEvents - 1);
    expect(summary.eventStream.uploadToEventMs.count).toBe(summary.eventStream.broadcastEvents);
    expect(readFileSync(join(results, 'junit.xml'), 'utf8')).toMatch(/<property name="ws.upload_to_event.p95" value="\d+(\.\d)?"\/>/);
    expect(readFileSync(join(results, 'report.html'), 'utf8')).toContain('id="websocket"');
  });

  it('conform passes on the reference stack', async () => {
    const res = await runCli(['conform', '--external', stackFile('stack', stack.getBackendUrl(), stack.getJaegerQueryUrl())]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toMatch(/hsi-chaos conform .* \(dialect reference\): CONFORMS/);
    for (const area of ['api', 'spans', 'context', 'queue', 'websocket']) expect(res.stdout).toMatch(new RegExp(`ok +${area} `));
  });

  it('conform reports each contract detail broken on purpose as one line, exit 1', async () => {
    const backend = await breakingProxy(stack.getBackendUrl(), renameRiskScore);
    const jaeger = await breakingProxy(stack.getJaegerQueryUrl(), stripMediaType);
    try {
      const res = await runCli(['conform', '--external', stackFile('broken', backend.url, jaeger.url)]);
      expect(res.code, res.stdout + res.stderr).toBe(1);
      const lines = res.stdout.split('\n').slice(res.stdout.split('\n').indexOf('differences:') + 1).filter((l) => /^ {2}\w+ +\S/.test(l) && !/^ {2}(note|report)/.test(l));
      expect(lines.map((l) => l.trim())).toEqual([
        expect.stringMatching(/^spans +trace [0-9a-f]{32} nemotron-backend "detection_processing": attribute media_type: expected media_type exists, seen no such attribute$/),
        expect.stringMatching(/^api {7}GET \/api\/events\?limit=5: field items\[0\]\.risk_score( \(and \d more items?\))?: expected number, seen missing$/),
      ]);
    } finally {
      backend.server.close();
      jaeger.server.close();
    }
  });
});
