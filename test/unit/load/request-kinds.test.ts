import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../harness/errors.ts';
import { runLoad } from '../../../harness/load/driver.ts';
import { PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { validateScenario } from '../../../harness/scenario/validate-scenario.ts';
import { EventStreamServer } from './event-stream-server.ts';

const FIXTURES = resolve(PROJECT_ROOT, 'fixtures', 'images');

/** A node:http server answering like the backend's events API, plus /ws/events (the reference's EventStream). */
const seen: { method: string; url: string; apiKey: string; traceparent: string }[] = [];
const backend = new EventStreamServer((req: IncomingMessage, res: ServerResponse) => {
  req.resume();
  req.on('end', () => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', apiKey: String(req.headers['x-api-key'] ?? ''), traceparent: String(req.headers['traceparent'] ?? '') });
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/api/events') return send(200, { items: [{ id: 7 }, { id: 9 }], pagination: { total: 2, limit: 50, offset: 0, has_more: false } });
    const m = /^\/api\/events\/(\d+)$/.exec(url.pathname);
    if (m) return send(200, { id: Number(m[1]), camera_id: 'front_door', risk_score: 10 });
    send(404, { detail: 'no route' });
  });
});
let base = '';

beforeAll(async () => {
  base = await backend.start();
});
afterAll(() => backend.stop());

const definition = {
  name: 'dashboard-unit',
  cameras: [{ id: 'front_door' }],
  limits: { maxDuration: '20s', maxRequests: 1000 },
  metrics: { event_detail_ms: { type: 'trend', contains: 'time' } },
  setup: { params: { event_id: { from: '/api/events', field: 'items.id', fallback: [1] } } },
  requests: {
    list_events: {
      method: 'GET',
      path: '/api/events',
      query: { limit: '50' },
      headers: { 'X-API-Key': 'unit-key' },
      tags: { type: 'api' },
      checks: { 'status is 200': { status: 200 }, 'has items': { json: 'items', type: 'array' } },
    },
    get_event: {
      method: 'GET',
      path: '/api/events/{event_id}',
      tags: { type: 'api' },
      checks: { 'risk below 5': { json: 'risk_score', equals: 5 } },
      metrics: { event_detail_ms: 'duration' },
    },
  },
  websockets: { events: { path: '/ws/events', sessionDuration: '1s' } },
  scenarios: {
    dashboard: { executor: 'shared-iterations', vus: 2, iterations: 12, requests: { list_events: 1, get_event: 2 }, thinkTime: { min: '10ms', max: '20ms' } },
    subscribers: { executor: 'per-vu-iterations', vus: 2, iterations: 1, websocket: 'events' },
  },
  thresholds: {
    'http_req_duration{type:api}': ['p(95)<2000'],
    'checks{check:status is 200}': ['rate==1'],
    'checks{check:risk below 5}': ['rate<0.5'],
    event_detail_ms: ['p(95)<2000'],
    ws_msgs_received: ['count>=4'],
    ws_connecting: ['p(95)<1000'],
    ws_event_latency: ['p(95)<1000'],
  },
};
const validate = (value: unknown) => validateScenario(value, { fixturesDir: FIXTURES, source: 'dashboard-unit.ts', root: PROJECT_ROOT });

describe('request kinds and WebSocket subscribers (native driver)', () => {
  it('sends weighted kinds with setup() params, headers, tags and checks; subscribers count messages', async () => {
    const result = await runLoad(validate(definition), { backendUrl: base, progressLine: false });
    const api = seen.filter((s) => s.url.startsWith('/api/events'));
    // setup GET + 12 iterations: 4 list, 8 detail (weights 1:2), ids from setup data in turn
    expect(api.filter((s) => s.url === '/api/events?limit=50')).toHaveLength(4);
    expect(api.filter((s) => /^\/api\/events\/(7|9)$/.test(s.url))).toHaveLength(8);
    expect(api.filter((s) => s.url === '/api/events?limit=50').every((s) => s.apiKey === 'unit-key')).toBe(true);
    expect(api.filter((s) => s.traceparent !== '').length).toBe(12);
    expect(result.metrics['checks{check:status is 200}']).toMatchObject({ type: 'rate', values: { passes: 4, fails: 0 } });
    expect(result.metrics['checks{check:risk below 5}']).toMatchObject({ values: { passes: 0, fails: 8 } });
    expect(result.metrics['event_detail_ms']).toMatchObject({ type: 'trend', values: { count: 8 } });
    expect(result.metrics['http_req_waiting']).toMatchObject({ type: 'trend' });
    expect(result.metrics['ws_sessions']).toMatchObject({ values: { count: 2 } });
    expect(result.metrics['ws_msgs_received']?.type).toBe('counter');
    expect(result.thresholds.every((t) => t.ok)).toBe(true);
    expect(result.exitCode).toBe(0);
  }, 20_000);

  it('a subscriber session ends with its VU: gracefulStop cuts a 10 s session of a 1 s scenario', async () => {
    const s = validate({
      ...definition,
      websockets: { events: { path: '/ws/events', sessionDuration: '10s' } },
      scenarios: { subscribers: { executor: 'constant-vus', vus: 1, duration: '1s', gracefulStop: '0s', websocket: 'events' } },
      thresholds: {},
    });
    const started = performance.now();
    const result = await runLoad(s, { backendUrl: base, progressLine: false });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(result.metrics['ws_sessions']).toMatchObject({ values: { count: 1 } });
  }, 20_000);

  it("tags iteration metrics as k6 does: the scenario's tags only, never the request's (name, type, status)", async () => {
    const s = validate({ ...definition, scenarios: { dashboard: definition.scenarios.dashboard }, thresholds: {} });
    // sub-metrics validation would refuse (iterations never carry a request tag): asked here at run time
    const probe = (t: string) => [{ threshold: t, abortOnFail: false }];
    Object.assign(s.thresholds, {
      'iterations{scenario:dashboard}': probe('count>=0'),
      'iterations{type:api}': probe('count>=0'),
      'iteration_duration{name:GET /api/events}': probe('max>=0'),
      'http_reqs{type:api}': probe('count>=0'),
    });
    const result = await runLoad(s, { backendUrl: base, progressLine: false });
    const count = (key: string) => (result.metrics[key]?.type === 'counter' ? result.metrics[key].values.count : -1);
    expect(count('iterations{scenario:dashboard}')).toBe(12);
    expect(count('http_reqs{type:api}')).toBe(12);
    expect(count('iterations{type:api}')).toBe(0);
    expect(result.metrics['iteration_duration{name:GET /api/events}']).toMatchObject({ values: { count: 0 } });
  }, 20_000);

  it('a failing check fails its threshold (the assertion can fail)', async () => {
    const s = validate({ ...definition, thresholds: { 'checks{check:risk below 5}': ['rate>0.5'] } });
    const result = await runLoad(s, { backendUrl: base, progressLine: false });
    expect(result.thresholdsPassed).toBe(false);
    expect(result.exitCode).toBe(99);
  }, 20_000);
});

