import { basename, join } from 'node:path';
import type { Scenario, Workload } from '../../scenario/scenario-types.ts';
import { formatDurationMs } from '../../util/duration.ts';
import { cameraSequence } from '../camera-mix.ts';

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
}

export interface RenderK6Options {
  backendUrl: string;
  /** re-root the cameras' images (default: the absolute paths of the validated scenario) */
  fixturesDir?: string;
}

const d = (ms: number) => formatDurationMs(ms);

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

export function renderK6(scenario: Scenario, options: RenderK6Options): RenderedScenario {
  const scenarios: Record<string, K6Executor> = {};
  const sequences: Record<string, number[]> = {};
  for (const [name, w] of Object.entries(scenario.scenarios)) {
    scenarios[name] = renderExecutor(w);
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
  };
}
