import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { AbortReason, LoadRequestRecord, LoadResult } from '../load-result.ts';
import { prepareStore, scenarioMetrics, TimeSeriesBuilder } from '../load-result.ts';
import {
  K6_BUILTIN_METRICS,
  type MetricContains,
  type MetricSummary,
  MetricStore,
  type MetricType,
  parseMetricName,
  type TrendValues,
} from '../metrics.ts';
import { parseDurationMs } from '../../util/duration.ts';
import { SCENARIO_SUMMARY_METRICS } from './render-k6.ts';
import { aggregationKey, parseThresholdExpression, sinkValues, type ThresholdSpec, ThresholdEvaluator, type ThresholdVerdict } from '../thresholds.ts';

/**
 * Converts k6's outputs into THE LoadResult:
 * - `--out json` NDJSON: `{"type":"Metric","data":{name,type,contains,thresholds,submetrics},"metric":...}`
 *   once per metric and `{"type":"Point","data":{time,value,tags,metadata},"metric":...}` per sample
 *   (k6 internal/output/json/wrapper.go). Points feed a MetricStore with exact trends, so the
 *   summary values equal k6's own (same sinks, same percentile definition).
 * - the end-of-test summary: `--summary-export` (legacy: `metrics.<name>.{avg,...,thresholds:{expr: failed}}`,
 *   rate metrics with `value`) or handleSummary data (`metrics.<name>.{type,contains,values,
 *   thresholds.<expr>.ok}`, `state.testRunDurationMs`). k6's own threshold verdicts come from here.
 */

const METRIC_TYPES = new Set<MetricType>(['counter', 'gauge', 'rate', 'trend']);
const CONTAINS = new Set<MetricContains>(['default', 'time', 'data']);

export interface K6SummaryMetric {
  type?: MetricType;
  contains?: MetricContains;
  values: Record<string, number>;
  /** expression -> passed */
  thresholds: Record<string, boolean>;
}

