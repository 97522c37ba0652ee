import { afterEach, describe, expect, it } from 'vitest';
import { QueueMonitor } from '../../../harness/capacity/probes.ts';
import { readEvents } from '../../../harness/dialect/events-reader.ts';
import { HsiHttpClient, parseRetryAfter, RateLimitLedger, rateLimitLine } from '../../../harness/dialect/hsi-http.ts';
import { BackendGpuSource } from '../../../harness/gpu/http-sources.ts';
import { backendWorkersIdle } from '../../../assertions/hsi/pipeline-adapters.ts';
import { FakeBackend, sendJson } from './fake-backend.ts';

let backend: FakeBackend | undefined;
afterEach(async () => {
  await backend?.stop();
  backend = undefined;
});

/** A client that records the waits instead of sleeping them (the server is real, the clock is not). */
function client(options: { apiKey?: string; maxRetries?: number; maxWaitMs?: number; ledger?: RateLimitLedger } = {}): { http: HsiHttpClient; waits: number[] } {
  const waits: number[] = [];
  const http = new HsiHttpClient({ ...options, sleep: async (ms) => void waits.push(ms) });
  return { http, waits };
}

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates, and nothing else', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter('Tue, 01 Dec 2026 18:00:05 GMT', Date.parse('Tue, 01 Dec 2026 18:00:00 GMT'))).toBe(5000);
    expect(parseRetryAfter('Tue, 01 Dec 2026 17:00:00 GMT', Date.parse('Tue, 01 Dec 2026 18:00:00 GMT'))).toBe(0);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('HsiHttpClient against a rate-limited backend (429 + Retry-After)', () => {
  it('waits as Retry-After says, retries, sends the API key every time, and counts the 429s', async () => {
    backend = new FakeBackend((_req, res, n) => (n <= 2 ? sendJson(res, 429, { detail: 'Rate limit exceeded' }, { 'retry-after': n === 1 ? '2' : '1' }) : sendJson(res, 200, { status: 'healthy' })));
    const base = await backend.start();
    const { http, waits } = client({ apiKey: 'k-123' });
    const res = await http.getJson(new URL('/api/system/health', base));
    expect(res).toEqual({ status: 200, body: { status: 'healthy' } });
    expect(waits).toEqual([2000, 1000]);
    expect(backend.requests.map((r) => r.headers['x-api-key'])).toEqual(['k-123', 'k-123', 'k-123']);
    expect(http.ledger.snapshot()).toEqual({ responses429: 2, retries: 2, gaveUp: 0, waitedMs: 3000, byPath: { '/api/system/health': 2 } });
    expect(rateLimitLine(http.ledger.snapshot())).toBe('rate limited: 2 × 429 (/api/system/health 2), 2 retried after 3.0 s of waiting, 0 gave up');
  });

  it('bounds the wait and the retries: a long Retry-After is cut, and the last 429 is returned', async () => {
    backend = new FakeBackend((_req, res) => sendJson(res, 429, { detail: 'Rate limit exceeded' }, { 'retry-after': '3600' }));
    const base = await backend.start();
    const { http, waits } = client({ maxRetries: 2, maxWaitMs: 5_000 });
    const res = await http.getJson(new URL('/api/queues/status', base));
    expect(res.status).toBe(429);
    expect(waits).toEqual([5000, 5000]);
    expect(backend.requests).toHaveLength(3);
    expect(http.ledger.snapshot()).toMatchObject({ responses429: 3, retries: 2, gaveUp: 1 });
  });

  it('without Retry-After backs off exponentially; without a key sends no key header', async () => {
    backend = new FakeBackend((_req, res, n) => (n <= 3 ? sendJson(res, 429, {}) : sendJson(res, 200, {})));
    const base = await backend.start();
    const { http, waits } = client();
    expect((await http.getJson(new URL('/x', base))).status).toBe(200);
    expect(waits).toEqual([1000, 2000, 4000]);
    expect(backend.requests.every((r) => r.headers['x-api-key'] === undefined)).toBe(true);
  });

  it('counterexample: a client that ignored 429 would hand the poller a 429 (the backend really limits)', async () => {
    backend = new FakeBackend((_req, res, n) => (n === 1 ? sendJson(res, 429, {}, { 'retry-after': '1' }) : sendJson(res, 200, {})));
    const base = await backend.start();
    const { http } = client({ maxRetries: 0 });
    expect((await http.getJson(new URL('/x', base))).status).toBe(429);
  });
});

