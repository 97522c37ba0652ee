import { isAbsolute, relative } from 'node:path';
import { HARNESS_METRICS, K6_BUILTIN_METRICS, parseMetricName } from '../load/metrics.ts';
import { parseThresholdExpression } from '../load/thresholds.ts';
import type { AssertionView, OperationLatency, RunReportModel, ThresholdVerdict, Verdict } from './report-model.ts';

/** Status words (no emoji): what a person and a grep both read. */
export function verdictWord(verdict: Verdict): string {
  return verdict.toUpperCase();
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return 'n/a';
  if (Math.abs(ms) >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (Math.abs(ms) >= 100) return `${Math.round(ms)} ms`;
  if (Math.abs(ms) >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function formatPercent(fraction: number | null | undefined, digits = 2): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return 'n/a';
  return `${(fraction * 100).toFixed(digits)} %`;
}

export function formatNumber(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatSeconds(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec)) return 'n/a';
  if (Math.abs(sec) >= 120) {
    const m = Math.floor(sec / 60);
    const s = Math.round(sec - m * 60);
    return `${m} min ${s} s`;
  }
  return `${Number.isInteger(sec) ? sec : sec.toFixed(1)} s`;
}

/** A point on the run's timeline (seconds since the load started): always seconds, one decimal when needed. */
export function formatOffset(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec)) return 'n/a';
  return `${Number.isInteger(sec) ? sec : sec.toFixed(1)} s`;
}

/** Wall time of the run, when both ends are known. */
export function runDurationSec(model: RunReportModel): number | null {
  if (!model.finishedAt) return null;
  const ms = Date.parse(model.finishedAt) - Date.parse(model.startedAt);
  return Number.isFinite(ms) && ms >= 0 ? ms / 1000 : null;
}

/** Failed first, then by family and name (stable for a given model). */
export function assertionsFailedFirst(assertions: readonly AssertionView[]): AssertionView[] {
  return [...assertions].sort((a, b) => Number(a.passed) - Number(b.passed) || a.family.localeCompare(b.family) || a.name.localeCompare(b.name));
}

export function thresholdsFailedFirst(thresholds: readonly ThresholdVerdict[]): ThresholdVerdict[] {
  return [...thresholds].sort((a, b) => Number(a.ok) - Number(b.ok) || a.metric.localeCompare(b.metric));
}

/** Over budget first, then the rest with a budget, then without; each by p95 descending. */
export function operationsForBudgetTable(operations: readonly OperationLatency[]): OperationLatency[] {
  const rank = (o: OperationLatency) => (o.budget ? (o.budget.ok ? 1 : 0) : 2);
  return [...operations].sort((a, b) => rank(a) - rank(b) || b.p95Ms - a.p95Ms);
}

/** The value an operation's budget is checked on (p50/p90/p95/p99, else interpolated from the nearest). */
export function operationPercentile(op: OperationLatency, percentile: number): number {
  const known: [number, number][] = [
    [50, op.p50Ms],
    [90, op.p90Ms],
    [95, op.p95Ms],
    [99, op.p99Ms],
  ];
  const exact = known.find(([p]) => p === percentile);
  if (exact) return exact[1];
  const upper = known.find(([p]) => p >= percentile) ?? known[known.length - 1]!;
  return upper[1];
}

