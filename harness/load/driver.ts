import { ConfigError } from '../errors.ts';
import type { RunResults } from '../util/run-results.ts';
import { runFeatures } from '../scenario/run-features.ts';
import type { Scenario } from '../scenario/scenario-types.ts';
import { RunQueueSampler } from '../util/run-queue.ts';
import { formatDurationMs } from '../util/duration.ts';
import { seededRandom } from '../util/random.ts';
import { cameraSequence } from './camera-mix.ts';
import { runExecutor } from './executors.ts';
import { type LoadResult, prepareStore, scenarioMetrics, TimeSeriesBuilder } from './load-result.ts';
import { MetricStore, recordedMetrics } from './metrics.ts';
import { type LoadProgress, RunMonitor } from './run-monitor.ts';
import { type LoadClock, RunState, systemClock } from './run-state.ts';
import { ScenarioRuntime } from './scenario-runtime.ts';
import { planWorkload } from './schedule.ts';
import { request } from 'undici';
import { RequestIterations, resolveSetupParams } from './request-iteration.ts';
import type { IterationRunner } from './scenario-runtime.ts';
import { ThresholdEvaluator } from './thresholds.ts';
import { loadCameras, RequestMetrics, round3, UploadIterations } from './upload-iteration.ts';
import { Http1Pool } from './http1/pool.ts';
import { WebSocketIterations } from './ws-iteration.ts';

/**
 * The native load driver: k6's executors (executors.ts) on its own HTTP/1.1 client
 * (http1/: a benchmark showed undici's dispatch path costs most of the driver's CPU per
 * upload), sharing one RunState. Connections: one keep-alive connection per VU, one request at
 * a time, as k6 gives each VU its own connections, created lazily. Metrics in HDR histograms; thresholds with k6's semantics
 * evaluated every 2 s (abortOnFail) and at the end (run-monitor.ts); records streamed to
 * requests.ndjson; hard bounds on duration and request count; AbortSignal stops it cleanly.
 */
export type { LoadClock } from './run-state.ts';
export { systemClock } from './run-state.ts';
export type { LoadProgress } from './run-monitor.ts';
export { formatProgress } from './run-monitor.ts';

export interface RunLoadOptions {
  /** backend base URL (`http://127.0.0.1:8000`) for the http transport */
  backendUrl: string;
  /** the stack's API key, as the HSI WebSockets take it: `?api_key=` on the subscribers' URL */
  apiKey?: string | undefined;
  /** fixture root to read the cameras' images from (default: the paths the scenario was validated with) */
  fixturesDir?: string;
  /** the drop folder (`/cameras`) for the drop-folder transport */
  dropDir?: string;
  /** where requests.ndjson and load-result.json go */
  results?: RunResults;
  signal?: AbortSignal;
  onProgress?: (progress: LoadProgress) => void;
  clock?: LoadClock;
  /** live progress line on stderr (default: when stderr is a TTY) */
  progressLine?: boolean;
  /** name of the records file in the results folder (default requests.ndjson) */
  recordsFile?: string;
  /**
   * Headers every HTTP request of the load carries (uploads, request kinds, setup() reads):
   * the stack's API key (`X-API-Key`, from the run's stack access). A request kind's own
   * header of the same name wins.
   */
  headers?: Readonly<Record<string, string>>;
  /**
   * Called once when the load's clock starts, before the first request: t0 on `clock.now()`
   * (performance.now() by default) and the same instant in epoch ms. Record times
   * (`intendedMs`, `sentMs`, ...) count from it, e.g. to align a fault timeline.
   */
  onStart?: (startMono: number, startEpochMs: number) => void;
}

function scenarioRuntimes(scenario: Scenario): ScenarioRuntime[] {
  return Object.entries(scenario.scenarios).map(([name, workload]) => {
    const weights = workload.cameraIndexes.map((i) => scenario.cameras[i]?.weight ?? 1);
    const sequence = cameraSequence(weights).map((k) => workload.cameraIndexes[k] ?? 0);
    return new ScenarioRuntime(name, workload, planWorkload(name, workload), sequence);
  });
}