export interface K6Summary {
  metrics: Record<string, K6SummaryMetric>;
  testRunDurationMs?: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * k6 v2's machine-readable summary (schema 1.0.0, grafana/k6 internal/lib/summary/machinereadable:
 * `{version, config: {duration (s), execution}, metadata, results: {checks, metrics: [{name,
 * type, contains, values}]}}`): metrics as a list, rate values `{matches, total, rate}`, no
 * threshold verdicts (k6's exit code 99 still says whether thresholds failed).
 */
function parseMachineReadable(json: Record<string, unknown>): K6Summary | undefined {
  const results = json['results'];
  if (typeof json['version'] !== 'string' || !isRecord(results) || !Array.isArray(results['metrics'])) return undefined;
  const metrics: Record<string, K6SummaryMetric> = {};
  for (const raw of results['metrics']) {
    if (!isRecord(raw) || typeof raw['name'] !== 'string') continue;
    const m: K6SummaryMetric = { values: {}, thresholds: {} };
    if (typeof raw['type'] === 'string' && METRIC_TYPES.has(raw['type'] as MetricType)) m.type = raw['type'] as MetricType;
    if (typeof raw['contains'] === 'string' && CONTAINS.has(raw['contains'] as MetricContains)) m.contains = raw['contains'] as MetricContains;
    if (isRecord(raw['values'])) for (const [k, v] of Object.entries(raw['values'])) if (typeof v === 'number') m.values[k] = v;
    if (m.type === 'rate' && m.values['matches'] !== undefined && m.values['total'] !== undefined) {
      m.values['passes'] = m.values['matches'];
      m.values['fails'] = m.values['total'] - m.values['matches'];
    }
    metrics[raw['name']] = m;
  }
  const out: K6Summary = { metrics };
  const config = json['config'];
  if (isRecord(config) && typeof config['duration'] === 'number') out.testRunDurationMs = config['duration'] * 1000;
  return out;
}

/** Reads any of the summary formats into one shape. Throws on something that is none. */
export function parseK6Summary(json: unknown): K6Summary {
  const machineReadable = isRecord(json) ? parseMachineReadable(json) : undefined;
  if (machineReadable) return machineReadable;
  if (!isRecord(json) || !isRecord(json['metrics'])) throw new Error('not a k6 summary: no "metrics" object');
  const metrics: Record<string, K6SummaryMetric> = {};
  for (const [name, raw] of Object.entries(json['metrics'])) {
    if (!isRecord(raw)) continue;
    const m: K6SummaryMetric = { values: {}, thresholds: {} };
    const type = raw['type'];
    if (typeof type === 'string' && METRIC_TYPES.has(type as MetricType)) m.type = type as MetricType;
    const contains = raw['contains'];
    if (typeof contains === 'string' && CONTAINS.has(contains as MetricContains)) m.contains = contains as MetricContains;
    const newFormat = isRecord(raw['values']);
    const values = newFormat ? (raw['values'] as Record<string, unknown>) : raw;
    for (const [k, v] of Object.entries(values)) if (typeof v === 'number') m.values[k] = v;
    const thresholds = raw['thresholds'];
    if (isRecord(thresholds)) {
      for (const [expr, t] of Object.entries(thresholds)) {
        if (typeof t === 'boolean') m.thresholds[expr] = !t; // legacy: true = failed
        else if (isRecord(t) && typeof t['ok'] === 'boolean') m.thresholds[expr] = t['ok'];
      }
    }
    if (!newFormat) {
      // legacy --summary-export: guess the type from the keys; rate metrics carry `value`
      if (m.type === undefined) {
        if ('passes' in m.values && 'fails' in m.values) m.type = 'rate';
        else if ('count' in m.values && 'rate' in m.values && !('avg' in m.values)) m.type = 'counter';
        else if ('avg' in m.values || 'med' in m.values) m.type = 'trend';
        else if ('value' in m.values) m.type = 'gauge';
      }
      if (m.type === 'rate' && 'value' in m.values && !('rate' in m.values)) m.values['rate'] = m.values['value'] as number;
    }
    metrics[name] = m;
  }
  const out: K6Summary = { metrics };
  const state = json['state'];
  if (isRecord(state) && typeof state['testRunDurationMs'] === 'number') out.testRunDurationMs = state['testRunDurationMs'];
  else {
    // legacy export has no state: a counter's count / rate gives the duration
    for (const m of Object.values(metrics)) {
      const count = m.values['count'];
      const rate = m.values['rate'];
      if (m.type === 'counter' && count !== undefined && rate !== undefined && rate > 0) {
        out.testRunDurationMs = (count / rate) * 1000;
        break;
      }
    }
  }
  return out;
}

interface MetricDecl {
  type: MetricType;
  contains: MetricContains;
  thresholds: ThresholdSpec[];
}

interface PendingRecord {
  seq: number;
  time: number;
  durationMs: number;
  scenario: string;
  camera: string;
  status: number;
  ok?: boolean;
  traceId: string;
  sampled: boolean;
  error?: string;
  spanId?: string;
  uploadId?: string;
  filePath?: string;
  fixture?: string;
}

function parseThresholdList(list: unknown): ThresholdSpec[] {
  if (!Array.isArray(list)) return [];
  const out: ThresholdSpec[] = [];
  for (const t of list) {
    if (typeof t === 'string') out.push({ threshold: t, abortOnFail: false });
    else if (isRecord(t) && typeof t['threshold'] === 'string') {
      const spec: ThresholdSpec = { threshold: t['threshold'], abortOnFail: t['abortOnFail'] === true };
      // kept: k6 writes it as a duration string ("10s") or ms
      const delay = t['delayAbortEval'];
      const ms = typeof delay === 'string' || typeof delay === 'number' ? parseDurationMs(delay) : undefined;
      if (ms !== undefined) spec.delayAbortEvalMs = ms;
      out.push(spec);
    }
  }
  return out;
}

/** Accumulates `--out json` lines (in order) into metrics, a time series and request records. */
export class K6JsonOutputReader {
  readonly store = new MetricStore('exact');
  readonly declared = new Map<string, MetricDecl>();
  private readonly series = new TimeSeriesBuilder();
  private readonly scenarios = new Set<string>();
  private readonly byTrace = new Map<string, PendingRecord>();
  private readonly records: PendingRecord[] = [];
  private firstMs = Number.POSITIVE_INFINITY;
  private lastMs = Number.NEGATIVE_INFINITY;
  private pendingSeries: { time: number; duration: number; failed?: boolean; traceId?: string }[] = [];
  lines = 0;
  points = 0;
  badLines = 0;

  /**
   * `submetrics`: expressions to fill from the first point on (the scenario's threshold
   * metrics: the JSON output names sub-metric thresholds under their parent only).
   * `metricTypes`: types of metrics that may come without a Metric line (custom metrics).
   */
  constructor(scenarioNames: readonly string[] = [], submetrics: readonly string[] = [], metricTypes: Readonly<Record<string, { type: MetricType; contains: MetricContains }>> = {}) {
    prepareStore(this.store, scenarioNames);
    for (const s of scenarioNames) this.scenarios.add(s);
    this.metricTypes = { ...K6_BUILTIN_METRICS, ...metricTypes };
    for (const expression of submetrics) {
      const { name } = safeParseName(expression);
      const known = this.metricTypes[name];
      if (known && !this.store.has(name)) this.store.define(name, known.type, known.contains);
      if (expression.includes('{')) this.trySubmetric(expression);
    }
  }

  private readonly metricTypes: Readonly<Record<string, { type: MetricType; contains: MetricContains }>>;

  addLine(line: string): void {
    const text = line.trim();
    if (text === '') return;
    this.lines++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.badLines++;
      return;
    }
    if (!isRecord(parsed) || !isRecord(parsed['data'])) {
      this.badLines++;
      return;
    }
    const data = parsed['data'];
    const metric = typeof parsed['metric'] === 'string' ? parsed['metric'] : typeof data['name'] === 'string' ? data['name'] : undefined;
    if (metric === undefined) {
      this.badLines++;
      return;
    }
    if (parsed['type'] === 'Metric') this.addMetric(metric, data);
    else if (parsed['type'] === 'Point') this.addPoint(metric, data);
    else this.badLines++;
  }

  private addMetric(name: string, data: Record<string, unknown>): void {
    const type = data['type'];
    if (typeof type !== 'string' || !METRIC_TYPES.has(type as MetricType)) {
      this.badLines++;
      return;
    }
    const contains = typeof data['contains'] === 'string' && CONTAINS.has(data['contains'] as MetricContains) ? (data['contains'] as MetricContains) : 'default';
    const decl: MetricDecl = { type: type as MetricType, contains, thresholds: parseThresholdList(data['thresholds']) };
    this.declared.set(name, decl);
    try {
      this.store.define(name, decl.type, decl.contains);
    } catch {
      this.badLines++;
      return;
    }
    const subs = data['submetrics'];
    if (Array.isArray(subs)) {
      for (const sub of subs) if (isRecord(sub) && typeof sub['name'] === 'string') this.trySubmetric(sub['name']);
    }
  }

  /** Registers a submetric before its first sample (k6 writes the Metric line first). */
  trySubmetric(expression: string): void {
    try {
      this.store.submetric(expression);
    } catch {
      // a submetric of a metric that never appears: nothing to fill
    }
  }

  private addPoint(name: string, data: Record<string, unknown>): void {
    const value = data['value'];
    const timeText = data['time'];
    if (typeof value !== 'number' || typeof timeText !== 'string') {
      this.badLines++;
      return;
    }
    const time = Date.parse(timeText);
    if (!Number.isFinite(time)) {
      this.badLines++;
      return;
    }
    this.points++;
    const tags: Record<string, string> = {};
    if (isRecord(data['tags'])) for (const [k, v] of Object.entries(data['tags'])) if (typeof v === 'string') tags[k] = v;
    const metadata: Record<string, string> = {};
    if (isRecord(data['metadata'])) for (const [k, v] of Object.entries(data['metadata'])) if (typeof v === 'string') metadata[k] = v;
    const scenario = tags['scenario'];
    if (scenario !== undefined && !this.scenarios.has(scenario)) {
      this.scenarios.add(scenario);
      for (const m of ['http_reqs', 'http_req_duration', 'http_req_failed', 'iterations', 'dropped_iterations']) this.trySubmetric(`${m}{scenario:${scenario}}`);
    }
    if (!this.store.has(name)) {
      const builtin = this.metricTypes[name];
      this.store.define(name, builtin?.type ?? 'trend', builtin?.contains ?? 'default');
    }
    this.store.add(name, value, tags);
    const start = name === 'http_req_duration' ? time - value : time;
    if (start < this.firstMs) this.firstMs = start;
    if (time > this.lastMs) this.lastMs = time;

    const traceId = metadata['trace_id'];
    if (name === 'http_req_duration') {
      const rec: PendingRecord = {
        seq: this.records.length + 1,
        time,
        durationMs: value,
        scenario: scenario ?? 'default',
        camera: tags['camera'] ?? '',
        status: Number(tags['status'] ?? 0),
        traceId: traceId ?? '',
        sampled: metadata['trace_sampled'] === 'true',
      };
      if (tags['expected_response'] !== undefined) rec.ok = tags['expected_response'] === 'true';
      if (tags['error'] !== undefined) rec.error = tags['error'];
      this.records.push(rec);
      if (traceId) this.byTrace.set(traceId, rec);
      this.pendingSeries.push({ time, duration: value, ...(rec.ok !== undefined ? { failed: !rec.ok } : {}), ...(traceId ? { traceId } : {}) });
    } else if (name === 'http_req_failed' && traceId) {
      const rec = this.byTrace.get(traceId);
      if (rec) rec.ok = value === 0;
    } else if (name === 'hsi_uploads' && traceId) {
      const rec = this.byTrace.get(traceId);
      if (rec) {
        if (metadata['upload_id']) rec.uploadId = metadata['upload_id'];
        if (metadata['file_path']) rec.filePath = metadata['file_path'];
        if (metadata['span_id']) rec.spanId = metadata['span_id'];
        if (tags['fixture']) rec.fixture = tags['fixture'];
      }
    } else if (name === 'dropped_iterations') {
      this.pendingSeries.push({ time, duration: -1 });
    }
  }

  /** ms from the first request's start to the last sample */
  get spanMs(): number {
    return this.points === 0 ? 0 : Math.max(0, this.lastMs - this.firstMs);
  }

  get startEpochMs(): number | undefined {
    return this.points === 0 ? undefined : this.firstMs;
  }

  /** Declared thresholds (from the Metric lines). */
  declaredThresholds(): Record<string, ThresholdSpec[]> {
    const out: Record<string, ThresholdSpec[]> = {};
    for (const [name, decl] of this.declared) if (decl.thresholds.length > 0) out[name] = decl.thresholds;
    return out;
  }

  scenarioNames(): string[] {
    return [...this.scenarios];
  }

  timeSeries() {
    for (const p of this.pendingSeries) {
      const t = p.time - this.firstMs;
      if (p.duration < 0) this.series.drop(t);
      else {
        const failed = p.traceId ? this.byTrace.get(p.traceId)?.ok === false : p.failed === true;
        this.series.record(t, p.duration, failed);
      }
    }
    this.pendingSeries = [];
    return this.series.points();
  }

  requestRecords(): LoadRequestRecord[] {
    return this.records.map((r) => {
      const endMs = r.time - this.firstMs;
      const startMs = endMs - r.durationMs;
      const ok = r.ok ?? (r.status >= 200 && r.status < 400);
      const rec: LoadRequestRecord = {
        seq: r.seq,
        scenario: r.scenario,
        vu: -1,
        iteration: -1,
        camera: r.camera,
        fixture: r.fixture ?? '',
        transport: 'http',
        intendedEpochMs: r.time - r.durationMs,
        intendedMs: startMs,
        sentMs: startMs,
        endMs,
        latencyMs: r.durationMs,
        serviceMs: r.durationMs,
        lagMs: 0,
        status: r.status,
        ok,
        traceId: r.traceId,
        spanId: r.spanId ?? '',
        sampled: r.sampled,
      };
      if (r.uploadId !== undefined) rec.uploadId = r.uploadId;
      if (r.filePath !== undefined) rec.filePath = r.filePath;
      if (r.error !== undefined) rec.error = r.error;
      return rec;
    });
  }
}

