import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineHealthWait, EngineWaitError } from '../../../harness/stack/containers/engine-health-wait.ts';
import type { WaitArgs } from '../../../harness/stack/containers/polling-wait.ts';

/**
 * The real engines' health wait against a local HTTP server and a stand-in container whose
 * state the test sets: healthy on 200, ended at once by an exit (not after the startup
 * timeout), ended by the timeout while the engine keeps running; the last words are read
 * before the wait fails.
 */

class LocalEngineHealthWait extends EngineHealthWait {
  protected override runtimeHost(): Promise<string> {
    return Promise.resolve('127.0.0.1');
  }
}

/** A container whose inspect answers the status the test sets. */
class StandInContainer {
  readonly id = 'c0ffee';
  status = 'running';
  inspections = 0;
  inspect(): Promise<{ State: { Status: string } }> {
    this.inspections += 1;
    return Promise.resolve({ State: { Status: this.status } });
  }
}

class HealthServer {
  status = 503;
  private readonly server: Server = createServer((_req, res) => res.writeHead(this.status).end());
  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const ENGINE_PORT = 8091;
const health = new HealthServer();
let hostPort = 0;

function waitFor(container: StandInContainer, startupTimeoutMs: number, words: string[]): Promise<unknown> {
  const wait = new LocalEngineHealthWait('/health', ENGINE_PORT, { intervalMs: 20, lastWords: (id) => Promise.resolve(`${id}: ${words.shift() ?? 'none'}`) }).withStartupTimeout(startupTimeoutMs);
  const ports = { getBinding: (port: number) => (port === ENGINE_PORT ? hostPort : -1) };
  return wait.waitUntilReady(container as unknown as WaitArgs[0], ports as unknown as WaitArgs[1]).then(
    () => 'ready',
    (e: unknown) => e,
  );
}

beforeAll(async () => {
  hostPort = await health.listen();
});
afterAll(() => health.close());

describe('the real engines health wait', () => {
  it('is ready once /health answers 200', async () => {
    health.status = 200;
    expect(await waitFor(new StandInContainer(), 5_000, [])).toBe('ready');
  });

  it('an engine that exits ends the wait at once with its last words (not after the startup timeout)', async () => {
    health.status = 503;
    const container = new StandInContainer();
    setTimeout(() => (container.status = 'exited'), 100);
    // The startup timeout is far longer than the test's own: only the exit can end this wait in time.
    const ended = await waitFor(container, 60_000, ['exited with code 1: error: failed to load model']);
    expect(ended).toBeInstanceOf(EngineWaitError);
    expect((ended as EngineWaitError).end).toBe('exited');
    expect((ended as EngineWaitError).lastWords).toBe('c0ffee: exited with code 1: error: failed to load model');
    expect(container.inspections).toBeGreaterThan(1);
  }, 10_000);

  it('an engine that keeps running unhealthy ends the wait at its startup timeout, with its last words', async () => {
    health.status = 503;
    const ended = await waitFor(new StandInContainer(), 300, ['still running: loading model']);
    expect(ended).toBeInstanceOf(EngineWaitError);
    expect((ended as EngineWaitError).end).toBe('timeout');
    expect((ended as Error).message).toBe(`http://127.0.0.1:${hostPort}/health did not answer 200 within 300 ms: c0ffee: still running: loading model`);
  });

  it('a dead container (docker\'s other stopped state) counts as an exit', async () => {
    const container = new StandInContainer();
    container.status = 'dead';
    expect(((await waitFor(container, 60_000, [])) as EngineWaitError).end).toBe('exited');
  }, 10_000);
});