/**
 * The built-in metrics this run records (metrics.ts RECORDED_METRICS, for the run's features:
 * the same computation scenario validation uses) and the scenario's custom metrics.
 */
function defineRunMetrics(store: MetricStore, scenario: Scenario): void {
  const features = runFeatures(Object.values(scenario.scenarios), scenario.requests, scenario.transport.type === 'http');
  for (const [name, m] of recordedMetrics(features)) store.define(name, m.type, m.contains);
  for (const [name, m] of Object.entries(scenario.metrics)) store.define(name, m.type, m.contains);
}

/** setup(): path parameter values, read from the stack before the load (GETs, bounded). */
async function setupData(scenario: Scenario, backendUrl: string, headers: Readonly<Record<string, string>>): Promise<Record<string, string[]>> {
  const base = backendUrl.replace(/\/+$/, '');
  return resolveSetupParams(scenario.setupParams, async (path) => {
    const res = await request(`${base}${path}`, { headers, headersTimeout: 10_000, bodyTimeout: 10_000 });
    return res.statusCode === 200 ? res.body.json() : (await res.body.dump(), undefined);
  });
}

/** Routes each k6 scenario's iterations: uploads, request kinds or WebSocket sessions. */
class RoutedIterations implements IterationRunner {
  private readonly byScenario = new Map<ScenarioRuntime, IterationRunner>();
  constructor(runtimes: readonly ScenarioRuntime[], runners: { uploads: IterationRunner; requests: IterationRunner; websockets: IterationRunner }) {
    for (const rt of runtimes) {
      this.byScenario.set(rt, rt.workload.websocket !== undefined ? runners.websockets : rt.workload.requests !== undefined ? runners.requests : runners.uploads);
    }
  }
  run(...args: Parameters<IterationRunner['run']>): Promise<void> {
    return (this.byScenario.get(args[0]) as IterationRunner).run(...args);
  }
  drop(rt: ScenarioRuntime, dueMs: number): void {
    (this.byScenario.get(rt) as IterationRunner).drop(rt, dueMs);
  }
}