/** Reads an NDJSON file line by line into a reader. */
export async function readK6JsonFile(path: string, reader = new K6JsonOutputReader()): Promise<K6JsonOutputReader> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) reader.addLine(line);
  return reader;
}

const TREND_STATS = ['avg', 'min', 'med', 'max', 'p(50)', 'p(90)', 'p(95)', 'p(99)', 'count'] as const;

/**
 * A summary trend's values. A stat the summary did not print (its summaryTrendStats left it
 * out, e.g. p(99) and count by default) is absent from `values` and named in `missingStats`,
 * never null or NaN (JSON would turn NaN into null).
 */
function trendFromSummary(values: Record<string, number>): { values: TrendValues; missingStats: string[] } {
  const out: Record<string, number> = {};
  const missing: string[] = [];
  for (const stat of TREND_STATS) {
    const v = stat === 'med' ? (values['med'] ?? values['p(50)']) : stat === 'p(50)' ? (values['p(50)'] ?? values['med']) : values[stat];
    if (v === undefined || Number.isNaN(v)) missing.push(stat);
    else out[stat] = v;
  }
  // the keys in missingStats are absent: consumers read them as optional
  return { values: out as unknown as TrendValues, missingStats: missing };
}

/** A summary metric as a MetricSummary (values k6 did not report are NaN). */
export function summaryMetric(m: K6SummaryMetric): MetricSummary | undefined {
  const contains = m.contains ?? 'default';
  const v = m.values;
  switch (m.type) {
    case 'counter':
      return { type: 'counter', contains, values: { count: v['count'] ?? 0, rate: v['rate'] ?? 0 } };
    case 'gauge':
      return { type: 'gauge', contains, values: { value: v['value'] ?? 0, min: v['min'] ?? v['value'] ?? 0, max: v['max'] ?? v['value'] ?? 0 } };
    case 'rate':
      return { type: 'rate', contains, values: { rate: v['rate'] ?? 0, passes: v['passes'] ?? 0, fails: v['fails'] ?? 0 } };
    case 'trend': {
      const t = trendFromSummary(v);
      return t.missingStats.length > 0 ? { type: 'trend', contains, values: t.values, missingStats: t.missingStats } : { type: 'trend', contains, values: t.values };
    }
    default:
      return undefined;
  }
}

