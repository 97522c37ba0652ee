import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../../harness/load/driver.ts';
import { HARNESS_METRICS, K6_BUILTIN_METRICS, type MetricSummary, RECORDED_METRICS, unrecordedReason } from '../../../harness/load/metrics.ts';
import { PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { validateScenario } from '../../../harness/scenario/validate-scenario.ts';
import { EventStreamServer } from './event-stream-server.ts';

/**
 * metrics.ts RECORDED_METRICS is the one list of the built-in metrics the native driver records;
 * scenario validation refuses thresholds on every other k6 built-in. This proves the list on a
 * run of every path (uploads, a request kind with a check, a /ws/events subscriber) against a
 * local server: each listed metric gets samples, and no unlisted built-in does.
 */
const backend = new EventStreamServer((req: IncomingMessage, res: ServerResponse) => {
  req.resume();
  req.on('end', () => {
    if (req.method === 'POST') res.writeHead(202, { 'content-type': 'application/json' }).end('{"id":"u1","file_path":"/data/u1.jpg"}');
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[],"pagination":{"total":0}}');
  });
});
let base = '';

beforeAll(async () => {
  base = await backend.start();
});
afterAll(() => backend.stop());

const everyPath = (extra: Record<string, unknown> = {}) =>
  validateScenario(
    {
      name: 'recorded-metrics-unit',
      cameras: [{ id: 'front_door' }],
      limits: { maxDuration: '20s', maxRequests: 100 },
      requests: { list_events: { method: 'GET', path: '/api/events', checks: { 'status is 200': { status: 200 } } } },
      websockets: { events: { path: '/ws/events', sessionDuration: '1s' } },
      scenarios: {
        cameras: { executor: 'shared-iterations', vus: 1, iterations: 3 },
        dashboard: { executor: 'shared-iterations', vus: 1, iterations: 3, requests: { list_events: 1 } },
        subscribers: { executor: 'per-vu-iterations', vus: 1, iterations: 1, websocket: 'events' },
      },
      ...extra,
    },
    { fixturesDir: resolve(PROJECT_ROOT, 'fixtures', 'images'), source: 'recorded-metrics-unit.ts', root: PROJECT_ROOT },
  );

function samples(m: MetricSummary | undefined): number {
  if (m === undefined) return 0;
  switch (m.type) {
    case 'counter':
      return m.values.count;
    case 'rate':
      return m.values.passes + m.values.fails;
    case 'trend':
      return m.values.count;
    case 'gauge':
      return m.values.max;
  }
}

/** a counter of events a healthy run does not have (driver.test.ts makes a run drop iterations) */
const EVENT_ONLY = new Set(['dropped_iterations']);

describe('RECORDED_METRICS: the metrics the native driver records, proved on a run', () => {
  it('each listed metric gets samples; no other k6 built-in does', async () => {
    const result = await runLoad(everyPath(), { backendUrl: base, progressLine: false });
    expect(result.requests.failed).toBe(0);
    const listed = Object.keys(RECORDED_METRICS);
    for (const name of listed) {
      expect(result.metrics[name], `${name} is listed as recorded but the run has no such metric`).toBeDefined();
      if (!EVENT_ONLY.has(name)) expect(samples(result.metrics[name]), `${name} is listed as recorded but got no sample`).toBeGreaterThan(0);
    }
    const unlisted = [...Object.keys(K6_BUILTIN_METRICS), ...Object.keys(HARNESS_METRICS)].filter((n) => !(n in RECORDED_METRICS));
    expect(unlisted).toEqual(expect.arrayContaining(['group_duration', 'ws_msgs_sent', 'ws_ping', 'grpc_req_duration']));
    for (const name of unlisted) expect(samples(result.metrics[name]), `${name} got samples but is not in RECORDED_METRICS`).toBe(0);
  }, 30_000);

  it('validation refuses a threshold on each unlisted built-in, naming why; a listed one is accepted', () => {
    for (const name of Object.keys(K6_BUILTIN_METRICS).filter((n) => !(n in RECORDED_METRICS))) {
      const type = K6_BUILTIN_METRICS[name]?.type;
      const expr = type === 'trend' ? 'p(95)<100' : type === 'rate' ? 'rate<1' : type === 'gauge' ? 'value<1' : 'count<1';
      expect(() => everyPath({ thresholds: { [name]: [expr] } }), name).toThrowError(ConfigError);
      expect(unrecordedReason(name, { http: true, checks: true, websockets: true }), name).toBeDefined();
    }
    expect(Object.keys(everyPath({ thresholds: { http_req_connecting: ['p(95)<100'], data_sent: ['count>0'], checks: ['rate>0.9'] } }).thresholds)).toHaveLength(3);
  });

  it('a listed metric whose condition the run lacks is not defined by the driver, and refused by validation', async () => {
    // no check declared: `checks` would be evaluated on zero samples
    const noChecks = { requests: { list_events: { method: 'GET', path: '/api/events' } } };
    expect(() => everyPath({ ...noChecks, thresholds: { checks: ['rate>0.9'] } })).toThrowError(/checks is never recorded in this run \(no request kind of the workload declares checks\)/);
    const result = await runLoad(everyPath({ ...noChecks, scenarios: { dashboard: { executor: 'shared-iterations', vus: 1, iterations: 2, requests: { list_events: 1 } } } }), { backendUrl: base, progressLine: false });
    expect(result.metrics['checks']).toBeUndefined();
    expect(result.metrics['ws_sessions']).toBeUndefined();
    expect(samples(result.metrics['http_req_connecting'])).toBe(2);
  }, 30_000);
});
