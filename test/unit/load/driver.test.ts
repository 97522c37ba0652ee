import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../harness/errors.ts';
import { type LoadClock, runLoad } from '../../../harness/load/driver.ts';
import type { LoadRequestRecord } from '../../../harness/load/load-result.ts';
import { parseTraceparent } from '../../../harness/load/trace-context.ts';
import { RunResults } from '../../../harness/util/run-results.ts';
import { PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { validateScenario } from '../../../harness/scenario/validate-scenario.ts';

const FIXTURES = resolve(PROJECT_ROOT, 'fixtures', 'images');

interface Seen {
  n: number;
  at: number;
  url: string;
  traceparent: string;
  baggage: string;
  contentType: string;
  bytes: number;
  body: string;
}

/** A plain node:http server on 127.0.0.1 (no undici) answering like the backend: 202 + JSON. */
let server: Server;
let base = '';
let seen: Seen[] = [];
let behaviour: (n: number, res: ServerResponse, answer: () => void) => void = (_n, _res, answer) => answer();

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = seen.length + 1;
      const body = Buffer.concat(chunks);
      seen.push({
        n,
        at: performance.now(),
        url: req.url ?? '',
        traceparent: String(req.headers['traceparent'] ?? ''),
        baggage: String(req.headers['baggage'] ?? ''),
        contentType: String(req.headers['content-type'] ?? ''),
        bytes: body.length,
        body: body.subarray(0, 300).toString('latin1'),
      });
      const camera = /\/api\/cameras\/([^/]+)\/uploads/.exec(req.url ?? '')?.[1] ?? '';
      behaviour(n, res, () => {
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: `upload-${n}`, camera_id: camera, file_path: `/data/${camera}/${n}.jpg`, status: 'queued', trace_id: 'x' }));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const tmp = mkdtempSync(join(tmpdir(), 'hsi-driver-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function scenario(overrides: Record<string, unknown>) {
  return validateScenario(
    { name: 'driver-unit', cameras: [{ id: 'front_door' }, { id: 'driveway' }], limits: { maxDuration: '20s', maxRequests: 1000 }, ...overrides },
    { fixturesDir: FIXTURES, source: 'driver-unit.ts' },
  );
}

/** performance.now() with the driver's t0 remembered (runLoad reads the clock first for t0). */
function recordingClock(): LoadClock & { t0: () => number } {
  let first: number | undefined;
  return {
    now: () => {
      const t = performance.now();
      first ??= t;
      return t;
    },
    epochMs: () => Date.now(),
    t0: () => first ?? 0,
  };
}

function records(results: RunResults): LoadRequestRecord[] {
  return readFileSync(results.path('requests.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as LoadRequestRecord);
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the whole process stalls: server and driver alike
  }
}

describe('native driver: open model', () => {
  it('counts latency from the intended send time when the process stalls 300 ms (no coordinated omission)', async () => {
    seen = [];
    let stall: { start: number; end: number } | undefined;
    behaviour = (n, _res, answer) => {
      if (n === 20) {
        const start = performance.now();
        busyWait(300);
        stall = { start, end: performance.now() };
      }
      answer();
    };
    const clock = recordingClock();
    const results = new RunResults(tmp, 'open-stall');
    const s = scenario({ scenarios: { steady: { executor: 'constant-arrival-rate', rate: 50, timeUnit: '1s', duration: '2s', preAllocatedVUs: 5, maxVUs: 50 } } });
    const result = await runLoad(s, { backendUrl: base, results, clock, progressLine: false });
    expect(stall).toBeDefined();
    const t0 = clock.t0();
    const stallStart = (stall?.start ?? 0) - t0;
    const stallEnd = (stall?.end ?? 0) - t0;

    const recs = records(results);
    expect(recs).toHaveLength(100);
    expect(result.requests).toMatchObject({ sent: 100, completed: 100, dropped: 0, interrupted: 0, accepted: 100, failed: 0 });
    // the plan was kept: every intended time is k * 20 ms, each sent exactly once
    expect(recs.map((r) => r.intendedMs).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, k) => k * 20));
    // requests due during the stall went out late, and their latency counts from the intended time
    const due = recs.filter((r) => r.intendedMs > stallStart + 5 && r.intendedMs < stallEnd - 5);
    expect(due.length).toBeGreaterThanOrEqual(12);
    for (const r of due) {
      expect(r.lagMs).toBeGreaterThanOrEqual(stallEnd - r.intendedMs - 2);
      expect(r.latencyMs).toBeGreaterThanOrEqual(stallEnd - r.intendedMs - 2);
      expect(r.latencyMs).toBeCloseTo(r.lagMs + r.serviceMs, 2);
    }
    const duration = result.metrics['http_req_duration'];
    expect(duration?.type === 'trend' && duration.values.max).toBeGreaterThanOrEqual(290);
    expect(recs.filter((r) => r.latencyMs > 100).length).toBeGreaterThanOrEqual(8);
    expect(result.sendLag?.max).toBeGreaterThanOrEqual(250);
    expect(result.sendLag?.count).toBe(100);
    expect(result.scenarios['steady']).toMatchObject({ executor: 'constant-arrival-rate', http_reqs: { count: 100 }, dropped_iterations: { count: 0 } });
    expect(result.timeSeries.reduce((a, p) => a + p.requests, 0)).toBe(100);
    expect(JSON.parse(readFileSync(results.path('load-result.json'), 'utf8'))).toMatchObject({ driver: 'native', requests: { completed: 100 } });
  }, 15_000);

  it('a closed model under the same stall hides it: only the stalled request is slow', async () => {
    seen = [];
    let stall: { start: number; end: number } | undefined;
    behaviour = (n, _res, answer) => {
      if (n === 20) {
        const start = performance.now();
        busyWait(300);
        stall = { start, end: performance.now() };
      }
      answer();
    };
    const clock = recordingClock();
    const results = new RunResults(tmp, 'closed-stall');
    const s = scenario({ scenarios: { one: { executor: 'per-vu-iterations', vus: 1, iterations: 40, maxDuration: '10s' } } });
    const result = await runLoad(s, { backendUrl: base, results, clock, progressLine: false });
    const recs = records(results);
    expect(recs).toHaveLength(40);
    // Judged against the stall's own window, not a 100 ms line any request crosses on a loaded
    // machine: exactly one request holds the stall; every other one was over before it began or
    // sent after it ended (the one VU waited), so the stall shows in one latency only.
    const [stallStart, stallEnd] = [(stall?.start ?? 0) - clock.t0(), (stall?.end ?? 0) - clock.t0()];
    const holding = recs.filter((r) => r.intendedMs <= stallStart && r.endMs >= stallEnd);
    expect(holding).toHaveLength(1);
    expect(holding[0]!.latencyMs).toBeGreaterThanOrEqual(290);
    const touched = recs.filter((r) => r !== holding[0] && r.endMs > stallStart + 1 && r.intendedMs < stallEnd - 1);
    expect(touched.map((r) => [r.seq, r.intendedMs, r.endMs])).toEqual([]);
    expect(result.sendLag).toBeNull();
  }, 15_000);

  it('drops iterations when all maxVUs are busy (k6 dropped_iterations)', async () => {
    seen = [];
    behaviour = (n, _res, answer) => (n === 3 ? setTimeout(answer, 300) : answer());
    const s = scenario({ scenarios: { tight: { executor: 'constant-arrival-rate', rate: 20, duration: '1s', preAllocatedVUs: 1, maxVUs: 1 } } });
    const result = await runLoad(s, { backendUrl: base, progressLine: false });
    expect(result.requests.sent + result.requests.dropped).toBe(20);
    expect(result.requests.dropped).toBeGreaterThanOrEqual(4);
    expect(result.requests.dropped).toBeLessThanOrEqual(7);
    expect(result.metrics['dropped_iterations']).toMatchObject({ values: { count: result.requests.dropped } });
    expect(result.scenarios['tight']?.dropped_iterations.count).toBe(result.requests.dropped);
    expect(result.metrics['vus_max']).toMatchObject({ values: { value: 1 } });
    expect(result.timeSeries.reduce((a, p) => a + p.dropped, 0)).toBe(result.requests.dropped);
  }, 15_000);
});