export interface K6ConversionInput {
  /** the scenario definition's name */
  scenario: string;
  /** k6 scenario names -> executor */
  executors?: Record<string, string>;
  /** `--out json` lines, already read */
  points?: K6JsonOutputReader;
  summary?: K6Summary;
  /** k6's exit code */
  exitCode?: number;
  abortReason?: AbortReason;
  startedAt?: string;
  /**
   * The scenario's own thresholds (with abortOnFail and delayAbortEval). The JSON output's
   * Metric lines carry sub-metric thresholds under the parent metric only, so these are what
   * is evaluated on the points when there is no summary, and where abortOnFail and
   * delayAbortEval are read from when there is one.
   */
  thresholds?: Record<string, ThresholdSpec[]>;
}

/**
 * Builds the LoadResult from k6's outputs. Metrics come from the points when there are any
 * (exact, every submetric), else from the summary; threshold verdicts are k6's own (summary)
 * when present, else evaluated here with k6's semantics on the points.
 */
export function k6ToLoadResult(input: K6ConversionInput): LoadResult {
  const reader = input.points;
  const summary = input.summary;
  const durationMs = summary?.testRunDurationMs ?? reader?.spanMs ?? 0;
  const metrics = k6Metrics(reader, summary, durationMs);
  let verdicts: ThresholdVerdict[] = [];
  if (summary && Object.values(summary.metrics).some((m) => Object.keys(m.thresholds).length > 0)) verdicts = summaryVerdicts(input, summary, durationMs);
  else if (reader) verdicts = pointVerdicts(input, reader, durationMs);

  // k6's exit code 99 is its own verdict, whatever the files say
  const thresholdsPassed = verdicts.every((v) => v.ok) && input.exitCode !== 99;
  const scenarioNames = k6ScenarioNames(input, metrics);
  const result: LoadResult = {
    schemaVersion: 1,
    driver: 'k6',
    scenario: input.scenario,
    startedAt: input.startedAt ?? new Date(reader?.startEpochMs ?? Date.now()).toISOString(),
    durationMs,
    aborted: input.abortReason !== undefined,
    thresholdsPassed,
    exitCode: input.exitCode === 99 || !thresholdsPassed ? 99 : 0,
    metrics,
    scenarios: Object.fromEntries([...scenarioNames].map((s) => [s, scenarioMetrics(onlyScenario(metrics, scenarioNames, s), s, input.executors?.[s])])),
    thresholds: verdicts,
    timeSeries: reader ? reader.timeSeries() : [],
    sendLag: null,
    requests: k6RequestCounts(reader, metrics),
  };
  if (input.abortReason !== undefined) result.abortReason = input.abortReason;
  return result;
}

