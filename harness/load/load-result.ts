import { exactPercentile } from './histogram.ts';
import type { CounterValues, MetricStore, MetricSummary, RateValues, TrendValues } from './metrics.ts';
import type { ThresholdVerdict } from './thresholds.ts';

/**
 * THE result of a load run, whichever driver ran it (native or k6): k6's metric model
 * (metrics and `metric{tag:value}` submetrics with k6's summary values), per-scenario
 * metrics, a per-second time series for charts, threshold verdicts and, for the native
 * driver, the lag between intended and actual send times.
 */
export interface LoadResult {
  schemaVersion: 1;
  driver: 'native' | 'k6';
  /** the scenario definition's name */
  scenario: string;
  /** ISO time the load started */
  startedAt: string;
  /** test run duration in ms (k6's testRunDurationMs) */
  durationMs: number;
  aborted: boolean;
  abortReason?: AbortReason;
  thresholdsPassed: boolean;
  /** 0, or 99 when a threshold failed (k6's exit code meaning) */
  exitCode: 0 | 99;
  /** metric and submetric summaries by name (`http_req_duration{scenario:steady}`) */
  metrics: Record<string, MetricSummary>;
  /** the main metrics of each k6 scenario of the workload */
  scenarios: Record<string, ScenarioMetrics>;
  thresholds: ThresholdVerdict[];
  timeSeries: TimeSeriesPoint[];
  /** native driver only: actual - intended send time of open-model requests (ms) */
  sendLag: SendLagStats | null;
  /**
   * native driver, Linux: mean runnable tasks per CPU during the load (the run queue from
   * /proc/loadavg, harness/util/run-queue.ts). `compare` does not attribute a request-latency
   * change to the stack when the two runs' machines differ in it beyond the tolerance.
   */
  runnablePerCpu?: number;
  requests: RequestCounts;
}

export type AbortReason = 'threshold' | 'signal' | 'max-duration' | 'max-requests' | 'k6';

export interface ScenarioMetrics {
  executor?: string;
  http_reqs: CounterValues;
  http_req_duration: TrendValues;
  http_req_failed: RateValues;
  iterations: CounterValues;
  dropped_iterations: CounterValues;
}

export interface TimeSeriesPoint {
  /** second since the start (bucket [t, t+1)) */
  t: number;
  /** requests completed in that second */
  requests: number;
  errors: number;
  dropped: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface SendLagStats {
  count: number;
  avg: number;
  p50: number;
  p99: number;
  max: number;
}

/** Iterations by outcome: HTTP requests (uploads, request kinds) and WebSocket sessions alike. */
export interface RequestCounts {
  /** requests and WebSocket sessions started */
  sent: number;
  /** those that finished (requests counted in http_reqs, sessions in ws_sessions) */
  completed: number;
  /** stopped by the end of the run or an abort (not in http_reqs) */
  interrupted: number;
  dropped: number;
  accepted: number;
  failed: number;
}

/** One line of requests.ndjson. Times are ms since the load's start unless named epoch. */
export interface LoadRequestRecord {
  seq: number;
  scenario: string;
  vu: number;
  iteration: number;
  camera: string;
  fixture: string;
  transport: 'http' | 'drop-folder';
  /** epoch ms of the intended send time */
  intendedEpochMs: number;
  intendedMs: number;
  sentMs: number;
  endMs: number;
  /** end - intended (what the metrics count) */
  latencyMs: number;
  /** end - actual send */
  serviceMs: number;
  /** actual - intended send */
  lagMs: number;
  status: number;
  ok: boolean;
  traceId: string;
  spanId: string;
  sampled: boolean;
  uploadId?: string;
  filePath?: string;
  error?: string;
  interrupted?: boolean;
}

/** Per-second buckets of completed requests (exact values: one number per request). */
export class TimeSeriesBuilder {
  private readonly buckets: { requests: number; errors: number; dropped: number; latencies: number[] }[] = [];

  /** the current second's bucket, kept: most requests land in it */
  private lastIndex = -1;
  private last: { requests: number; errors: number; dropped: number; latencies: number[] } | undefined;