describe('harness pollers through the client', () => {
  it('the capacity queue monitor reads hsi-current queue status past a 429 and counts it in the run ledger', async () => {
    const body = { queues: [{ name: 'detection', status: 'healthy', depth: 4, running: 1, workers: 2, throughput: { jobs_per_minute: 30, avg_processing_seconds: 0.4 }, oldest_job: null }, { name: 'ai_analysis', status: 'healthy', depth: 1, running: 0, workers: 1, throughput: { jobs_per_minute: 2, avg_processing_seconds: 3 } }, { name: 'dlq', status: 'warning', depth: 2, running: 0, workers: 0, throughput: { jobs_per_minute: 0, avg_processing_seconds: 0 } }], summary: { total_queued: 7, total_running: 1, total_workers: 3, overall_status: 'warning' } };
    backend = new FakeBackend((_req, res, n) => (n === 1 ? sendJson(res, 429, { detail: 'slow down' }, { 'retry-after': '1' }) : sendJson(res, 200, body)));
    const base = await backend.start();
    const ledger = new RateLimitLedger();
    const { http } = client({ ledger, apiKey: 'k' });
    const sample = await new QueueMonitor(base, 500, http).sampleOnce();
    expect(sample).toMatchObject({ backlog: 6, detection: 5, deadLetters: 2 });
    expect(ledger.snapshot().responses429).toBe(1);
    expect(backend.requests[1]?.headers['x-api-key']).toBe('k');
  });

  it('the drain idleness check and the GPU source use the client (key header, 429 waited out)', async () => {
    backend = new FakeBackend((req, res, n) => {
      if (n % 2 === 1) return sendJson(res, 429, {}, { 'retry-after': '0' });
      if (req.url === '/api/queues/status') return sendJson(res, 200, { queues: [], summary: { total_running: 1 } });
      return sendJson(res, 200, { utilization: 40, memory_used: 1000, memory_total: 24000, temperature: 60, power_usage: 150, inference_fps: 10 });
    });
    const base = await backend.start();
    const { http } = client({ apiKey: 'k' });
    expect(await backendWorkersIdle(base, http)()).toBe(false);
    const gpu = await new BackendGpuSource(base, 3_000, http).read();
    expect(gpu.ok && gpu.gpus[0]).toMatchObject({ utilizationPct: 40, powerW: 150 });
    expect(http.ledger.snapshot().responses429).toBe(2);
    expect(backend.requests.every((r) => r.headers['x-api-key'] === 'k')).toBe(true);
  });
});

describe('events with cursor pagination', () => {
  const event = (id: number) => ({ id, camera_id: 'front_door', started_at: '2026-12-01T18:00:00Z', ended_at: null, risk_score: 10, risk_level: 'low', summary: 's', detection_count: 1, detection_ids: [id] });

  it('follows next_cursor (hsi-current) until the last page', async () => {
    backend = new FakeBackend((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const cursor = url.searchParams.get('cursor');
      if (cursor === null) return sendJson(res, 200, { items: [event(1), event(2)], pagination: { total: 5, limit: 2, offset: null, cursor: null, next_cursor: 'c2', has_more: true }, deprecation_warning: null });
      if (cursor === 'c2') return sendJson(res, 200, { items: [event(3), event(4)], pagination: { total: 5, limit: 2, offset: null, cursor: 'c2', next_cursor: 'c3', has_more: true } });
      return sendJson(res, 200, { items: [event(5)], pagination: { total: 5, limit: 2, offset: null, cursor: 'c3', next_cursor: null, has_more: false } });
    });
    const base = await backend.start();
    const read = await readEvents(client().http, base, { limit: 2 });
    expect(read).toMatchObject({ pages: 3, paging: 'cursor', total: 5, truncated: false });
    expect(read.items.map((e) => e['id'])).toEqual([1, 2, 3, 4, 5]);
    expect(backend.requests.map((r) => r.url)).toEqual(['/api/events?limit=2', '/api/events?limit=2&cursor=c2', '/api/events?limit=2&cursor=c3']);
  });

  it('follows offsets (reference) and stops at maxPages', async () => {
    backend = new FakeBackend((req, res) => {
      const offset = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('offset') ?? 0);
      sendJson(res, 200, { items: [event(offset + 1)], pagination: { total: 10, limit: 1, offset, has_more: offset + 1 < 10 } });
    });
    const base = await backend.start();
    const read = await readEvents(client().http, base, { limit: 1, maxPages: 3 });
    expect(read).toMatchObject({ pages: 3, paging: 'offset', truncated: true });
    expect(read.items.map((e) => e['id'])).toEqual([1, 2, 3]);
  });
});
