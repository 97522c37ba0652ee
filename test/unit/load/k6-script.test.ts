import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { wsFrameSentAtMs } from '../../../harness/contract/hsi-ws-events.ts';
import { renderK6 } from '../../../harness/load/k6/render-k6.ts';
import { PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { validateScenario } from '../../../harness/scenario/validate-scenario.ts';

/**
 * The k6 script itself (scenarios/k6/camera-uploads.ts), run here with k6's modules stubbed: what
 * it hands to k6 when the stack has an API key (HSI_API_KEY): X-API-Key on setup(), API and
 * upload requests, `?api_key=` on the WebSocket URL (the HSI WebSockets never read the header).
 */
interface Call {
  kind: 'get' | 'request' | 'post' | 'ws';
  url: string;
  headers: Record<string, string>;
}
const calls: Call[] = [];
/** k6/execution's scenario, set per call */
const current = vi.hoisted(() => ({ name: 'subscribers', iterationInTest: 0 }));
/** what ws.connect answers (k6: 101, or 0 / the HTTP status when the handshake failed), and the custom samples */
const wsAnswer = vi.hoisted(() => ({ status: 101 }));
const samples = vi.hoisted(() => [] as { metric: string; value: number; tags: Record<string, string> }[]);
const answer = { status: 200, body: '{"items":[{"id":7}]}', timings: { duration: 5 } };

vi.mock('k6', () => ({ check: () => true, sleep: () => undefined }));
vi.mock('k6/execution', () => ({
  default: { scenario: current, instance: { iterationsCompleted: 0, iterationsInterrupted: 0 }, vu: { metrics: { metadata: {} } }, test: { abort: () => undefined } },
}));
vi.mock('k6/experimental/fs', () => ({
  SeekMode: { Start: 0 },
  open: async () => ({ stat: async () => ({ size: 1 }), seek: async () => 0, read: async (b: Uint8Array) => (b.length > 0 ? 1 : null) }),
}));
vi.mock('k6/http', () => ({
  default: {
    expectedStatuses: () => ({}),
    file: (data: unknown) => data,
    get: (url: string, p: { headers?: Record<string, string> }) => (calls.push({ kind: 'get', url, headers: p.headers ?? {} }), answer),
    post: (url: string, _b: unknown, p: { headers?: Record<string, string> }) => (calls.push({ kind: 'post', url, headers: p.headers ?? {} }), { ...answer, status: 202, body: '{}' }),
    request: (_m: string, url: string, _b: unknown, p: { headers?: Record<string, string> }) => (calls.push({ kind: 'request', url, headers: p.headers ?? {} }), answer),
  },
}));
vi.mock('k6/metrics', () => {
  class Metric {
    private readonly name: string;
    constructor(name: string) {
      this.name = name;
    }
    add(value: number, tags: Record<string, string> = {}): void {
      samples.push({ metric: this.name, value, tags });
    }
  }
  return { Counter: Metric, Gauge: Metric, Rate: Metric, Trend: Metric };
});
vi.mock('k6/ws', () => ({
  default: { connect: (url: string, p: { headers?: Record<string, string> }) => (calls.push({ kind: 'ws', url, headers: p.headers ?? {} }), { status: wsAnswer.status }) },
}));

const FIXTURES = resolve(PROJECT_ROOT, 'fixtures', 'images');
const dir = mkdtempSync(join(tmpdir(), 'hsi-k6-script-'));
const g = globalThis as unknown as { __ENV: Record<string, string>; open: (path: string) => string };

async function loadScript(env: Record<string, string>) {
  const scenario = validateScenario(
    {
      name: 'k6-key',
      cameras: [{ id: 'front_door' }],
      setup: { params: { event_id: { from: '/api/events', field: 'items.id', fallback: [1] } } },
      requests: {
        get_event: { method: 'GET', path: '/api/events/{event_id}' },
        own_key: { method: 'GET', path: '/api/events', headers: { 'x-api-key': 'its-own' } },
      },
      websockets: { events: { path: '/ws/events', sessionDuration: '1s' } },
      scenarios: {
        cameras: { executor: 'shared-iterations', vus: 1, iterations: 1 },
        dashboard: { executor: 'shared-iterations', vus: 1, iterations: 2, requests: { get_event: 1, own_key: 1 } },
        subscribers: { executor: 'per-vu-iterations', vus: 1, iterations: 1, websocket: 'events' },
      },
    },
    { fixturesDir: FIXTURES, source: 'k6-key.ts', root: PROJECT_ROOT },
  );
  const file = join(dir, 'scenario.json');
  const rendered = renderK6(scenario, { backendUrl: 'http://127.0.0.1:8000' });
  writeFileSync(file, JSON.stringify(rendered));
  g.__ENV = { HSI_SCENARIO_JSON: file, ...env };
  g.open = (path: string) => (path === file ? JSON.stringify(rendered) : '');
  vi.resetModules();
  calls.length = 0;
  samples.length = 0;
  return { script: await import('../../../scenarios/k6/camera-uploads.ts'), rendered };
}

function as(name: string, iteration: number, f: () => void): void {
  current.name = name;
  current.iterationInTest = iteration;
  f();
}

describe('the k6 script with a stack API key', () => {
  beforeAll(() => {
    vi.stubGlobal('__ENV', {});
  });
  afterAll(() => {
    vi.unstubAllGlobals();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends X-API-Key on setup(), API and upload requests and ?api_key= on the subscriber URL; never writes the key in the rendered scenario', async () => {
    const { script, rendered } = await loadScript({ HSI_API_KEY: 's3cr/t key' });
    expect(JSON.stringify(rendered)).not.toContain('s3cr');
    expect(rendered.apiKey).toEqual({ header: 'X-API-Key', wsQuery: 'api_key' });
    const data = script.setup();
    expect(data.params['event_id']).toEqual(['7']);
    as('dashboard', 0, () => script.api(data));
    as('dashboard', 1, () => script.api(data));
    current.name = 'cameras';
    current.iterationInTest = 0;
    await script.default();
    as('subscribers', 0, () => script.subscriber());
    const byKind = (k: Call['kind']) => calls.filter((c) => c.kind === k);
    expect(byKind('get')[0]?.headers['X-API-Key']).toBe('s3cr/t key');
    expect(byKind('request').map((c) => [c.url, c.headers['X-API-Key'] ?? c.headers['x-api-key']])).toEqual(
      expect.arrayContaining([
        ['http://127.0.0.1:8000/api/events/7', 's3cr/t key'],
        // a kind that sets the header itself keeps its own, once
        ['http://127.0.0.1:8000/api/events', 'its-own'],
      ]),
    );
    expect(byKind('request').find((c) => c.headers['x-api-key'] === 'its-own')?.headers['X-API-Key']).toBeUndefined();
    expect(byKind('post')[0]?.headers['X-API-Key']).toBe('s3cr/t key');
    expect(byKind('ws').map((c) => c.url)).toEqual(['ws://127.0.0.1:8000/ws/events?api_key=s3cr%2Ft%20key']);
  });

  it('without a key: no header, the plain WebSocket URL (the assertions above can fail)', async () => {
    const { script } = await loadScript({});
    const data = script.setup();
    as('dashboard', 0, () => script.api(data));
    as('subscribers', 0, () => script.subscriber());
    expect(calls.filter((c) => c.kind !== 'ws').every((c) => c.headers['X-API-Key'] === undefined)).toBe(true);
    expect(calls.find((c) => c.kind === 'ws')?.url).toBe('ws://127.0.0.1:8000/ws/events');
  });

  it('a subscriber whose connection fails counts ws_sessions{status:0}, as the native driver does (k6 writes no ws_sessions for it)', async () => {
    const { script } = await loadScript({});
    wsAnswer.status = 0;
    as('subscribers', 0, () => script.subscriber());
    wsAnswer.status = 403;
    as('subscribers', 1, () => script.subscriber());
    wsAnswer.status = 101;
    as('subscribers', 2, () => script.subscriber());
    expect(samples.filter((x) => x.metric === 'ws_sessions')).toEqual([
      { metric: 'ws_sessions', value: 1, tags: { status: '0' } },
      { metric: 'ws_sessions', value: 1, tags: { status: '0' } },
    ]);
  });

  it('reads a frame\'s send time as the contract does (timestamp, or a batch\'s batched_at in seconds), for ws_event_latency', async () => {
    const { script } = await loadScript({});
    const frames = [
      JSON.stringify({ type: 'event', data: { id: 1 }, timestamp: '2026-12-02T00:00:01.500Z' }),
      JSON.stringify({ type: 'event', data: { id: 1 }, timestamp: 1_795_000_000_123 }),
      JSON.stringify({ type: 'batch', channel: 'events', count: 1, messages: [{ type: 'event', data: { id: 1 } }], batched_at: 1_795_000_000.25 }),
      JSON.stringify({ type: 'event', data: { id: 1, started_at: '2026-12-02T00:00:00' }, sequence: 3, requires_ack: false }),
      JSON.stringify({ type: 'event', data: {}, batched_at: 5 }),
      JSON.stringify({ type: 'event', timestamp: 'yesterday' }),
      'null',
    ];
    expect(frames.map((f) => script.frameSentAtMs(f))).toEqual(frames.map((f) => wsFrameSentAtMs(f) ?? Number.NaN));
    expect(frames.map((f) => wsFrameSentAtMs(f))).toEqual([Date.parse('2026-12-02T00:00:01.500Z'), 1_795_000_000_123, 1_795_000_000_250, undefined, undefined, undefined, undefined]);
  });
});
