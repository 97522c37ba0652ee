import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../harness/errors.ts';
import { K6_BUILTIN_METRICS, MetricStore, RECORDED_METRICS } from '../../../harness/load/metrics.ts';
import { parseThresholdExpression, ThresholdEvaluator } from '../../../harness/load/thresholds.ts';
import { PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { validateScenario } from '../../../harness/scenario/validate-scenario.ts';

const FIXTURES = resolve(PROJECT_ROOT, 'fixtures', 'images');
const base = {
  name: 'parity',
  scenarios: { steady: { executor: 'constant-arrival-rate', rate: 2, duration: '10s', preAllocatedVUs: 2, tags: { team: 'ops' } } },
  cameras: [{ id: 'front_door' }, { id: 'driveway' }],
};
const validate = (over: Record<string, unknown>) => validateScenario({ ...base, ...over }, { fixturesDir: FIXTURES, source: 'scenarios/parity.ts', root: PROJECT_ROOT });

function problem(over: Record<string, unknown>): string {
  try {
    validate(over);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a ConfigError');
}

describe('k6 parity: refuse what k6 refuses', () => {
  it('constant executors shorter than 1s', () => {
    expect(problem({ scenarios: { s: { executor: 'constant-vus', vus: 1, duration: '500ms' } } })).toMatch(/scenarios\.s\.duration: must be at least 1s/);
    expect(problem({ scenarios: { s: { executor: 'constant-arrival-rate', rate: 1, duration: '999ms', preAllocatedVUs: 1 } } })).toMatch(/at least 1s/);
    expect(validate({ scenarios: { s: { executor: 'constant-vus', vus: 1, duration: '1s' } } }).scenarios['s']).toMatchObject({ durationMs: 1000 });
  });
  it('a ramping-vus whose start and every target are 0', () => {
    expect(problem({ scenarios: { r: { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: '5s', target: 0 }] } } })).toMatch(/scenarios\.r\.stages: startVUs and every stage target are 0/);
    expect(validate({ scenarios: { r: { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: '5s', target: 1 }] } } }).scenarios['r']).toBeDefined();
    expect(validate({ scenarios: { r: { executor: 'ramping-vus', startVUs: 1, stages: [{ duration: '5s', target: 0 }] } } }).scenarios['r']).toBeDefined();
  });
  it('spaces inside p( 95 ), as strconv.ParseFloat does', () => {
    expect(() => parseThresholdExpression('p( 95 )<100')).toThrowError(/malformed percentile/);
    expect(problem({ thresholds: { http_req_duration: ['p( 95 )<100'] } })).toMatch(/malformed percentile/);
  });
});

describe('k6 parity: accept what k6 accepts', () => {
  it('p(95)<Inf and the other Go float spellings', () => {
    expect(parseThresholdExpression('p(95)<Inf').value).toBe(Number.POSITIVE_INFINITY);
    expect(parseThresholdExpression('max < +infinity').value).toBe(Number.POSITIVE_INFINITY);
    expect(parseThresholdExpression('min>-Inf').value).toBe(Number.NEGATIVE_INFINITY);
    expect(Number.isNaN(parseThresholdExpression('avg!=NaN').value)).toBe(true);
    expect(() => parseThresholdExpression('avg<infinite')).toThrowError(/not a number/);
    expect(validate({ thresholds: { http_req_duration: ['p(95)<Inf'] } }).thresholds['http_req_duration']).toHaveLength(1);
  });
});

