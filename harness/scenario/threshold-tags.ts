import { parseMetricName, TIMING_METRICS, unrecordedReason } from '../load/metrics.ts';

/**
 * Which tags a run can put on each metric, so that a threshold filter the run can never
 * match (`http_req_duration{scenario:typo}`, `{camra:front_door}`) is a validation error
 * instead of a silent pass on an empty submetric. The tag sets are those both drivers emit
 * (the native driver and the rendered k6 script): k6's system tags the native driver does
 * not write (url, proto, tls_version...) are refused with the list of usable ones.
 */
export interface EmittedTags {
  scenarios: readonly string[];
  cameras: readonly string[];
  /** request `name` tags and methods the workload sends */
  requestNames: readonly string[];
  methods: readonly string[];
  /** `check` tags (check names) */
  checks: readonly string[];
  /** tags set by the workload's scenarios (`tags:`), key -> values */
  scenarioTags: ReadonlyMap<string, ReadonlySet<string>>;
  /** extra tags request kinds set, key -> values */
  requestTags: ReadonlyMap<string, ReadonlySet<string>>;
  /** custom metric names (tags: the scenario's, request kinds' and `scenario`) */
  customMetrics: readonly string[];
  /** some scenario sends HTTP requests (uploads over the http transport, or request kinds) */
  http: boolean;
  /** some scenario opens WebSocket subscribers */
  websockets: boolean;
}

type Family = 'request' | 'iteration' | 'gauge' | 'check' | 'ws' | 'other';

const REQUEST = new Set<string>(['http_reqs', 'http_req_duration', 'http_req_failed', ...TIMING_METRICS]);
const ITERATION = new Set(['iterations', 'iteration_duration', 'dropped_iterations']);

function familyOf(metric: string): Family {
  if (REQUEST.has(metric)) return 'request';
  if (ITERATION.has(metric)) return 'iteration';
  if (metric === 'vus' || metric === 'vus_max') return 'gauge';
  if (metric === 'checks') return 'check';
  if (metric.startsWith('ws_')) return 'ws';
  return 'other';
}

/** allowed values per tag key for a metric family; undefined value set = any value of its form */
function allowedTags(family: Family, e: EmittedTags, custom: boolean): Map<string, ReadonlySet<string> | RegExp> {
  const out = new Map<string, ReadonlySet<string> | RegExp>();
  if (family === 'gauge') return out;
  out.set('scenario', new Set(e.scenarios));
  for (const [k, v] of e.scenarioTags) out.set(k, v);
  if (family === 'request' || custom) for (const [k, v] of e.requestTags) out.set(k, v);
  if (family === 'request') {
    out.set('name', new Set(e.requestNames));
    out.set('method', new Set(e.methods));
    out.set('status', /^\d{1,3}$/);
    out.set('expected_response', new Set(['true', 'false']));
    if (e.cameras.length > 0) out.set('camera', new Set(e.cameras));
  }
  if (family === 'check') out.set('check', new Set(e.checks));
  if (family === 'ws') out.set('status', /^\d{1,3}$/);
  return out;
}

/**
 * A k6 built-in metric no driver of this run ever feeds, in one line; undefined when one does.
 * A threshold on it would be evaluated on zero samples (an empty trend is 0 everywhere), a
 * silent pass or a silent failure: refused instead. What is recorded, and when, is the one
 * list in metrics.ts (RECORDED_METRICS), which the driver defines its metrics from.
 */
export function thresholdMetricProblem(expression: string, e: EmittedTags): string | undefined {
  const { name } = parseMetricName(expression);
  if (e.customMetrics.includes(name)) return undefined;
  const why = unrecordedReason(name, { http: e.http, checks: e.checks.length > 0, websockets: e.websockets });
  return why === undefined ? undefined : `${name} is never recorded in this run (${why}), so a threshold on it would be evaluated on zero samples; remove it`;
}

/** The problem with a threshold's tag filter in one line, or undefined when the run can emit it. */
export function thresholdTagProblem(expression: string, e: EmittedTags): string | undefined {
  const { name, tags } = parseMetricName(expression);
  const custom = e.customMetrics.includes(name);
  const allowed = allowedTags(familyOf(name), e, custom);
  for (const [key, value] of Object.entries(tags)) {
    const values = allowed.get(key);
    if (values === undefined) {
      const keys = [...allowed.keys()];
      return `${name} never carries a "${key}" tag in this run, so {${key}:${value}} would never match (tags it carries: ${keys.length > 0 ? keys.join(', ') : 'none'})`;
    }
    const ok = values instanceof RegExp ? values.test(value) : values.has(value);
    if (!ok) {
      const known = values instanceof RegExp ? 'a status code' : [...values].map((v) => JSON.stringify(v)).join(', ') || 'none';
      return `${name}{${key}:${value}} would never match: no ${key} "${value}" in this run (${key}: ${known})`;
    }
  }
  return undefined;
}