/** bytes as k6's summary prints them (kB, MB: powers of 1000) */
function formatBytes(n: number): string {
  if (Math.abs(n) >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (Math.abs(n) >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${Math.round(n)} B`;
}

/**
 * A built-in metric's threshold value in the unit of what it compared: the metric's k6 type
 * and `contains` and the expression's aggregation decide, not its name (`http_req_waiting`
 * p(95) is ms, `checks` rate a share, `ws_sessions` count a number, `data_sent` count bytes).
 * Undefined for a metric it does not know (custom metrics) or an expression it cannot read.
 */
export function builtinThresholdValue(metric: string, expression: string, value: number): string | undefined {
  let name: string;
  let aggregation: string;
  try {
    name = parseMetricName(metric).name;
    aggregation = parseThresholdExpression(expression).aggregation;
  } catch {
    return undefined;
  }
  const m = K6_BUILTIN_METRICS[name] ?? HARNESS_METRICS[name];
  if (m === undefined || !Number.isFinite(value)) return undefined;
  const plain = formatNumber(value, Number.isInteger(value) ? 0 : 2);
  if (m.type === 'rate') return formatPercent(value);
  if (m.type === 'counter' && aggregation === 'rate') return `${plain}/s`;
  if (aggregation === 'count' && m.contains !== 'data') return plain;
  if (m.contains === 'time') return formatMs(value);
  return m.contains === 'data' ? formatBytes(value) : plain;
}

export function thresholdValue(t: ThresholdVerdict): string {
  if (t.noSamples) return `no samples${t.value !== undefined ? ` (read as ${t.value})` : ''}`;
  if (t.value === undefined) return 'n/a';
  return builtinThresholdValue(t.metric, t.expression, t.value) ?? (/duration|latency|_ms\b|time/i.test(t.metric) ? formatMs(t.value) : /rate|failed/i.test(t.metric) ? formatPercent(t.value) : formatNumber(t.value, Number.isInteger(t.value) ? 0 : 2));
}

/** One line naming every threshold whose metric had no sample, or undefined (k6 evaluates them on the empty metric; the report says so). */
export function noSampleThresholdsLine(thresholds: readonly ThresholdVerdict[]): string | undefined {
  const empty = thresholds.filter((t) => t.noSamples);
  if (empty.length === 0) return undefined;
  return `${empty.length} of ${thresholds.length} thresholds had no samples, evaluated as k6 does on an empty metric (a trend reads 0, a rate has no value and passes): ${empty.map((t) => `${t.metric}: ${t.expression}`).join('; ')}`;
}

export interface KeyNumbers {
  requests: number | null;
  reqPerSec: number | null;
  failedRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  assertionsFailed: number;
  assertionsTotal: number;
  thresholdsFailed: number;
  thresholdsTotal: number;
  budgetsFailed: number;
  budgetsTotal: number;
  durationSec: number | null;
}

/** The numbers the verdict line and the HTML header show; falls back to the time series when no load summary exists. */
export function keyNumbers(model: RunReportModel): KeyNumbers {
  let requests: number | null = model.load?.httpReqs ?? null;
  let reqPerSec: number | null = model.load?.httpReqsPerSec ?? null;
  let failedRate: number | null = model.load?.httpReqFailedRate ?? null;
  if (!model.load && model.timeSeries.length > 0) {
    const total = model.timeSeries.reduce((s, p) => s + p.requests, 0);
    const errors = model.timeSeries.reduce((s, p) => s + p.errors, 0);
    const span = seriesSpanSec(model);
    requests = total;
    reqPerSec = span > 0 ? total / span : null;
    failedRate = total > 0 ? errors / total : null;
  }
  const budgets = model.operations.filter((o) => o.budget);
  return {
    requests,
    reqPerSec,
    failedRate,
    p50Ms: model.load?.httpReqDuration.med ?? null,
    p95Ms: model.load?.httpReqDuration.p95 ?? null,
    p99Ms: model.load?.httpReqDuration.p99 ?? null,
    assertionsFailed: model.assertions.filter((a) => !a.passed).length,
    assertionsTotal: model.assertions.length,
    thresholdsFailed: model.thresholds.filter((t) => !t.ok).length,
    thresholdsTotal: model.thresholds.length,
    budgetsFailed: budgets.filter((o) => o.budget && !o.budget.ok).length,
    budgetsTotal: budgets.length,
    durationSec: model.load?.durationSec ?? runDurationSec(model),
  };
}

/** Width of one time-series bucket (the median spacing), 1 s when unknown. */
export function bucketSeconds(points: readonly { tSec: number }[]): number {
  const gaps: number[] = [];
  for (let i = 1; i < points.length; i += 1) {
    const gap = points[i]!.tSec - points[i - 1]!.tSec;
    if (gap > 0) gaps.push(gap);
  }
  if (gaps.length === 0) return 1;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)]!;
}

/** Seconds covered by the time series (last bucket included). */
export function seriesSpanSec(model: RunReportModel): number {
  const points = model.timeSeries;
  if (points.length === 0) return 0;
  return points[points.length - 1]!.tSec - points[0]!.tSec + bucketSeconds(points);
}

/** One line: `FAILED: 2 of 14 expectations failed, 1 of 3 thresholds failed`. */
export function verdictLine(model: RunReportModel): string {
  const k = keyNumbers(model);
  const parts: string[] = [];
  if (k.assertionsTotal > 0) parts.push(k.assertionsFailed > 0 ? `${k.assertionsFailed} of ${k.assertionsTotal} expectations failed` : `all ${k.assertionsTotal} expectations passed`);
  if (k.thresholdsTotal > 0) parts.push(k.thresholdsFailed > 0 ? `${k.thresholdsFailed} of ${k.thresholdsTotal} thresholds failed` : `all ${k.thresholdsTotal} thresholds passed`);
  if (k.budgetsFailed > 0) parts.push(`${k.budgetsFailed} of ${k.budgetsTotal} operation budgets exceeded`);
  const cap = model.capacity;
  if (cap) parts.push(cap.knee.uploadsPerSec === null ? 'capacity: no load held' : `capacity ${cap.knee.uploadsPerSec.toFixed(2)} uploads/s = ${cap.knee.cameras} cameras at ${cap.settings.fps} fps`);
  if (model.errors.length > 0) parts.push(`${model.errors.length} run error${model.errors.length === 1 ? '' : 's'}: ${model.errors[0]}`);
  if (model.verdict === 'interrupted') parts.push('the run was interrupted');
  return `${verdictWord(model.verdict)}: ${parts.length > 0 ? parts.join(', ') : 'nothing was checked'}`;
}

/** A path as a person in the working directory types it (`results/<run-id>/report.html`). */
export function displayPath(path: string): string {
  if (!isAbsolute(path)) return path;
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}