/** Metrics from the points when there are any (exact, every submetric), else from the summary. */
function k6Metrics(reader: K6JsonOutputReader | undefined, summary: K6Summary | undefined, durationMs: number): Record<string, MetricSummary> {
  const metrics: Record<string, MetricSummary> = reader && reader.points > 0 ? reader.store.summary(durationMs, { skipEmpty: false }) : {};
  // with points, the metrics only the summary knows (e.g. submetrics without Metric lines); without, all of them
  for (const [name, m] of Object.entries(summary?.metrics ?? {})) {
    if (metrics[name] === undefined) {
      const s = summaryMetric(m);
      if (s) metrics[name] = s;
    }
  }
  return metrics;
}

/** k6's own threshold verdicts (the summary), with the scenario's abortOnFail / delayAbortEval and the observed value. */
function summaryVerdicts(input: K6ConversionInput, summary: K6Summary, durationMs: number): ThresholdVerdict[] {
  const reader = input.points;
  const declared = reader?.declaredThresholds() ?? {};
  const verdicts: ThresholdVerdict[] = [];
  for (const [metric, m] of Object.entries(summary.metrics)) {
    for (const [threshold, ok] of Object.entries(m.thresholds)) {
      // only the scenario's own thresholds (not the always-true ones render-k6 adds for the summary)
      if (input.thresholds && !input.thresholds[metric]?.some((t) => t.threshold === threshold) && isSummaryOnlyThreshold(metric, threshold)) continue;
      const spec = (input.thresholds?.[metric] ?? declared[metric])?.find((t) => t.threshold === threshold);
      const verdict: ThresholdVerdict = { metric, threshold, ok, abortOnFail: spec?.abortOnFail ?? false };
      if (spec?.delayAbortEvalMs !== undefined) verdict.delayAbortEvalMs = spec.delayAbortEvalMs;
      const value = observedValue(reader, summary, metric, threshold, durationMs);
      if (value !== undefined) verdict.value = value;
      verdicts.push(verdict);
    }
  }
  return verdicts;
}