describe('native driver: requests', () => {
  it('sends multipart uploads with traceparent (sampled by the fraction) and baggage, and records them', async () => {
    seen = [];
    behaviour = (_n, _res, answer) => answer();
    const results = new RunResults(tmp, 'records');
    const s = scenario({
      scenarios: { mix: { executor: 'shared-iterations', vus: 2, iterations: 40 } },
      cameras: [{ id: 'front_door', weight: 3 }, { id: 'side_gate', fixtures: 'driveway', files: ['mountain_track_640x480.jpg'] }],
      tracing: { sampledFraction: 0.5, baggage: { 'event.priority': 'high' }, requestSource: 'unit-test' },
      seed: 'fixed',
    });
    const result = await runLoad(s, { backendUrl: base, results, progressLine: false });
    expect(result.requests.completed).toBe(40);
    const recs = records(results);
    expect(seen).toHaveLength(40);
    const cameras = recs.map((r) => r.camera);
    expect(cameras.filter((c) => c === 'front_door')).toHaveLength(30);
    expect(cameras.filter((c) => c === 'side_gate')).toHaveLength(10);
    const sampled = recs.filter((r) => r.sampled).length;
    expect(sampled).toBeGreaterThan(8);
    expect(sampled).toBeLessThan(32);
    for (const r of recs) {
      const got = seen.find((x) => parseTraceparent(x.traceparent)?.traceId === r.traceId);
      expect(got).toBeDefined();
      expect(parseTraceparent(got?.traceparent ?? '')).toEqual({ traceId: r.traceId, spanId: r.spanId, sampled: r.sampled });
      expect(got?.url).toBe(`/api/cameras/${r.camera}/uploads`);
      expect(got?.baggage).toBe(`camera.id=${r.camera},request.source=unit-test,event.priority=high`);
      expect(got?.contentType).toMatch(/^multipart\/form-data; boundary=/);
      expect(got?.body).toContain(`Content-Disposition: form-data; name="file"; filename="${r.fixture}"`);
      expect(r).toMatchObject({ status: 202, ok: true, scenario: 'mix', transport: 'http', uploadId: expect.stringMatching(/^upload-\d+$/) });
      expect(r.filePath).toBe(`/data/${r.camera}/${r.uploadId?.slice(7)}.jpg`);
      expect(r.intendedEpochMs).toBeGreaterThan(Date.now() - 60_000);
      expect(r.sentMs).toBeGreaterThanOrEqual(r.intendedMs);
    }
    expect(recs.filter((r) => r.camera === 'side_gate').every((r) => r.fixture === 'mountain_track_640x480.jpg')).toBe(true);
    expect(new Set(recs.map((r) => r.vu))).toEqual(new Set([0, 1]));
  }, 15_000);

  it('counts failures and evaluates thresholds like k6; abortOnFail stops the run (exit code 99)', async () => {
    seen = [];
    behaviour = (_n, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"error":"overloaded"}');
    };
    const s = scenario({
      scenarios: { failing: { executor: 'constant-arrival-rate', rate: 20, duration: '6s', preAllocatedVUs: 2, maxVUs: 5 } },
      thresholds: { 'http_req_failed{scenario:failing}': [{ threshold: 'rate<0.01', abortOnFail: true }], http_req_duration: ['p(95)<5000'] },
    });
    const started = performance.now();
    const result = await runLoad(s, { backendUrl: base, progressLine: false });
    expect(performance.now() - started).toBeLessThan(4000);
    expect(result).toMatchObject({ aborted: true, abortReason: 'threshold', thresholdsPassed: false, exitCode: 99 });
    expect(result.requests.failed).toBe(result.requests.completed);
    expect(result.thresholds).toEqual([
      { metric: 'http_req_failed{scenario:failing}', threshold: 'rate<0.01', ok: false, value: 1, abortOnFail: true },
      { metric: 'http_req_duration', threshold: 'p(95)<5000', ok: true, value: expect.any(Number), abortOnFail: false },
    ]);
    expect(result.metrics['http_req_failed']).toMatchObject({ values: { rate: 1 } });
    expect(result.timeSeries.some((p) => p.errors > 0)).toBe(true);
  }, 15_000);
});