describe('bad request input: one line naming the field', () => {
  const problem = (over: Record<string, unknown>): string => {
    try {
      validate({ ...definition, ...over });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).not.toContain('\n');
      return (error as Error).message;
    }
    throw new Error('expected a ConfigError');
  };
  it('a request kind with no route', () => {
    expect(problem({ requests: { ...definition.requests, bad: { method: 'GET', path: '/api/nowhere' } } })).toMatch(/requests\.bad\.path: no HSI API route GET \/api\/nowhere/);
    expect(problem({ requests: { ...definition.requests, bad: { method: 'DELETE', path: '/api/events' } } })).toMatch(/no DELETE \/api\/events \(it answers GET there\)/);
  });
  it('a check on a missing field', () => {
    expect(problem({ requests: { ...definition.requests, bad: { method: 'GET', path: '/api/events', checks: { total: { json: 'total' } } } } })).toMatch(
      /requests\.bad\.checks\["total"\]\.json: GET \/api\/events answers no field "total" \(fields: items, pagination\)/,
    );
  });
  it('a WebSocket URL outside the stack', () => {
    expect(problem({ websockets: { events: { path: 'ws://example.org/ws/events' } } })).toMatch(/websockets\.events\.path: ws:\/\/example\.org\/ws\/events is outside the stack/);
    expect(problem({ websockets: { events: { path: '/ws/nothing' } } })).toMatch(/no HSI WebSocket \/ws\/nothing/);
  });
  it('a path parameter without setup values, an unknown kind, a feed into the wrong metric type', () => {
    expect(problem({ setup: undefined })).toMatch(/\{event_id\} has no values/);
    expect(problem({ scenarios: { d: { executor: 'shared-iterations', vus: 1, iterations: 1, requests: { nope: 1 } } } })).toMatch(/scenarios\.d\.requests\.nope: no request kind "nope"/);
    expect(problem({ metrics: { event_detail_ms: { type: 'counter' } }, thresholds: {} })).toMatch(/requests\.get_event\.metrics\.event_detail_ms: duration cannot feed a counter/);
  });
});

describe('the k6 script renders request kinds and subscribers', () => {
  it('exec functions, weighted kind sequences, setup params, checks and think time in k6 units', async () => {
    const { renderK6 } = await import('../../../harness/load/k6/render-k6.ts');
    const r = renderK6(validate(definition), { backendUrl: 'http://127.0.0.1:8000' });
    expect(r.options.scenarios['dashboard']).toMatchObject({ exec: 'api', executor: 'shared-iterations' });
    expect(r.options.scenarios['subscribers']).toMatchObject({ exec: 'subscriber' });
    expect(r.requestSequences['dashboard']).toEqual(['get_event', 'list_events', 'get_event']);
    expect(r.requests['list_events']).toMatchObject({ method: 'GET', path: '/api/events?limit=50', name: 'GET /api/events', headers: { 'X-API-Key': 'unit-key' }, checks: { 'status is 200': { status: [200] } } });
    expect(r.requests['get_event']?.metrics).toEqual({ event_detail_ms: 'duration' });
    expect(r.setupParams['event_id']).toEqual({ from: '/api/events', field: 'items.id', fallback: ['1'] });
    expect(r.thinkTime['dashboard']).toEqual({ min: 0.01, max: 0.02 });
    expect(r.websockets['subscribers']).toEqual({ path: '/ws/events', sessionMs: 1000, tags: {} });
    expect(r.metrics['event_detail_ms']).toEqual({ type: 'trend', contains: 'time' });
  });
});
