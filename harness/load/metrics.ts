import { exactPercentile, Histogram } from './histogram.ts';

/**
 * k6's metric model, shared by the native driver and the k6 output converter: four metric
 * types with k6's sinks, submetrics selected by tags (`http_req_duration{scenario:steady}`),
 * and the summary values k6 reports for each type.
 */
export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend';
export type MetricContains = 'default' | 'time' | 'data';

export interface CounterValues {
  count: number;
  rate: number;
}
export interface GaugeValues {
  value: number;
  min: number;
  max: number;
}
export interface RateValues {
  rate: number;
  passes: number;
  fails: number;
}
/** k6's trend statistics plus p(50) and p(99) (k6 names the median `med`; both are here). */
export interface TrendValues {
  avg: number;
  min: number;
  med: number;
  max: number;
  'p(50)': number;
  'p(90)': number;
  'p(95)': number;
  'p(99)': number;
  count: number;
}

export type MetricSummary =
  | { type: 'counter'; contains: MetricContains; values: CounterValues }
  | { type: 'gauge'; contains: MetricContains; values: GaugeValues }
  | { type: 'rate'; contains: MetricContains; values: RateValues }
  | { type: 'trend'; contains: MetricContains; values: TrendValues; missingStats?: string[] };

/** The metrics both drivers produce, with k6's types. */
export const BUILTIN_METRICS: Readonly<Record<string, { type: MetricType; contains: MetricContains }>> = {
  http_reqs: { type: 'counter', contains: 'default' },
  http_req_duration: { type: 'trend', contains: 'time' },
  http_req_failed: { type: 'rate', contains: 'default' },
  iterations: { type: 'counter', contains: 'default' },
  iteration_duration: { type: 'trend', contains: 'time' },
  dropped_iterations: { type: 'counter', contains: 'default' },
  vus: { type: 'gauge', contains: 'default' },
  vus_max: { type: 'gauge', contains: 'default' },
};

/**
 * Every metric k6 itself emits (docs: "Built-in metrics"; k6 lib/metrics.go and the ws,
 * grpc and browser modules), with its type: what a threshold may name besides the scenario's
 * custom metrics, and the types the k6 output converter assumes when a file has no Metric line.
 */
export const K6_BUILTIN_METRICS: Readonly<Record<string, { type: MetricType; contains: MetricContains }>> = {
  ...BUILTIN_METRICS,
  checks: { type: 'rate', contains: 'default' },
  data_received: { type: 'counter', contains: 'data' },
  data_sent: { type: 'counter', contains: 'data' },
  group_duration: { type: 'trend', contains: 'time' },
  http_req_blocked: { type: 'trend', contains: 'time' },
  http_req_connecting: { type: 'trend', contains: 'time' },
  http_req_tls_handshaking: { type: 'trend', contains: 'time' },
  http_req_sending: { type: 'trend', contains: 'time' },
  http_req_waiting: { type: 'trend', contains: 'time' },
  http_req_receiving: { type: 'trend', contains: 'time' },
  ws_connecting: { type: 'trend', contains: 'time' },
  ws_msgs_received: { type: 'counter', contains: 'default' },
  ws_msgs_sent: { type: 'counter', contains: 'default' },
  ws_ping: { type: 'trend', contains: 'time' },
  ws_session_duration: { type: 'trend', contains: 'time' },
  ws_sessions: { type: 'counter', contains: 'default' },
  grpc_req_duration: { type: 'trend', contains: 'time' },
  grpc_streams: { type: 'counter', contains: 'default' },
  grpc_streams_msgs_received: { type: 'counter', contains: 'default' },
  grpc_streams_msgs_sent: { type: 'counter', contains: 'default' },
  browser_data_received: { type: 'counter', contains: 'data' },
  browser_data_sent: { type: 'counter', contains: 'data' },
  browser_http_req_duration: { type: 'trend', contains: 'time' },
  browser_http_req_failed: { type: 'rate', contains: 'default' },
  browser_web_vital_cls: { type: 'trend', contains: 'default' },
  browser_web_vital_fcp: { type: 'trend', contains: 'time' },
  browser_web_vital_fid: { type: 'trend', contains: 'time' },
  browser_web_vital_inp: { type: 'trend', contains: 'time' },
  browser_web_vital_lcp: { type: 'trend', contains: 'time' },
  browser_web_vital_ttfb: { type: 'trend', contains: 'time' },
};