describe('thresholds on every k6 built-in metric and on custom metrics', () => {
  /** uploads, a request kind with a check and a WebSocket subscriber: every path that records k6 metrics */
  const everyPath = {
    requests: { list_events: { method: 'GET', path: '/api/events', checks: { 'status is 200': { status: 200 } } } },
    websockets: { events: { path: '/ws/events', sessionDuration: '1s' } },
    scenarios: {
      ...base.scenarios,
      dashboard: { executor: 'shared-iterations', vus: 1, iterations: 2, requests: { list_events: 1 } },
      subscribers: { executor: 'per-vu-iterations', vus: 1, iterations: 1, websocket: 'events' },
    },
  };
  const agg = { counter: 'count>=0', gauge: 'value>=0', rate: 'rate<=1', trend: 'p(95)<Inf' } as const;
  /** k6 built-ins the native driver never records (metrics.ts RECORDED_METRICS, the one list): no group(), gRPC or browser; subscribers send nothing */
  const NEVER = { test: (name: string) => !(name in RECORDED_METRICS) };

  it('accepts a fitting threshold on each k6 built-in metric the run records', () => {
    const recorded = Object.entries(K6_BUILTIN_METRICS).filter(([name]) => !NEVER.test(name));
    const thresholds = Object.fromEntries(recorded.map(([name, m]) => [name, [agg[m.type]]]));
    expect(Object.keys(thresholds)).toEqual(expect.arrayContaining(['checks', 'http_req_waiting', 'http_req_connecting', 'http_req_blocked', 'http_req_sending', 'data_sent', 'data_received', 'ws_connecting', 'ws_msgs_received']));
    expect(Object.keys(validate({ ...everyPath, thresholds }).thresholds)).toHaveLength(recorded.length);
  });
  it('refuses a threshold on a built-in no driver records in the run: it would see zero samples', () => {
    for (const [name, m] of Object.entries(K6_BUILTIN_METRICS).filter(([n]) => NEVER.test(n))) {
      expect(problem({ ...everyPath, thresholds: { [name]: [agg[m.type]] } }), name).toMatch(new RegExp(`^.*thresholds\\["${name}"\\]: ${name} is never recorded in this run \\(.+\\), so a threshold on it would be evaluated on zero samples; remove it$`));
    }
    expect(problem({ thresholds: { group_duration: ['p(95)<100'] } })).toMatch(/group_duration is never recorded in this run \(hsi-chaos scenarios have no group\(\) blocks\)/);
    // what this run lacks: no subscribers, no checks, no HTTP at all
    expect(problem({ thresholds: { ws_connecting: ['p(95)<100'] } })).toMatch(/no scenario opens WebSocket subscribers/);
    expect(problem({ thresholds: { checks: ['rate>0.9'] } })).toMatch(/no request kind of the workload declares checks/);
    expect(problem({ transport: { type: 'drop-folder' }, thresholds: { http_req_connecting: ['p(95)<100'] } })).toMatch(/http_req_connecting is never recorded in this run \(no scenario sends HTTP requests\)/);
    // a custom metric of the same shape is the user's own: accepted
    expect(validate({ metrics: { grpc_calls: { type: 'counter' } }, thresholds: { grpc_calls: ['count>0'] } }).thresholds['grpc_calls']).toHaveLength(1);
  });
  it('custom metrics: declared under metrics, type-checked, names checked like k6', () => {
    const s = validate({ metrics: { event_list_ms: { type: 'trend', contains: 'time' }, ws_events: { type: 'counter' } }, thresholds: { event_list_ms: ['p(95)<500'], 'ws_events{scenario:steady}': ['count>0'] } });
    expect(s.metrics['event_list_ms']).toEqual({ type: 'trend', contains: 'time' });
    expect(problem({ thresholds: { event_list_ms: ['p(95)<500'] } })).toMatch(/no metric named "event_list_ms": .*declare it under metrics/);
    expect(problem({ metrics: { ws_events: { type: 'counter' } }, thresholds: { ws_events: ['p(95)<5'] } })).toMatch(/not supported on a counter metric/);
    expect(problem({ metrics: { checks: { type: 'rate' } } })).toMatch(/metrics\.checks: checks is a k6 built-in metric/);
    expect(problem({ metrics: { '9lives': { type: 'rate' } } })).toMatch(/k6 rule/);
  });
  it('a threshold on a built-in no code path feeds is still evaluated (0 samples), not dropped', () => {
    const store = new MetricStore();
    store.defineBuiltins();
    const evaluator = new ThresholdEvaluator({ http_req_waiting: [{ threshold: 'p(95)>1', abortOnFail: false }], checks: [{ threshold: 'rate>0.9', abortOnFail: false }] });
    evaluator.register(store);
    expect(store.typeOf('http_req_waiting')).toBe('trend');
    expect(store.typeOf('checks')).toBe('rate');
    const verdicts = evaluator.evaluate(store, 1000, { ignoreEmptySinks: false }).verdicts;
    // k6: an empty trend is 0 everywhere (fails p(95)>1); an empty rate has no value (passes)
    expect(verdicts.map((v) => v.ok)).toEqual([false, true]);
  });
});

describe('a tag filter the run can never emit is a validation error', () => {
  it('refuses unknown scenario names, cameras, tag keys and values', () => {
    expect(problem({ thresholds: { 'http_req_duration{scenario:stedy}': ['p(95)<1'] } })).toMatch(/thresholds\["http_req_duration\{scenario:stedy\}"\]: .*no scenario "stedy" in this run \(scenario: "steady"\)/);
    expect(problem({ thresholds: { 'http_req_duration{camera:garage}': ['p(95)<1'] } })).toMatch(/no camera "garage"/);
    expect(problem({ thresholds: { 'http_req_duration{camra:front_door}': ['p(95)<1'] } })).toMatch(/never carries a "camra" tag .*tags it carries: scenario, team, name, method, status, expected_response, camera/);
    expect(problem({ thresholds: { 'iterations{camera:front_door}': ['count>1'] } })).toMatch(/iterations never carries a "camera" tag/);
    expect(problem({ thresholds: { 'vus{scenario:steady}': ['value>1'] } })).toMatch(/tags it carries: none/);
    expect(problem({ thresholds: { 'http_req_duration{method:GET}': ['p(95)<1'] } })).toMatch(/no method "GET"/);
    expect(problem({ thresholds: { 'http_req_duration{team:dev}': ['p(95)<1'] } })).toMatch(/no team "dev"/);
    expect(problem({ thresholds: { 'http_req_duration{status:ok}': ['p(95)<1'] } })).toMatch(/a status code/);
  });
  it('accepts what the run emits', () => {
    const s = validate({
      thresholds: {
        'http_req_duration{scenario:steady,camera:driveway}': ['p(95)<1000'],
        'http_req_failed{expected_response:true}': ['rate<0.1'],
        'http_reqs{status:202}': ['count>0'],
        'iterations{team:ops}': ['count>0'],
        'http_req_duration{name:POST /api/cameras/{camera_id}/uploads}': ['p(95)<1000'],
      },
    });
    expect(Object.keys(s.thresholds)).toHaveLength(5);
  });
});