  private bucket(tMs: number) {
    const i = Math.max(0, Math.floor(tMs / 1000));
    if (i === this.lastIndex && this.last !== undefined) return this.last;
    while (this.buckets.length <= i) this.buckets.push({ requests: 0, errors: 0, dropped: 0, latencies: [] });
    this.lastIndex = i;
    this.last = this.buckets[i] as { requests: number; errors: number; dropped: number; latencies: number[] };
    return this.last;
  }

  record(tMs: number, latencyMs: number, failed: boolean): void {
    const b = this.bucket(tMs);
    b.requests++;
    if (failed) b.errors++;
    b.latencies.push(latencyMs);
  }

  drop(tMs: number): void {
    this.bucket(tMs).dropped++;
  }

  points(): TimeSeriesPoint[] {
    return this.buckets.map((b, t) => {
      const sorted = Float64Array.from(b.latencies).sort();
      return {
        t,
        requests: b.requests,
        errors: b.errors,
        dropped: b.dropped,
        p50: exactPercentile(sorted, 50),
        p95: exactPercentile(sorted, 95),
        p99: exactPercentile(sorted, 99),
      };
    });
  }
}

/** The per-scenario submetrics every run registers. */
export function scenarioSubmetrics(scenario: string): string[] {
  return ['http_reqs', 'http_req_duration', 'http_req_failed', 'iterations', 'dropped_iterations'].map((m) => `${m}{scenario:${scenario}}`);
}

const EMPTY_TREND: TrendValues = { avg: 0, min: 0, med: 0, max: 0, 'p(50)': 0, 'p(90)': 0, 'p(95)': 0, 'p(99)': 0, count: 0 };

/** Reads the per-scenario metrics out of a summary (missing ones are zero). */
export function scenarioMetrics(metrics: Record<string, MetricSummary>, scenario: string, executor?: string): ScenarioMetrics {
  const get = (name: string) => metrics[`${name}{scenario:${scenario}}`];
  const counter = (name: string): CounterValues => {
    const m = get(name);
    return m?.type === 'counter' ? m.values : { count: 0, rate: 0 };
  };
  const duration = get('http_req_duration');
  const failed = get('http_req_failed');
  const out: ScenarioMetrics = {
    http_reqs: counter('http_reqs'),
    http_req_duration: duration?.type === 'trend' ? duration.values : { ...EMPTY_TREND },
    http_req_failed: failed?.type === 'rate' ? failed.values : { rate: 0, passes: 0, fails: 0 },
    iterations: counter('iterations'),
    dropped_iterations: counter('dropped_iterations'),
  };
  if (executor !== undefined) out.executor = executor;
  return out;
}

/** Registers the built-in metrics, the default submetrics and each scenario's submetrics. */
export function prepareStore(store: MetricStore, scenarios: readonly string[]): void {
  store.defineBuiltins();
  store.submetric('http_req_duration{expected_response:true}');
  for (const s of scenarios) for (const m of scenarioSubmetrics(s)) store.submetric(m);
}

/**
 * The run's end-of-load line: uploads-only runs as `N sent, N accepted, N failed`; with
 * WebSocket subscribers, HTTP requests and sessions apart (`requests` counts both: 257 HTTP
 * requests and 9 sessions read as "266 sent, 266 accepted").
 */
export function loadDoneLine(r: Pick<LoadResult, 'requests' | 'metrics' | 'aborted' | 'abortReason'>): string {
  const aborted = r.aborted ? ` (aborted: ${r.abortReason})` : '';
  const count = (name: string) => {
    const m = r.metrics[name];
    return m?.type === 'counter' ? m.values.count : 0;
  };
  const sessions = count('ws_sessions');
  if (sessions === 0) return `load done: ${r.requests.sent} sent, ${r.requests.accepted} accepted, ${r.requests.failed} failed${aborted}`;
  return `load done: ${count('http_reqs')} HTTP requests and ${sessions} WebSocket sessions (${r.requests.sent} sent, ${r.requests.failed} failed)${aborted}`;
}