describe('native driver: bounds and stopping', () => {
  it('stops cleanly on an AbortSignal, interrupting what is in flight', async () => {
    seen = [];
    behaviour = (_n, _res, answer) => setTimeout(answer, 2000);
    const results = new RunResults(tmp, 'abort');
    const s = scenario({ scenarios: { long: { executor: 'constant-arrival-rate', rate: 10, duration: '10s', preAllocatedVUs: 2, maxVUs: 50 } } });
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 400);
    const started = performance.now();
    const result = await runLoad(s, { backendUrl: base, results, signal: ctl.signal, progressLine: false });
    // the same 800 ms margin over limits.maxDuration as before
    expect(performance.now() - started).toBeLessThan(2000);
    expect(result).toMatchObject({ aborted: true, abortReason: 'signal' });
    expect(result.requests.interrupted).toBeGreaterThanOrEqual(3);
    expect(result.requests.completed).toBe(0);
    const recs = records(results);
    expect(recs.every((r) => r.interrupted === true)).toBe(true);
  }, 15_000);

  it('enforces limits.maxRequests at run time', async () => {
    seen = [];
    behaviour = (_n, _res, answer) => answer();
    const s = scenario({ scenarios: { loop: { executor: 'constant-vus', vus: 3, duration: '5s' } }, limits: { maxDuration: '10s', maxRequests: 25 } });
    const result = await runLoad(s, { backendUrl: base, progressLine: false });
    expect(result).toMatchObject({ aborted: true, abortReason: 'max-requests' });
    expect(result.requests.sent).toBe(25);
    expect(seen).toHaveLength(25);
  }, 15_000);

  it('enforces limits.maxDuration at run time (the graceful stop does not outlive it)', async () => {
    seen = [];
    behaviour = (_n, _res, answer) => setTimeout(answer, 3000);
    const s = scenario({
      // k6 refuses constant executors under 1s: 4 arrivals over 1s (0, 250, 500, 750 ms), bound 1.2s
      scenarios: { slow: { executor: 'constant-arrival-rate', rate: 4, duration: '1s', gracefulStop: '10s', preAllocatedVUs: 10 } },
      limits: { maxDuration: '1200ms', maxRequests: 1000 },
    });
    const started = performance.now();
    const result = await runLoad(s, { backendUrl: base, progressLine: false });
    // the same 800 ms margin over limits.maxDuration as before
    expect(performance.now() - started).toBeLessThan(2000);
    expect(result).toMatchObject({ aborted: true, abortReason: 'max-duration' });
    expect(result.requests).toMatchObject({ sent: 4, interrupted: 4, completed: 0 });
  }, 15_000);

  it('runs the VU executors: per-vu-iterations, shared-iterations, ramping-vus', async () => {
    seen = [];
    behaviour = (_n, _res, answer) => setTimeout(answer, 5);
    const s = scenario({
      scenarios: {
        per: { executor: 'per-vu-iterations', vus: 2, iterations: 3 },
        shared: { executor: 'shared-iterations', vus: 3, iterations: 7 },
        ramp: { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: '300ms', target: 3 }, { duration: '300ms', target: 0 }], gracefulRampDown: '0s' },
      },
    });
    const result = await runLoad(s, { backendUrl: base, progressLine: false });
    expect(result.scenarios['per']?.iterations.count).toBe(6);
    expect(result.scenarios['shared']?.iterations.count).toBe(7);
    expect(result.scenarios['ramp']?.iterations.count).toBeGreaterThan(5);
    expect(result.metrics['vus_max']).toMatchObject({ type: 'gauge' });
    expect(result.aborted).toBe(false);
  }, 15_000);
});