/** Metrics hsi-chaos adds beside k6's (both drivers emit them). */
export const HARNESS_METRICS: Readonly<Record<string, { type: MetricType; contains: MetricContains }>> = {
  /** WebSocket subscribers: receive time minus the message's own timestamp */
  ws_event_latency: { type: 'trend', contains: 'time' },
};

/** A trend's storage: exact values (k6's own sink) or an HDR histogram. */
export interface TrendStore {
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  record(value: number): void;
  percentile(p: number): number;
  percentiles(ps: readonly number[]): number[];
}

/** Keeps every value, like k6's TrendSink: percentiles identical to k6's. */
export class ExactTrend implements TrendStore {
  private values = new Float64Array(1024);
  private sorted = true;
  count = 0;
  sum = 0;
  private lo = 0;
  private hi = 0;

  record(value: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    if (this.count === 0 || value < this.lo) this.lo = value;
    if (this.count === 0 || value > this.hi) this.hi = value;
    this.values[this.count++] = value;
    this.sum += value;
    this.sorted = false;
  }

  get min(): number {
    return this.count === 0 ? 0 : this.lo;
  }
  get max(): number {
    return this.count === 0 ? 0 : this.hi;
  }

  percentile(p: number): number {
    return this.percentiles([p])[0] ?? 0;
  }

  percentiles(ps: readonly number[]): number[] {
    const view = this.values.subarray(0, this.count);
    if (!this.sorted) {
      view.sort();
      this.sorted = true;
    }
    return ps.map((p) => exactPercentile(view, p));
  }
}

class HistogramTrend implements TrendStore {
  readonly h = new Histogram();
  get count(): number {
    return this.h.count;
  }
  get sum(): number {
    return this.h.sum;
  }
  get min(): number {
    return this.h.min;
  }
  get max(): number {
    return this.h.max;
  }
  record(value: number): void {
    this.h.record(value);
  }
  percentile(p: number): number {
    return this.h.percentile(p);
  }
  percentiles(ps: readonly number[]): number[] {
    return this.h.percentiles(ps);
  }
}

export type Sink =
  | { type: 'counter'; value: number; samples: number }
  | { type: 'gauge'; value: number; min: number; max: number; samples: number }
  | { type: 'rate'; trues: number; total: number }
  | { type: 'trend'; trend: TrendStore };

function newSink(type: MetricType, trendMode: 'exact' | 'hdr'): Sink {
  switch (type) {
    case 'counter':
      return { type, value: 0, samples: 0 };
    case 'gauge':
      return { type, value: 0, min: 0, max: 0, samples: 0 };
    case 'rate':
      return { type, trues: 0, total: 0 };
    case 'trend':
      return { type, trend: trendMode === 'exact' ? new ExactTrend() : new HistogramTrend() };
  }
}

export function addToSink(sink: Sink, value: number): void {
  switch (sink.type) {
    case 'counter':
      sink.value += value;
      sink.samples++;
      return;
    case 'gauge':
      sink.value = value;
      if (sink.samples === 0 || value > sink.max) sink.max = value;
      if (sink.samples === 0 || value < sink.min) sink.min = value;
      sink.samples++;
      return;
    case 'rate':
      sink.total++;
      if (value !== 0) sink.trues++;
      return;
    case 'trend':
      sink.trend.record(value);
      return;
  }
}

export function sinkIsEmpty(sink: Sink): boolean {
  switch (sink.type) {
    case 'counter':
    case 'gauge':
      return sink.samples === 0;
    case 'rate':
      return sink.total === 0;
    case 'trend':
      return sink.trend.count === 0;
  }
}

