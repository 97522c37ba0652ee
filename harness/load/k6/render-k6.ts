import { basename, join } from 'node:path';
import { HSI_API_KEY_HEADER } from '../../contract/dialects.ts';
import { HSI_WS_API_KEY_QUERY } from '../../contract/hsi-ws-events.ts';
import type { Scenario, Workload } from '../../scenario/scenario-types.ts';
import { formatDurationMs } from '../../util/duration.ts';
import { cameraSequence } from '../camera-mix.ts';
import { requestName } from '../request-names.ts';

/**
 * The scenario definition rendered for the k6 script (scenarios/k6/camera-uploads.ts): k6
 * cannot import Node modules, so the harness writes this JSON and the script reads it with
 * open(__ENV.HSI_SCENARIO_JSON). `options` is exactly what the script exports as k6 options.
 * Keep in sync with the `RenderedScenario` type in the script.
 */
export interface K6ThresholdObject {
  threshold: string;
  abortOnFail: boolean;
  delayAbortEval?: string;
}

export type K6Executor = Record<string, string | number | boolean | Record<string, string> | { duration: string; target: number }[]>;

export interface K6Options {
  scenarios: Record<string, K6Executor>;
  thresholds: Record<string, (string | K6ThresholdObject)[]>;
  summaryTrendStats: string[];
}

export interface RenderedScenario {
  version: 1;
  name: string;
  backendUrl: string;
  options: K6Options;
  cameras: { id: string; name: string; files: { path: string; name: string }[] }[];
  /** camera index per iteration, by k6 scenario name (iterationInTest modulo the length) */
  sequences: Record<string, number[]>;
  tracing: { sampledFraction: number; baggage: Record<string, string>; requestSource: string };
  /** request timeout, k6 duration string */
  timeout: string;
  limits: { maxRequests: number };
  /** custom metrics the script declares in its init context (k6 refuses thresholds on undeclared ones) */
  metrics: Record<string, { type: 'counter' | 'gauge' | 'rate' | 'trend'; contains: 'default' | 'time' | 'data' }>;
  /** request kinds by name (the `api` exec function) */
  requests: Record<string, RenderedRequest>;
  /** per k6 scenario: request kind per iteration (weighted round robin), think time in seconds */
  requestSequences: Record<string, string[]>;
  thinkTime: Record<string, { min: number; max: number }>;
  /** setup(): literal values, or a GET route's list */
  setupParams: Record<string, { values: string[] } | { from: string; field: string; fallback: string[] }>;
  /** per k6 scenario running `subscriber`: path, session length in ms, tags */
  websockets: Record<string, { path: string; sessionMs: number; tags: Record<string, string> }>;
  /**
   * Where the stack's API key goes (the key itself comes from the environment, HSI_API_KEY):
   * this header on setup() and API requests, this query parameter on WebSocket URLs.
   */
  apiKey: { header: string; wsQuery: string };
}

export interface RenderedRequest {
  method: string;
  /** template with {param} placeholders, query appended */
  path: string;
  name: string;
  headers: Record<string, string>;
  body: string | null;
  tags: Record<string, string>;
  expectedStatuses: number[] | null;
  checks: Record<string, { status?: number[]; json?: string; type?: string; equals?: string | number | boolean; maxDurationMs?: number }>;
  metrics: Record<string, 'duration' | 'ok' | 'count' | 'bytes'>;
}

export interface RenderK6Options {
  backendUrl: string;
  /** re-root the cameras' images (default: the absolute paths of the validated scenario) */
  fixturesDir?: string;
}

const d = (ms: number) => formatDurationMs(ms);

/** per-scenario sub-metrics the summary must carry, each with a threshold that always holds */
export const SCENARIO_SUMMARY_METRICS: readonly [string, string][] = [
  ['http_reqs', 'count>=0'],
  ['http_req_duration', 'max>=0'],
  ['http_req_failed', 'rate>=0'],
  ['iterations', 'count>=0'],
  ['dropped_iterations', 'count>=0'],
];

/** One k6 scenario's options in k6's own vocabulary (durations as k6 strings). */
export function renderExecutor(w: Workload): K6Executor {
  const common: K6Executor = { executor: w.executor, startTime: d(w.startTimeMs), gracefulStop: d(w.gracefulStopMs) };
  if (Object.keys(w.tags).length > 0) common['tags'] = w.tags;
  if (Object.keys(w.env).length > 0) common['env'] = w.env;
  const stages = (s: readonly { durationMs: number; target: number }[]) => s.map((st) => ({ duration: d(st.durationMs), target: st.target }));
  switch (w.executor) {
    case 'shared-iterations':
    case 'per-vu-iterations':
      return { ...common, vus: w.vus, iterations: w.iterations, maxDuration: d(w.maxDurationMs) };
    case 'constant-vus':
      return { ...common, vus: w.vus, duration: d(w.durationMs) };
    case 'ramping-vus':
      return { ...common, startVUs: w.startVUs, stages: stages(w.stages), gracefulRampDown: d(w.gracefulRampDownMs) };
    case 'constant-arrival-rate':
      return { ...common, rate: w.rate, timeUnit: d(w.timeUnitMs), duration: d(w.durationMs), preAllocatedVUs: w.preAllocatedVUs, maxVUs: w.maxVUs };
    case 'ramping-arrival-rate':
      return {
        ...common,
        startRate: w.startRate,
        timeUnit: d(w.timeUnitMs),
        stages: stages(w.stages),
        preAllocatedVUs: w.preAllocatedVUs,
        maxVUs: w.maxVUs,
      };
  }
}