describe('native driver: drop-folder transport', () => {
  it('writes <dropDir>/<Camera Name>/<file> instead of HTTP', async () => {
    const dropDir = join(tmp, 'cameras');
    const s = scenario({ scenarios: { drop: { executor: 'shared-iterations', vus: 1, iterations: 4 } }, transport: { type: 'drop-folder' } });
    const result = await runLoad(s, { backendUrl: base, dropDir, progressLine: false });
    expect(result.requests.accepted).toBe(4);
    expect(readdirSync(dropDir).sort()).toEqual(['Driveway', 'Front Door']);
    const files = readdirSync(join(dropDir, 'Front Door'));
    expect(files).toHaveLength(2);
    expect(files.every((f) => /-\d{6}\.jpg$/.test(f))).toBe(true);
    expect(existsSync(join(dropDir, 'Front Door', files[0] ?? ''))).toBe(true);
  });

  it('is not supported without a drop directory', async () => {
    const s = scenario({ scenarios: { drop: { executor: 'shared-iterations' } }, transport: { type: 'drop-folder' } });
    await expect(runLoad(s, { backendUrl: base })).rejects.toThrowError(ConfigError);
    await expect(runLoad(s, { backendUrl: base })).rejects.toThrowError(/driver-unit\.ts: transport: drop-folder is not supported without a drop directory/);
  });
});