export type Tags = Readonly<Record<string, string | undefined>>;

/** `name{k:v,...}` as k6 parses it (metrics.ParseMetricName + Metric.AddSubmetric). */
export function parseMetricName(expression: string): { name: string; tags: Record<string, string> } {
  const open = expression.indexOf('{');
  const close = expression.lastIndexOf('}');
  if (open === -1 && close === -1) return { name: expression, tags: {} };
  if (open === -1 || close === -1) throw new Error(`metric "${expression}" has an unmatched curly brace`);
  if (close < open) throw new Error(`metric "${expression}": closing curly brace before the opening one`);
  if (close !== expression.length - 1) throw new Error(`metric "${expression}" lacks a closing curly brace in its last position`);
  const name = expression.slice(0, open);
  const tags: Record<string, string> = {};
  for (const part of expression.slice(open + 1, close).split(',')) {
    const cut = part.indexOf(':');
    const value = cut === -1 ? '' : part.slice(cut + 1);
    if (value.trim() === '') throw new Error(`metric "${expression}": tag expression "${part.trim()}" is malformed (use key:value)`);
    const key = part.slice(0, cut).trim().replace(/^["']+|["']+$/g, '');
    tags[key] = value.trim().replace(/^["']+|["']+$/g, '');
  }
  return { name, tags };
}

interface Submetric {
  key: string;
  tags: [string, string][];
  sink: Sink;
}

interface MetricEntry {
  name: string;
  type: MetricType;
  contains: MetricContains;
  sink: Sink;
  submetrics: Submetric[];
}

const DEFAULT_PERCENTILES = [50, 90, 95, 99];

/**
 * All metrics of one run: `add(name, value, tags)` feeds the metric and each submetric whose
 * tags all match, as k6's metrics engine does.
 */
export class MetricStore {
  private readonly metrics = new Map<string, MetricEntry>();
  private readonly byKey = new Map<string, Sink>();
  private readonly trendMode: 'exact' | 'hdr';

  constructor(trendMode: 'exact' | 'hdr' = 'hdr') {
    this.trendMode = trendMode;
  }

  define(name: string, type: MetricType, contains: MetricContains = 'default'): void {
    const existing = this.metrics.get(name);
    if (existing) {
      if (existing.type !== type) throw new Error(`metric ${name} is a ${existing.type}, not a ${type}`);
      return;
    }
    const entry: MetricEntry = { name, type, contains, sink: newSink(type, this.trendMode), submetrics: [] };
    this.metrics.set(name, entry);
    this.byKey.set(name, entry.sink);
  }

  defineBuiltins(): void {
    for (const [name, m] of Object.entries(BUILTIN_METRICS)) this.define(name, m.type, m.contains);
  }

  has(name: string): boolean {
    return this.metrics.has(name);
  }

  typeOf(name: string): MetricType | undefined {
    return this.metrics.get(name)?.type;
  }

  /** Registers `metric{tag:value,...}` (the parent must exist); returns its key. */
  submetric(expression: string): string {
    const { name, tags } = parseMetricName(expression);
    const entry = this.metrics.get(name);
    if (!entry) throw new Error(`no metric named "${name}"`);
    const pairs = Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (pairs.length === 0) return name;
    const key = `${name}{${pairs.map(([k, v]) => `${k}:${v}`).join(',')}}`;
    if (!this.byKey.has(key)) {
      const sub: Submetric = { key, tags: pairs, sink: newSink(entry.type, this.trendMode) };
      entry.submetrics.push(sub);
      this.byKey.set(key, sub.sink);
    }
    // the expression as written also finds it
    if (expression !== key) this.byKey.set(expression, this.byKey.get(key) as Sink);
    return key;
  }

  /**
   * A fast path to one metric: `handle(name)(value, tags)` skips the name lookup and, for a
   * tags object seen before (callers that reuse their tag objects), the submetric matching.
   * Register submetrics before taking handles.
   */
  handle(name: string): (value: number, tags: Tags) => void {
    const entry = this.metrics.get(name);
    if (!entry) throw new Error(`no metric named "${name}"`);
    const matches = new WeakMap<Tags, Sink[]>();
    return (value, tags) => {
      let sinks = matches.get(tags);
      if (!sinks) {
        sinks = [entry.sink, ...entry.submetrics.filter((sub) => sub.tags.every(([k, v]) => tags[k] === v)).map((sub) => sub.sink)];
        matches.set(tags, sinks);
      }
      for (const sink of sinks) addToSink(sink, value);
    };
  }

  /** The sinks one sample of `name` with these tags feeds: the metric's and each matching submetric's. */
  sinksFor(name: string, tags: Tags): Sink[] {
    const entry = this.metrics.get(name);
    if (!entry) throw new Error(`no metric named "${name}"`);
    return [entry.sink, ...entry.submetrics.filter((sub) => sub.tags.every(([k, v]) => tags[k] === v)).map((sub) => sub.sink)];
  }

  add(name: string, value: number, tags: Tags = {}): void {
    const entry = this.metrics.get(name);
    if (entry) this.addTo(entry, value, tags);
  }

  private addTo(entry: MetricEntry, value: number, tags: Tags): void {
    addToSink(entry.sink, value);
    for (const sub of entry.submetrics) {
      let match = true;
      for (const [k, v] of sub.tags) {
        if (tags[k] !== v) {
          match = false;
          break;
        }
      }
      if (match) addToSink(sub.sink, value);
    }
  }

  sink(nameOrExpression: string): Sink | undefined {
    const direct = this.byKey.get(nameOrExpression);
    if (direct) return direct;
    try {
      const key = this.submetricKey(nameOrExpression);
      return key === undefined ? undefined : this.byKey.get(key);
    } catch {
      return undefined;
    }
  }

  private submetricKey(expression: string): string | undefined {
    const { name, tags } = parseMetricName(expression);
    const pairs = Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return pairs.length === 0 ? name : `${name}{${pairs.map(([k, v]) => `${k}:${v}`).join(',')}}`;
  }

  /** Metric and submetric keys, metrics first in definition order. */
  keys(): string[] {
    const out: string[] = [];
    for (const entry of this.metrics.values()) {
      out.push(entry.name);
      for (const sub of entry.submetrics) out.push(sub.key);
    }
    return out;
  }

  /** k6-style summary of every metric and submetric; `elapsedMs` is the test run duration. */
  summary(elapsedMs: number, options: { skipEmpty?: boolean } = {}): Record<string, MetricSummary> {
    const out: Record<string, MetricSummary> = {};
    for (const entry of this.metrics.values()) {
      const all: [string, Sink][] = [[entry.name, entry.sink], ...entry.submetrics.map((s): [string, Sink] => [s.key, s.sink])];
      for (const [key, sink] of all) {
        if (options.skipEmpty && sinkIsEmpty(sink)) continue;
        out[key] = summarizeSink(sink, entry.contains, elapsedMs);
      }
    }
    return out;
  }
}

export function summarizeSink(sink: Sink, contains: MetricContains, elapsedMs: number): MetricSummary {
  switch (sink.type) {
    case 'counter':
      return { type: 'counter', contains, values: { count: sink.value, rate: elapsedMs > 0 ? sink.value / (elapsedMs / 1000) : 0 } };
    case 'gauge':
      return { type: 'gauge', contains, values: { value: sink.value, min: sink.min, max: sink.max } };
    case 'rate':
      return {
        type: 'rate',
        contains,
        values: { rate: sink.total > 0 ? sink.trues / sink.total : 0, passes: sink.trues, fails: sink.total - sink.trues },
      };
    case 'trend':
      return { type: 'trend', contains, values: trendValues(sink.trend) };
  }
}

export function trendValues(t: TrendStore): TrendValues {
  const [p50, p90, p95, p99] = t.percentiles(DEFAULT_PERCENTILES);
  return {
    avg: t.count === 0 ? 0 : t.sum / t.count,
    min: t.min,
    med: p50 ?? 0,
    max: t.max,
    'p(50)': p50 ?? 0,
    'p(90)': p90 ?? 0,
    'p(95)': p95 ?? 0,
    'p(99)': p99 ?? 0,
    count: t.count,
  };
}

/** The per-request timing split the native driver records (RequestTiming, in TimingSinks order). */
export const TIMING_METRICS = [
  'http_req_blocked',
  'http_req_connecting',
  'http_req_tls_handshaking',
  'http_req_sending',
  'http_req_waiting',
  'http_req_receiving',
  'data_sent',
  'data_received',
] as const;

/** What a run has that makes the native driver feed a metric. */
export interface RunFeatures {
  /** some scenario sends HTTP requests: uploads over the http transport, or request kinds */
  http: boolean;
  /** some request kind the workload sends declares checks */
  checks: boolean;
  /** some scenario opens WebSocket subscribers */
  websockets: boolean;
}
export type RecordedWhen = 'always' | keyof RunFeatures;

/**
 * THE list of the k6 built-in metrics (and the harness's own) the native driver records, each
 * with what the run needs for it to get samples. The driver defines exactly these
 * (`recordedMetrics`), scenario validation refuses a threshold on a k6 built-in outside the list or
 * whose condition the run lacks (it would be evaluated on zero samples), and
 * test/unit/load/recorded-metrics.test.ts runs the driver to prove the list both ways: each listed
 * metric gets samples, no other built-in appears.
 */
export const RECORDED_METRICS: Readonly<Record<string, RecordedWhen>> = {
  iterations: 'always',
  iteration_duration: 'always',
  dropped_iterations: 'always',
  vus: 'always',
  vus_max: 'always',
  http_reqs: 'http',
  http_req_duration: 'http',
  http_req_failed: 'http',
  ...Object.fromEntries(TIMING_METRICS.map((name) => [name, 'http'])),
  checks: 'checks',
  ws_sessions: 'websockets',
  ws_connecting: 'websockets',
  ws_msgs_received: 'websockets',
  ws_session_duration: 'websockets',
  ws_event_latency: 'websockets',
};

/** Why a k6 built-in outside RECORDED_METRICS never gets a sample here (first match). */
const NEVER_RECORDED: readonly [RegExp, string][] = [
  [/^group_duration$/, 'hsi-chaos scenarios have no group() blocks'],
  [/^grpc_/, 'no gRPC requests'],
  [/^browser_/, 'no browser sessions'],
  [/^ws_(msgs_sent|ping)$/, 'WebSocket subscribers only receive: they send no messages and no pings'],
];
const MISSING_FEATURE: Readonly<Record<keyof RunFeatures, string>> = {
  http: 'no scenario sends HTTP requests',
  checks: 'no request kind of the workload declares checks',
  websockets: 'no scenario opens WebSocket subscribers',
};

/**
 * Why a k6 built-in or harness metric gets no sample in a run with these features, in a few
 * words; undefined when the native driver records it (or the name is not a built-in).
 */
export function unrecordedReason(name: string, features: RunFeatures): string | undefined {
  const when = RECORDED_METRICS[name];
  if (when === undefined) {
    if (!(name in K6_BUILTIN_METRICS) && !(name in HARNESS_METRICS)) return undefined;
    return NEVER_RECORDED.find(([pattern]) => pattern.test(name))?.[1] ?? 'the native driver does not record it';
  }
  return when === 'always' || features[when] ? undefined : MISSING_FEATURE[when];
}

/** The built-in metrics the native driver records in a run with these features, with their types. */
export function recordedMetrics(features: RunFeatures): [string, { type: MetricType; contains: MetricContains }][] {
  return Object.keys(RECORDED_METRICS)
    .filter((name) => unrecordedReason(name, features) === undefined)
    .map((name) => [name, K6_BUILTIN_METRICS[name] ?? HARNESS_METRICS[name] ?? { type: 'trend', contains: 'default' }]);
}