function renderRequest(k: Scenario['requests'][string]): RenderedRequest {
  const query = new URLSearchParams(k.query).toString();
  const checks: RenderedRequest['checks'] = {};
  for (const [name, c] of Object.entries(k.checks)) {
    if ('status' in c) checks[name] = { status: Array.isArray(c.status) ? c.status : [c.status] };
    else if ('maxDuration' in c) checks[name] = { maxDurationMs: c.maxDuration };
    else {
      const out: RenderedRequest['checks'][string] = { json: c.json };
      if (c.type !== undefined) out.type = c.type;
      if (c.equals !== undefined) out.equals = c.equals;
      checks[name] = out;
    }
  }
  return {
    method: k.method,
    path: query ? `${k.path}?${query}` : k.path,
    name: requestName(k),
    headers: { ...k.headers, ...(k.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: k.body === undefined ? null : JSON.stringify(k.body),
    tags: k.tags,
    expectedStatuses: k.expectedStatuses ?? null,
    checks,
    metrics: k.metrics,
  };
}

export function renderK6(scenario: Scenario, options: RenderK6Options): RenderedScenario {
  const scenarios: Record<string, K6Executor> = {};
  const sequences: Record<string, number[]> = {};
  const requestSequences: Record<string, string[]> = {};
  const thinkTime: Record<string, { min: number; max: number }> = {};
  const websockets: RenderedScenario['websockets'] = {};
  for (const [name, w] of Object.entries(scenario.scenarios)) {
    scenarios[name] = renderExecutor(w);
    if (w.thinkTime) thinkTime[name] = { min: w.thinkTime.minMs / 1000, max: w.thinkTime.maxMs / 1000 };
    if (w.requests) {
      const kinds = Object.entries(w.requests);
      requestSequences[name] = cameraSequence(kinds.map(([, weight]) => weight)).map((i) => kinds[i]?.[0] ?? '');
      (scenarios[name] as K6Executor)['exec'] = 'api';
    }
    const sub = w.websocket === undefined ? undefined : scenario.websockets[w.websocket];
    if (sub) {
      websockets[name] = { path: sub.path, sessionMs: sub.sessionDuration, tags: sub.tags };
      (scenarios[name] as K6Executor)['exec'] = 'subscriber';
    }
    const weights = w.cameraIndexes.map((i) => scenario.cameras[i]?.weight ?? 1);
    sequences[name] = cameraSequence(weights).map((k) => w.cameraIndexes[k] ?? 0);
  }
  const thresholds: Record<string, (string | K6ThresholdObject)[]> = {};
  for (const [metric, specs] of Object.entries(scenario.thresholds)) {
    thresholds[metric] = specs.map((t) => {
      if (!t.abortOnFail && t.delayAbortEvalMs === undefined) return t.threshold;
      const o: K6ThresholdObject = { threshold: t.threshold, abortOnFail: t.abortOnFail };
      if (t.delayAbortEvalMs !== undefined) o.delayAbortEval = d(t.delayAbortEvalMs);
      return o;
    });
  }
  // k6's end-of-test summary has sub-metrics only where a threshold asks for them: always-true
  // thresholds make it carry every scenario's counts (the converter leaves them out of the verdicts)
  for (const name of Object.keys(scenario.scenarios)) {
    for (const [metric, always] of SCENARIO_SUMMARY_METRICS) {
      const key = `${metric}{scenario:${name}}`;
      if (!(key in thresholds)) thresholds[key] = [always];
    }
  }
  return {
    version: 1,
    name: scenario.name,
    backendUrl: options.backendUrl.replace(/\/+$/, ''),
    options: {
      scenarios,
      thresholds,
      summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
    },
    cameras: scenario.cameras.map((c) => ({
      id: c.id,
      name: c.name,
      files: c.files.map((f) => {
        const path = options.fixturesDir ? join(options.fixturesDir, c.fixtures, basename(f)) : f;
        return { path, name: basename(path) };
      }),
    })),
    sequences,
    tracing: { ...scenario.tracing },
    timeout: d(scenario.transport.type === 'http' ? scenario.transport.timeoutMs : 60_000),
    limits: { maxRequests: scenario.limits.maxRequests },
    metrics: scenario.metrics,
    requests: Object.fromEntries(Object.values(scenario.requests).map((k) => [k.name, renderRequest(k)])),
    requestSequences,
    thinkTime,
    setupParams: Object.fromEntries(
      Object.entries(scenario.setupParams).map(([p, v]) => [
        p,
        Array.isArray(v)
          ? { values: v.map(String) }
          : { from: `${v.from}${Object.keys(v.query).length > 0 ? `?${new URLSearchParams(v.query).toString()}` : ''}`, field: v.field, fallback: v.fallback.map(String) },
      ]),
    ),
    websockets,
    apiKey: { header: HSI_API_KEY_HEADER, wsQuery: HSI_WS_API_KEY_QUERY },
  };
}