export async function runLoad(scenario: Scenario, options: RunLoadOptions): Promise<LoadResult> {
  if (scenario.transport.type === 'drop-folder' && !options.dropDir) {
    throw new ConfigError(`${scenario.source}: transport: drop-folder is not supported without a drop directory; pass dropDir (--drop-dir) or use transport http`);
  }
  const runHeaders = options.headers ?? {};
  const extraHeaders = Object.entries(runHeaders).flat();
  const cameras = loadCameras(scenario, options.backendUrl, options.fixturesDir, extraHeaders);
  const runtimes = scenarioRuntimes(scenario);
  const store = new MetricStore('hdr');
  prepareStore(store, runtimes.map((r) => r.name));
  defineRunMetrics(store, scenario);
  const params = Object.keys(scenario.setupParams).length > 0 ? await setupData(scenario, options.backendUrl, runHeaders) : {};
  const thresholds = new ThresholdEvaluator(scenario.thresholds);
  thresholds.register(store);
  const metrics = new RequestMetrics(store, new TimeSeriesBuilder());
  const writer = options.results?.ndjsonWriter(options.recordsFile ?? 'requests.ndjson');
  const pool = new Http1Pool(new URL(options.backendUrl).origin, { keepAliveTimeoutMs: 30_000, connectTimeoutMs: 10_000 });

  const state = new RunState(options.clock ?? systemClock, scenario.limits.maxRequests);
  // how crowded the machine is during the load, for compare (stopped in the finally below)
  const runQueue = new RunQueueSampler();
  let runnablePerCpu: number | undefined;
  options.onStart?.(state.t0, state.wall0);
  for (const rt of runtimes) state.track(rt.scope);
  const random = seededRandom(scenario.seed ?? `${Date.now()}-${Math.random()}`);
  const uploads = new UploadIterations({ scenario, cameras, state, metrics, pool, random, writer, dropDir: options.dropDir });
  // uploads only (the hot path the benchmark measures): no routing step per iteration
  const onlyUploads = runtimes.every((rt) => rt.workload.requests === undefined && rt.workload.websocket === undefined);
  // each runner only when some k6 scenario needs it (its metrics are defined only then)
  const needs = (f: (w: ScenarioRuntime['workload']) => boolean) => runtimes.some((rt) => f(rt.workload));
  const iterations: IterationRunner = onlyUploads ? uploads : new RoutedIterations(runtimes, {
    uploads,
    requests: needs((w) => w.requests !== undefined)
      ? new RequestIterations({ scenario, state, metrics, store, pool, params, extraHeaders: runHeaders, basePath: new URL(options.backendUrl).pathname.replace(/\/+$/, ''), random })
      : uploads,
    websockets: needs((w) => w.websocket !== undefined) ? new WebSocketIterations({ scenario, state, store, metrics, backendUrl: options.backendUrl, apiKey: options.apiKey }) : uploads,
  });
  const monitor = new RunMonitor({
    name: scenario.name,
    state,
    runtimes,
    store,
    thresholds,
    lag: metrics.lag,
    maxDurationMs: scenario.limits.maxDurationMs,
    progressLine: options.progressLine ?? Boolean(process.stderr.isTTY),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const onUserAbort = () => state.stop('signal', true);
  if (options.signal?.aborted) onUserAbort();
  options.signal?.addEventListener('abort', onUserAbort, { once: true });
  monitor.start();
  try {
    await Promise.all(runtimes.map((rt) => runExecutor(state, rt, iterations)));
    // a stop (abort, bound) leaves in-flight requests of open scenarios: let them end or interrupt
    for (const rt of runtimes) if (rt.inFlight > 0) await rt.drain(state, state.now() + (state.abortReason === 'max-requests' ? rt.plan.gracefulStopMs : 0));
    // the test run ends with its last request: closing the idle connections below is teardown
    state.finish();
  } finally {
    monitor.stop();
    runnablePerCpu = runQueue.stop();
    options.signal?.removeEventListener('abort', onUserAbort);
    writer?.close();
    await pool.close();
  }
  monitor.finishLine();
  const result = buildResult(scenario, state, runtimes, store, thresholds, metrics);
  if (runnablePerCpu !== undefined) result.runnablePerCpu = round3(runnablePerCpu);
  options.results?.writeJson('load-result.json', result);
  return result;
}

function buildResult(scenario: Scenario, state: RunState, runtimes: readonly ScenarioRuntime[], store: MetricStore, thresholds: ThresholdEvaluator, metrics: RequestMetrics): LoadResult {
  const durationMs = state.durationMs();
  const evaluation = thresholds.evaluate(store, durationMs, { ignoreEmptySinks: false });
  const summary = store.summary(durationMs);
  const { lag } = metrics;
  const result: LoadResult = {
    schemaVersion: 1,
    driver: 'native',
    scenario: scenario.name,
    startedAt: new Date(state.wall0).toISOString(),
    durationMs: round3(durationMs),
    aborted: state.abortReason !== undefined,
    thresholdsPassed: evaluation.ok,
    exitCode: evaluation.ok && state.abortReason !== 'threshold' ? 0 : 99,
    metrics: summary,
    scenarios: Object.fromEntries(runtimes.map((r) => [r.name, scenarioMetrics(summary, r.name, r.workload.executor)])),
    thresholds: evaluation.verdicts,
    timeSeries: metrics.series.points(),
    sendLag:
      lag.count === 0
        ? null
        : { count: lag.count, avg: round3(lag.mean), p50: round3(lag.percentile(50)), p99: round3(lag.percentile(99)), max: round3(lag.max) },
    requests: state.counts,
  };
  if (state.abortReason !== undefined) result.abortReason = state.abortReason;
  return result;
}

export function describePlan(scenario: Scenario): string[] {
  return Object.entries(scenario.scenarios).map(([name, w]) => {
    const plan = planWorkload(name, w);
    const when = w.startTimeMs > 0 ? ` from ${formatDurationMs(w.startTimeMs)}` : '';
    return plan.kind === 'open'
      ? `${name}: ${w.executor}, ${plan.arrivals.length} iterations over ${formatDurationMs(plan.durationMs)}${when}, maxVUs ${plan.maxVUs}`
      : `${name}: ${w.executor}, up to ${plan.maxVUs} VUs for ${formatDurationMs(plan.durationMs)}${when}`;
  });
}