/** Without a summary: the thresholds evaluated here, with k6's semantics, on the points (unparsable ones left out). */
function pointVerdicts(input: K6ConversionInput, reader: K6JsonOutputReader, durationMs: number): ThresholdVerdict[] {
  const declared = input.thresholds ?? reader.declaredThresholds();
  for (const metric of Object.keys(declared)) if (metric.includes('{')) reader.trySubmetric(metric);
  const valid: Record<string, ThresholdSpec[]> = {};
  for (const [metric, specs] of Object.entries(declared)) {
    const ok = specs.filter((s) => {
      try {
        parseThresholdExpression(s.threshold);
        return true;
      } catch {
        return false;
      }
    });
    if (ok.length > 0) valid[metric] = ok;
  }
  return new ThresholdEvaluator(valid).evaluate(reader.store, durationMs, { ignoreEmptySinks: false }).verdicts;
}

function k6ScenarioNames(input: K6ConversionInput, metrics: Record<string, MetricSummary>): Set<string> {
  const scenarioNames = new Set<string>([...Object.keys(input.executors ?? {}), ...(input.points?.scenarioNames() ?? [])]);
  for (const key of Object.keys(metrics)) {
    const { tags } = safeParseName(key);
    if (tags['scenario'] !== undefined) scenarioNames.add(tags['scenario']);
  }
  return scenarioNames;
}

