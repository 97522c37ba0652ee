import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsiHttpClient } from '../../../harness/dialect/hsi-http.ts';
import { runLoadPhase } from '../../../harness/experiment/phases.ts';
import { exactPercentile, Histogram } from '../../../harness/load/histogram.ts';
import { runLoad } from '../../../harness/load/driver.ts';
import { encodeMultipartFile } from '../../../harness/load/multipart.ts';
import { RunState, systemClock } from '../../../harness/load/run-state.ts';
import { newTraceContext } from '../../../harness/load/trace-context.ts';
import { AbortScope, dispatchUpload } from '../../../harness/load/upload-client.ts';
import { TimeSeriesBuilder } from '../../../harness/load/load-result.ts';
import { RunResults } from '../../../harness/util/run-results.ts';
import { PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { validateScenario } from '../../../harness/scenario/validate-scenario.ts';

const FIXTURES = resolve(PROJECT_ROOT, 'fixtures', 'images');

/** A node:http server answering uploads (202) and GET /api/events, noting each request's X-API-Key. */
let server: Server;
let base = '';
const seen: { method: string; path: string; apiKey: string | undefined; traceparent: string | undefined; baggage: string | undefined }[] = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const key = req.headers['x-api-key'];
      const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(',') : v);
      seen.push({ method: req.method ?? '', path, apiKey: one(key), traceparent: one(req.headers.traceparent), baggage: one(req.headers.baggage) });
      res.writeHead(path.endsWith('/uploads') ? 202 : 200, { 'content-type': 'application/json' });
      res.end(path === '/api/events' ? JSON.stringify({ items: [{ id: 7 }] }) : JSON.stringify({ id: 'u-1', file_path: '/data/x.jpg' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const tmp = mkdtempSync(join(tmpdir(), 'hsi-hot-path-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function uploads(iterations: number) {
  return validateScenario(
    { name: 'hot-path-unit', cameras: [{ id: 'front_door' }], scenarios: { steady: { executor: 'shared-iterations', vus: 2, iterations } }, limits: { maxDuration: '20s', maxRequests: 100 } },
    { fixturesDir: FIXTURES, source: 'hot-path-unit.ts' },
  );
}

describe('native driver: the stack API key (X-API-Key)', () => {
  it('sends the run headers on every upload, request kind and setup() read; a kind’s own header wins', async () => {
    seen.length = 0;
    const s = validateScenario(
      {
        name: 'api-key-unit',
        cameras: [{ id: 'front_door' }],
        setup: { params: { event_id: { from: '/api/events', field: 'items.id', fallback: [1] } } },
        requests: {
          list_events: { method: 'GET', path: '/api/events' },
          get_event: { method: 'GET', path: '/api/events/{event_id}', headers: { 'x-api-key': 'kind-key' } },
        },
        scenarios: {
          cameras: { executor: 'shared-iterations', vus: 1, iterations: 3 },
          dashboard: { executor: 'shared-iterations', vus: 1, iterations: 4, requests: { list_events: 1, get_event: 1 } },
        },
        limits: { maxDuration: '20s', maxRequests: 100 },
      },
      { fixturesDir: FIXTURES, source: 'api-key-unit.ts' },
    );
    const result = await runLoad(s, { backendUrl: base, progressLine: false, headers: { 'X-API-Key': 'run-key' } });
    expect(result.requests.failed).toBe(0);
    const keys = (f: (r: (typeof seen)[number]) => boolean) => seen.filter(f).map((r) => r.apiKey);
    expect(keys((r) => r.path.endsWith('/uploads'))).toEqual(['run-key', 'run-key', 'run-key']);
    // setup() read + two list_events
    expect(keys((r) => r.path === '/api/events')).toEqual(['run-key', 'run-key', 'run-key']);
    expect(keys((r) => r.path.startsWith('/api/events/'))).toEqual(['kind-key', 'kind-key']);
    // every upload and API request (the same path's bytes built once) carries its own traceparent, and the baggage
    const sent = seen.filter((r) => r.traceparent !== undefined);
    expect(sent.length).toBe(3 + 4);
    expect(new Set(sent.map((r) => r.traceparent)).size).toBe(sent.length);
    for (const r of sent) {
      expect(r.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      expect(r.baggage).toContain('request.source=');
    }
  });

  it('sends no X-API-Key without run headers', async () => {
    seen.length = 0;
    await runLoad(uploads(2), { backendUrl: base, progressLine: false });
    expect(seen.map((r) => r.apiKey)).toEqual([undefined, undefined]);
  });

  it('the load phase sends the stack access API key (the harness HTTP client’s) on uploads', async () => {
    seen.length = 0;
    const results = new RunResults(join(tmp, 'results'), 'api-key-phase');
    const http = new HsiHttpClient({ apiKey: 'stack-key' });
    const target = { kind: 'external' as const, endpoints: { backendUrl: base, jaegerUrl: 'http://127.0.0.1:9' }, emulatorUrls: {}, http };
    const outcome = await runLoadPhase({ scenario: uploads(3), target, results, plannedFaults: [], log: () => {} });
    expect(outcome.loadResult.requests.completed).toBe(3);
    expect(seen.map((r) => r.apiKey)).toEqual(['stack-key', 'stack-key', 'stack-key']);
  });
});

describe('native driver hot path', () => {
  const upload = encodeMultipartFile({ fileName: 'a.jpg', bytes: Buffer.alloc(512, 7), mediaType: 'image/jpeg' });

  it('dispatchUpload resolves once with status 0 when the dispatcher refuses the request', async () => {
    const client = new Client(base);
    await client.close();
    const record = await dispatchUpload({ dispatcher: client, path: '/api/cameras/front_door/uploads', cameraId: 'front_door', prepared: upload, trace: newTraceContext(true), baggage: 'camera.id=front_door' });
    expect(record).toMatchObject({ status: 0, accepted: false, cameraId: 'front_door' });
    expect(record.error).toMatch(/closed|destroyed/i);
    expect(record.timing).toBeUndefined();
  });

  it('a run fails loudly, not by hanging, when settling an iteration throws (a closed records writer)', async () => {
    const results = new RunResults(join(tmp, 'results'), 'closed-writer');
    const original = results.ndjsonWriter.bind(results);
    // the writer refuses every record: the VU's iteration must reject, and the run with it
    results.ndjsonWriter = (name, options) => ({ ...original(name, options), write: () => { throw new Error('writer is closed'); } });
    await expect(runLoad(uploads(2), { backendUrl: base, progressLine: false, results })).rejects.toThrow(/writer is closed/);
  });

  it('counts the test run until the last request, not the connection teardown after it', () => {
    let t = 1000;
    const state = new RunState({ now: () => t, epochMs: () => 0 }, 10);
    t = 3000;
    expect(state.durationMs()).toBe(2000);
    state.finish();
    t = 3500;
    expect(state.durationMs()).toBe(2000);
    state.finish();
    expect(state.durationMs()).toBe(2000);
    expect(new RunState(systemClock, 1).durationMs()).toBeGreaterThanOrEqual(0);
  });
});

describe('hot path bookkeeping', () => {
  it('AbortScope aborts every request in flight, the one kept without a Set and the others', () => {
    const aborted: string[] = [];
    const controller = (name: string) => ({ aborted: false, paused: false, reason: null, abort: () => aborted.push(name), pause: () => {}, resume: () => {} });
    const scope = new AbortScope();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(controller) as [ReturnType<typeof controller>, ReturnType<typeof controller>, ReturnType<typeof controller>, ReturnType<typeof controller>];
    scope.enter(a);
    scope.enter(b);
    scope.enter(c);
    // a ended (the slot frees), then d takes it
    scope.leave(a);
    scope.enter(d);
    scope.leave(b);
    scope.abort();
    expect(aborted.sort()).toEqual(['c', 'd']);
    const late = controller('late');
    scope.enter(late);
    expect(aborted).toContain('late');
  });

  it('the per-second series keeps requests that end in an earlier second than the last one', () => {
    const series = new TimeSeriesBuilder();
    series.record(1500, 10, false);
    series.record(2500, 20, true);
    series.record(1600, 30, false);
    series.record(2600, 40, false);
    series.drop(1700);
    expect(series.points().map((p) => [p.t, p.requests, p.errors, p.dropped, p.p50])).toEqual([
      [0, 0, 0, 0, 0],
      [1, 2, 0, 1, 20],
      [2, 2, 1, 0, 30],
    ]);
  });

  it('reads the clock once per moment on the system clock, and falls back to the run clock otherwise', () => {
    const system = new RunState(systemClock, 1);
    expect(system.monotonicOf(12.5)).toBe(system.t0 + 12.5);
    expect(system.sinceT0(system.t0 + 7)).toBe(7);
    let t = 100;
    const custom = new RunState({ now: () => t, epochMs: () => 0 }, 1);
    t = 130;
    expect(custom.sinceT0(123_456)).toBe(30);
    expect(custom.monotonicOf(30)).not.toBe(130);
  });
});

describe('Histogram: runs of equal values', () => {
  it('records runs (zeros of reused connections) exactly like one call per value, across reads and merges', () => {
    const values = [0, 0, 0, 1.5, 1.5, 0, 0, 2.25, 0, 7, 7, 7, 7, 0.001, 0.001, 0];
    const h = new Histogram();
    for (const v of values) h.record(v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const p of [0, 10, 25, 50, 60, 75, 90, 100]) expect(h.percentile(p), `p(${p})`).toBeCloseTo(exactPercentile(sorted, p), 2);
    expect([h.count, h.min, h.max]).toEqual([values.length, 0, 7]);
    expect(h.sum).toBeCloseTo(values.reduce((a, b) => a + b, 0), 9);
    // a run continued after a read is counted once, not twice
    h.record(7);
    h.record(7);
    const more = [...values, 7, 7].sort((a, b) => a - b);
    for (const p of [50, 75, 90]) expect(h.percentile(p), `p(${p}) after the read`).toBeCloseTo(exactPercentile(more, p), 2);
    // a merge takes both sides' pending runs
    const other = new Histogram();
    for (const v of [0, 0, 3, 3, 3]) other.record(v);
    const merged = new Histogram().merge(h).merge(other);
    const all = [...more, 0, 0, 3, 3, 3].sort((a, b) => a - b);
    expect(merged.count).toBe(all.length);
    for (const p of [10, 50, 90]) expect(merged.percentile(p), `merged p(${p})`).toBeCloseTo(exactPercentile(all, p), 2);
  });
});
