import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, spawnCli } from '../cli/in-process-cli.ts';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const REAL_SHAPE = join(ROOT, 'test', 'fixtures', 'replay', 'hsi-real-shape.json');

function expectOneLineError(res: { code: number | null; stderr: string }, pattern: RegExp, code = 2): void {
  expect(res.code).toBe(code);
  const lines = res.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(res.stderr).not.toMatch(/\n\s+at /);
}

function temp(name: string, content: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'hsi-replay-cli-')), name);
  writeFileSync(file, content);
  return file;
}

/** A Jaeger api/v3 that knows nemotron-backend and finds no traces (404, as Jaeger answers). */
let jaeger: Server;
let jaegerUrl: string;
beforeAll(async () => {
  jaeger = createServer((req, res) => {
    if (req.url?.startsWith('/api/v3/services')) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(JSON.stringify({ services: ['nemotron-backend', 'jaeger'] }));
      return;
    }
    res.writeHead(404).end(JSON.stringify({ error: { httpCode: 404, message: 'trace not found' } }));
  });
  await new Promise<void>((r) => jaeger.listen(0, '127.0.0.1', r));
  jaegerUrl = `http://127.0.0.1:${(jaeger.address() as AddressInfo).port}`;
});
/** A port that accepts and hangs up at once, and a web server that is not Jaeger (an HTML page for every path). */
let hangUp: NetServer;
let hangUpUrl: string;
let notJaeger: Server;
let notJaegerUrl: string;
beforeAll(async () => {
  hangUp = createNetServer((socket) => socket.destroy());
  await new Promise<void>((r) => hangUp.listen(0, '127.0.0.1', r));
  hangUpUrl = `http://127.0.0.1:${(hangUp.address() as AddressInfo).port}`;
  notJaeger = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>router login</body></html>'));
  await new Promise<void>((r) => notJaeger.listen(0, '127.0.0.1', r));
  notJaegerUrl = `http://127.0.0.1:${(notJaeger.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => jaeger.close(() => r())));
afterAll(() => new Promise<void>((r) => hangUp.close(() => r())));
afterAll(() => new Promise<void>((r) => notJaeger.close(() => r())));

describe('hsi-chaos replay: bad input is one line and exit 2', () => {
  it('a file that is not JSON', async () => {
    expectOneLineError(await cli(['replay', temp('x.json', 'not json')]), /x\.json: not JSON/);
  });
  it('a trace without spans', async () => {
    expectOneLineError(await cli(['replay', temp('x.json', '{"data":[{"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spans":[]}]}')]), /trace 4bf92f3577b34da6a3ce929d0e0e4736 has no spans/);
  });
  it('a window with no traces', async () => {
    expectOneLineError(await cli(['replay', '--jaeger', jaegerUrl, '--since', '10m']), /no traces of nemotron-backend from .* widen the window/);
  });
  it('an unknown service', async () => {
    expectOneLineError(await cli(['replay', '--jaeger', jaegerUrl, '--service', 'nope', '--since', '10m']), /--service nope: Jaeger at .* has no such service \(known: jaeger, nemotron-backend\)/);
  });
  it('a Jaeger that does not answer (the --jaeger URL is input: exit 2, not the environment\'s 3)', async () => {
    expectOneLineError(await cli(['replay', '--jaeger', 'http://127.0.0.1:9', '--since', '10m']), /^hsi-chaos: --jaeger http:\/\/127\.0\.0\.1:9: Jaeger GET http:\/\/127\.0\.0\.1:9\/api\/v3\/services failed: .*; check the URL/);
  });
  it('a Jaeger URL that hangs up without answering, and one that answers something that is not Jaeger', async () => {
    expectOneLineError(await cli(['replay', '--jaeger', hangUpUrl, '--since', '10m']), /^hsi-chaos: --jaeger http:\/\/127\.0\.0\.1:\d+: Jaeger GET .* failed/);
    expectOneLineError(await cli(['replay', '--jaeger', notJaegerUrl, '--since', '10m']), /^hsi-chaos: --jaeger http:\/\/127\.0\.0\.1:\d+: Jaeger at .* serves neither api\/v3 .* nor the legacy API .*; check the URL/);
  });
  it('traces export from a Jaeger that does not answer', async () => {
    expectOneLineError(await cli(['traces', 'export', '--jaeger', 'http://127.0.0.1:9', '--since', '10m', '--out', join(tmpdir(), 'never-written.json')]), /^hsi-chaos: --jaeger http:\/\/127\.0\.0\.1:9: Jaeger GET .* failed/);
  });
  it('no input at all', async () => {
    expectOneLineError(spawnCli(['replay']), /no traces given/); // end to end: exit 2 from the process
  });
});

describe('hsi-chaos replay FILE', () => {
  it('writes a scenario that the harness loads and validates', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'hsi-replay-out-')), 'incident.ts');
    const res = await cli(['replay', REAL_SHAPE, '--out', out, '--name', 'incident-real-shape', '--redact']);
    expect(res.code, res.stderr).toBe(0);
    const source = readFileSync(out, 'utf8');
    // fixture folders keep their names (they are ours); the incident's camera ids and paths do not appear
    expect(source).not.toMatch(/id: 'front_door'|back_yard|\/export\/foscam/);
    expect(source).toMatch(/id: 'camera_1'/);
    const { loadScenario } = await import('../../../harness/scenario/load-scenario.ts');
    const scenario = await loadScenario(out, { projectRoot: ROOT });
    expect(scenario.name).toBe('incident-real-shape');
    expect(scenario.faults.length).toBeGreaterThanOrEqual(2);
    const { planFaultTimeline } = await import('../../../harness/chaos/fault-schema.ts');
    const { plannedLoadDurationMs } = await import('../../../harness/experiment/experiment-runner.ts');
    expect(() => planFaultTimeline(scenario.faults, { targets: ['detector', 'llm', 'postgres', 'redis'], runDurationMs: plannedLoadDurationMs(scenario), source: out })).not.toThrow();
  });
});