function k6RequestCounts(reader: K6JsonOutputReader | undefined, metrics: Record<string, MetricSummary>): LoadResult['requests'] {
  const failedReqs = metrics['http_req_failed'];
  const reqs = metrics['http_reqs'];
  const dropped = metrics['dropped_iterations'];
  // with points, requests are the http_req_duration points (one per finished request): a file
  // cut mid-request (k6 killed) leaves an http_reqs point without its duration, not a request
  const records = reader && reader.points > 0 ? reader.requestRecords() : undefined;
  const completed = records ? records.length : reqs?.type === 'counter' ? reqs.values.count : 0;
  const failed = records ? records.filter((r) => !r.ok).length : failedReqs?.type === 'rate' ? failedReqs.values.passes : 0;
  return { sent: completed, completed, interrupted: 0, dropped: dropped?.type === 'counter' ? dropped.values.count : 0, accepted: completed - failed, failed };
}

/**
 * A summary alone has per-scenario values only for sub-metrics someone asked for (a threshold
 * on `http_reqs{scenario:x}`): with one scenario, the whole-run metrics are that scenario's.
 */
function onlyScenario(metrics: Record<string, MetricSummary>, names: ReadonlySet<string>, scenario: string): Record<string, MetricSummary> {
  if (names.size !== 1) return metrics;
  const out = { ...metrics };
  for (const m of ['http_reqs', 'http_req_duration', 'http_req_failed', 'iterations', 'dropped_iterations']) {
    const whole = metrics[m];
    if (out[`${m}{scenario:${scenario}}`] === undefined && whole) out[`${m}{scenario:${scenario}}`] = whole;
  }
  return out;
}

/** one of the always-true thresholds render-k6 adds so the summary carries per-scenario values */
function isSummaryOnlyThreshold(metric: string, threshold: string): boolean {
  const { name, tags } = safeParseName(metric);
  return Object.keys(tags).length === 1 && tags['scenario'] !== undefined && SCENARIO_SUMMARY_METRICS.some(([m, t]) => m === name && t === threshold);
}

function safeParseName(key: string): { name: string; tags: Record<string, string> } {
  try {
    return parseMetricName(key);
  } catch {
    return { name: key, tags: {} };
  }
}

/** The value a threshold compared, from the points (exact) or the summary's values. */
function observedValue(reader: K6JsonOutputReader | undefined, summary: K6Summary, metric: string, threshold: string, durationMs: number): number | undefined {
  let key: string;
  let percentile: number | undefined;
  try {
    const e = parseThresholdExpression(threshold);
    key = aggregationKey(e);
    percentile = e.percentile;
  } catch {
    return undefined;
  }
  const sink = reader?.store.sink(metric);
  if (sink) {
    const v = sinkValues(sink, durationMs, percentile === undefined ? [] : [percentile]).get(key);
    if (v !== undefined) return v;
  }
  const values = summary.metrics[metric]?.values;
  if (!values) return undefined;
  return values[key] ?? (key === 'rate' ? values['value'] : undefined);
}
