import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ExitCode } from '../errors.ts';
import { escapeMarkdownCell, escapeMarkdownText } from './escape.ts';
import { formatMs, formatNumber, formatPercent, verdictWord } from './format.ts';
import { uShiftTest, type MannWhitneyResult, type ShiftTestResult } from './mann-whitney.ts';
import { OPERATION_SAMPLES_FILE, readOperationSamples } from './operation-samples.ts';
import type { OperationLatency, RunReportModel } from './report-model.ts';
import { readRunReport } from './report-schema.ts';
import { readRequestSamples } from './request-samples.ts';
import { RunResults } from '../util/run-results.ts';

/**
 * Baseline comparison of two runs (tonight's against last night's), see docs/reports.md.
 *
 * Metrics: http_req_duration p50/p95/p99, http_req_failed rate, throughput (http_reqs/s),
 * and the p95 of every operation present in both runs. Each gets `regressed`,
 * `improved` or `unchanged`:
 *
 * - latency (lower is better): regressed when current > baseline by MORE than
 *   `latencyRelative` (20 %) AND by more than `latencyAbsoluteMs` (50 ms); improved
 *   symmetrically (lower by more than 20 % and more than 50 ms).
 * - failed rate: regressed when higher by more than `errorRateAbsolute` (0.01 = 1
 *   percentage point); improved when lower by more than that.
 * - throughput (higher is better): regressed when lower by more than
 *   `throughputRelative` (20 %); improved when higher by more than that.
 * - operations (p95 from traces): a p95 beyond the tolerance counts only when the per-span
 *   durations (operation-samples.json) confirm it: a one-sided Mann–Whitney U test, exact
 *   for small samples, with the tolerance as a shift of the current run's spans
 *   (compareOperation); honest at 20 spans, where a p95 is nearly the maximum.
 * - noise gate (http_req_duration p50/p95/p99, when both runs have at least `minSamples`
 *   per-request latencies): the same shift test on the requests (confirmBySamples); a
 *   change beyond the tolerance that the requests do not confirm is `unchanged` ("within
 *   noise"). Without samples the tolerance alone decides.
 */
export const COMPARISON_SCHEMA_VERSION = 1;
export const COMPARISON_JSON_FILE = 'comparison.json';
export const COMPARISON_MD_FILE = 'comparison.md';

export type ChangeVerdict = 'regressed' | 'improved' | 'unchanged';

export interface CompareOptions {
  latencyRelative?: number;
  latencyAbsoluteMs?: number;
  errorRateAbsolute?: number;
  throughputRelative?: number;
  alpha?: number;
  minSamples?: number;
  /** Per-request latencies (ms) of each run, e.g. from requests.ndjson (readRequestSamples). */
  currentSamples?: readonly number[];
  baselineSamples?: readonly number[];
  /** Per-span durations (ms) per operation (`service name`) of each run, from operation-samples.json. */
  currentOperationSamples?: ReadonlyMap<string, readonly number[]>;
  baselineOperationSamples?: ReadonlyMap<string, readonly number[]>;
}

type SampleOptionKey = 'currentSamples' | 'baselineSamples' | 'currentOperationSamples' | 'baselineOperationSamples';

export interface ResolvedTolerance {
  latencyRelative: number;
  latencyAbsoluteMs: number;
  errorRateAbsolute: number;
  throughputRelative: number;
  alpha: number;
  minSamples: number;
}

export const DEFAULT_TOLERANCE: ResolvedTolerance = {
  latencyRelative: 0.2,
  latencyAbsoluteMs: 50,
  errorRateAbsolute: 0.01,
  throughputRelative: 0.2,
  alpha: 0.01,
  minSamples: 20,
};

export interface MetricComparison {
  /** e.g. `http_req_duration p95`, `operation nemotron-backend detection_processing p95`. */
  metric: string;
  kind: 'latency' | 'failed-rate' | 'throughput';
  unit: 'ms' | 'fraction' | 'req/s';
  baseline: number | null;
  current: number | null;
  /** current − baseline. */
  delta: number | null;
  /** (current − baseline) / baseline; null when baseline is 0 or unknown. */
  relative: number | null;
  /** False when either run lacks the value; verdict is then `unchanged`. */
  comparable: boolean;
  /** What the tolerance alone says. */
  beyondTolerance: ChangeVerdict;
  verdict: ChangeVerdict;
  /** One line: why this verdict. */
  reason: string;
  test?: MannWhitneyResult;
  /** Operations: the U test with the tolerance as shift on per-span durations. */
  shiftTest?: ShiftTestResult;
}

export interface RunRef {
  runId: string;
  scenario: string;
  startedAt: string;
  verdict: RunReportModel['verdict'];
  samples: number | null;
}

export interface ComparisonReport {
  schemaVersion: typeof COMPARISON_SCHEMA_VERSION;
  generatedAt: string;
  verdict: ChangeVerdict;
  current: RunRef;
  baseline: RunRef;
  tolerance: ResolvedTolerance;
  /** Whether the U test gated the latency metrics (both runs had ≥ minSamples samples). */
  uTestApplied: boolean;
  metrics: MetricComparison[];
  operations: MetricComparison[];
  /** Operations in only one run (not compared). */
  onlyInCurrent: string[];
  onlyInBaseline: string[];
  regressions: number;
  improvements: number;
  /** Caveats: different scenario, a run that ended in error, no load summary… */
  notes: string[];
}

function resolve(options: CompareOptions): ResolvedTolerance {
  const t = { ...DEFAULT_TOLERANCE };
  for (const key of Object.keys(DEFAULT_TOLERANCE) as (keyof ResolvedTolerance)[]) {
    const v = options[key];
    if (v !== undefined) {
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`compare: ${key} must be a finite number ≥ 0, got ${v}`);
      t[key] = v;
    }
  }
  return t;
}

const pct = (r: number | null) => (r === null ? 'n/a' : `${r >= 0 ? '+' : ''}${(r * 100).toFixed(1)} %`);
const signedMs = (d: number) => `${d >= 0 ? '+' : '−'}${formatMs(Math.abs(d))}`;
const pText = (p: number) => (p < 1e-4 ? p.toExponential(1) : p.toFixed(4));

function notComparable(metric: string, kind: MetricComparison['kind'], unit: MetricComparison['unit'], baseline: number | null, current: number | null): MetricComparison {
  const missing = baseline === null && current === null ? 'either run' : baseline === null ? 'the baseline' : 'the current run';
  return { metric, kind, unit, baseline, current, delta: null, relative: null, comparable: false, beyondTolerance: 'unchanged', verdict: 'unchanged', reason: `not measured in ${missing}` };
}

/** What the tolerance alone says about a latency (the per-item test is added by confirmBySamples). */
export function compareLatency(metric: string, baseline: number | null, current: number | null, t: ResolvedTolerance): MetricComparison {
  if (baseline === null || current === null || !Number.isFinite(baseline) || !Number.isFinite(current)) return notComparable(metric, 'latency', 'ms', baseline, current);
  const delta = current - baseline;
  const relative = baseline > 0 ? delta / baseline : null;
  const relWorse = relative === null ? delta > 0 : relative > t.latencyRelative;
  const relBetter = relative === null ? false : -relative > t.latencyRelative;
  const beyond: ChangeVerdict = relWorse && delta > t.latencyAbsoluteMs ? 'regressed' : relBetter && -delta > t.latencyAbsoluteMs ? 'improved' : 'unchanged';
  const change = `${formatMs(baseline)} → ${formatMs(current)} (${pct(relative)}, ${signedMs(delta)})`;
  const tol = `±${(t.latencyRelative * 100).toFixed(0)} % and ±${formatMs(t.latencyAbsoluteMs)}`;
  const reason = beyond === 'unchanged' ? `${change}: within tolerance (${tol})` : `${change}: beyond tolerance (${tol})`;
  return { metric, kind: 'latency', unit: 'ms', baseline, current, delta, relative, comparable: true, beyondTolerance: beyond, verdict: beyond, reason };
}

/**
 * A latency beyond the tolerance counts only when the per-item values (spans of an operation,
 * or requests) confirm it: a one-sided Mann–Whitney U test with the tolerance as a shift
 * (`shiftMarginMs`) rejects "not worse (better) by more than the tolerance" at `alpha`.
 * Exact for small samples. Otherwise the verdict is `unchanged`, "within noise".
 */
export function confirmBySamples(c: MetricComparison, samples: OperationSamplePair, t: ResolvedTolerance, items: 'spans' | 'requests'): MetricComparison {
  if (!c.comparable || c.verdict === 'unchanged') return c;
  const direction = c.verdict === 'improved' ? 'improved' : 'regressed';
  const shiftTest = uShiftTest(samples.current, samples.baseline, shiftMarginMs(samples.baseline, t), direction);
  const change = c.reason.replace(/: beyond tolerance.*$/, '');
  const how = `U test of the ${items} shifted by ${formatMs(shiftTest.marginMs)}: p = ${pText(shiftTest.pValue)}`;
  const n = `n = ${shiftTest.n1} / ${shiftTest.n2}, ${shiftTest.method}`;
  if (shiftTest.pValue < t.alpha) return { ...c, shiftTest, reason: `${change}: beyond tolerance and ${how} < ${t.alpha} (${n})` };
  return { ...c, verdict: 'unchanged', shiftTest, reason: `${change}: beyond tolerance but within noise (${how} ≥ ${t.alpha}, ${n})` };
}

export function compareFailedRate(metric: string, baseline: number | null, current: number | null, t: ResolvedTolerance): MetricComparison {
  if (baseline === null || current === null || !Number.isFinite(baseline) || !Number.isFinite(current)) return notComparable(metric, 'failed-rate', 'fraction', baseline, current);
  const delta = current - baseline;
  const relative = baseline > 0 ? delta / baseline : null;
  const verdict: ChangeVerdict = delta > t.errorRateAbsolute ? 'regressed' : -delta > t.errorRateAbsolute ? 'improved' : 'unchanged';
  const pp = `${delta >= 0 ? '+' : '−'}${(Math.abs(delta) * 100).toFixed(2)} pp`;
  const reason = `${formatPercent(baseline)} → ${formatPercent(current)} (${pp}): ${verdict === 'unchanged' ? 'within' : 'beyond'} tolerance (±${(t.errorRateAbsolute * 100).toFixed(1)} pp)`;
  return { metric, kind: 'failed-rate', unit: 'fraction', baseline, current, delta, relative, comparable: true, beyondTolerance: verdict, verdict, reason };
}

export function compareThroughput(metric: string, baseline: number | null, current: number | null, t: ResolvedTolerance): MetricComparison {
  if (baseline === null || current === null || !Number.isFinite(baseline) || !Number.isFinite(current)) return notComparable(metric, 'throughput', 'req/s', baseline, current);
  const delta = current - baseline;
  const relative = baseline > 0 ? delta / baseline : null;
  let verdict: ChangeVerdict = 'unchanged';
  if (relative === null) verdict = current > 0 ? 'improved' : 'unchanged';
  else if (-relative > t.throughputRelative) verdict = 'regressed';
  else if (relative > t.throughputRelative) verdict = 'improved';
  const reason = `${formatNumber(baseline, 2)} → ${formatNumber(current, 2)} req/s (${pct(relative)}): ${verdict === 'unchanged' ? 'within' : 'beyond'} tolerance (±${(t.throughputRelative * 100).toFixed(0)} %)`;
  return { metric, kind: 'throughput', unit: 'req/s', baseline, current, delta, relative, comparable: true, beyondTolerance: verdict, verdict, reason };
}

function ref(model: RunReportModel, samples: readonly number[] | undefined): RunRef {
  return { runId: model.runId, scenario: model.scenario.name, startedAt: model.startedAt, verdict: model.verdict, samples: samples ? samples.length : null };
}

const opKey = (o: { service: string; name: string }) => `${o.service} ${o.name}`;

/** Per-span durations of one operation in each run (operation-samples.json). */
export interface OperationSamplePair {
  current: readonly number[];
  baseline: readonly number[];
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The tolerance as a shift of the whole distribution: max(latencyAbsoluteMs, latencyRelative × baseline median). */
export function shiftMarginMs(baseline: readonly number[], t: ResolvedTolerance): number {
  return Math.max(t.latencyAbsoluteMs, t.latencyRelative * median(baseline));
}

/**
 * An operation's p95 beyond the tolerance is a regression (improvement) only when its spans say
 * so too: a one-sided Mann–Whitney U test on the per-span durations, with the current run's
 * durations shifted by the tolerance (`shiftMarginMs`), rejects "not worse by more than the
 * tolerance" at `alpha`. Exact for small samples, so 20 spans are enough when the change is
 * real and 5 noisy spans are not enough to call one. Runs without operation-samples.json fall
 * back to the p95 and the tolerance, and below `minSamples` spans to "too few spans to judge".
 */
export function compareOperation(metric: string, baseline: OperationLatency, current: OperationLatency, t: ResolvedTolerance, samples?: OperationSamplePair): MetricComparison {
  const c = compareLatency(metric, baseline.p95Ms, current.p95Ms, t);
  if (!c.comparable || c.verdict === 'unchanged') return c;
  if (samples && samples.current.length > 0 && samples.baseline.length > 0) return confirmBySamples(c, samples, t, 'spans');
  const change = `${formatMs(baseline.p95Ms)} → ${formatMs(current.p95Ms)} (${pct(c.relative)}, ${signedMs(c.delta ?? 0)})`;
  const fewest = Math.min(baseline.count, current.count);
  if (fewest >= t.minSamples) return { ...c, reason: `${c.reason}; no per-span samples (${OPERATION_SAMPLES_FILE}), p95 and tolerance alone` };
  return { ...c, verdict: 'unchanged', reason: `${change}: beyond tolerance but too few spans to judge without per-span samples (${baseline.count} and ${current.count}; needs ${OPERATION_SAMPLES_FILE} or ≥ ${t.minSamples} in both)` };
}

/** The two runs' machines: mean runnable tasks per CPU during the load, when both measured it. */
export interface MachineCrowding {
  baseline: number;
  current: number;
}

/** http_req_duration: the tolerance, confirmed by the per-request latencies when both runs have enough. */
function requestLatency(metric: string, baseline: number | null, current: number | null, t: ResolvedTolerance, requests: OperationSamplePair | undefined, machines: MachineCrowding | undefined): MetricComparison {
  const c = compareLatency(metric, baseline, current, t);
  const judged = requests ? confirmBySamples(c, requests, t, 'requests') : c.comparable && c.verdict !== 'unchanged' ? { ...c, reason: `${c.reason}; no per-request samples, no U test` } : c;
  return machineGate(judged, machines, t);
}

/** How much more crowded the machine of the run that looks worse was: busier run's runnable tasks per CPU over the other's. */
function crowdingRatio(machines: MachineCrowding, worse: 'current' | 'baseline'): number {
  const [busy, other] = worse === 'current' ? [machines.current, machines.baseline] : [machines.baseline, machines.current];
  return busy / Math.max(other, 0.5);
}

/**
 * An upload's answer is a few ms of work; the rest of its latency is waiting for a CPU, which
 * grows with the runnable tasks per CPU (healthy runs of the main job minutes apart on the
 * shared machine: upload medians 40 ms at 11 runnable tasks per CPU, 118 ms at 16). When the
 * run that looks worse had a machine more crowded by more than the relative tolerance (×1.2 by
 * default: the machine alone then explains a change of the tolerance's size), the change is not
 * attributed to the stack: `unchanged`, naming both machines. Operations are not gated: their
 * spans judge them, and a planted +300 ms on an AI call is not CPU waiting.
 */
function machineGate(c: MetricComparison, machines: MachineCrowding | undefined, t: ResolvedTolerance): MetricComparison {
  if (machines === undefined || c.verdict === 'unchanged') return c;
  const worse = c.verdict === 'regressed' ? 'current' : 'baseline';
  if (crowdingRatio(machines, worse) <= 1 + t.latencyRelative) return c;
  return {
    ...c,
    verdict: 'unchanged',
    reason: `${c.reason}; not attributed to the stack: the ${worse} run's machine was more crowded (runnable tasks per CPU: current ${machines.current.toFixed(1)}, baseline ${machines.baseline.toFixed(1)})`,
  };
}

function operationSamplePair(key: string, options: CompareOptions): OperationSamplePair | undefined {
  const current = options.currentOperationSamples?.get(key);
  const baseline = options.baselineOperationSamples?.get(key);
  return current && baseline ? { current, baseline } : undefined;
}

export function compareRuns(current: RunReportModel, baseline: RunReportModel, options: CompareOptions = {}): ComparisonReport {
  const t = resolve(options);
  const notes: string[] = [];
  if (current.scenario.name !== baseline.scenario.name) notes.push(`different scenarios: current "${current.scenario.name}", baseline "${baseline.scenario.name}"; the comparison may be meaningless`);
  if (current.runId === baseline.runId) notes.push('current and baseline are the same run');
  for (const [label, m] of [
    ['current', current],
    ['baseline', baseline],
  ] as const) {
    if (m.verdict === 'error' || m.verdict === 'interrupted') notes.push(`the ${label} run ended with verdict ${m.verdict}${m.errors[0] ? ` (${m.errors[0]})` : ''}`);
    if (!m.load) notes.push(`the ${label} run has no load summary: request metrics not compared`);
  }
  if (current.stack.defects.join(',') !== baseline.stack.defects.join(',')) {
    notes.push(`different injected stack defects: current [${current.stack.defects.join(', ')}], baseline [${baseline.stack.defects.join(', ')}]`);
  }
  const cs = options.currentSamples;
  const bs = options.baselineSamples;
  const requests: OperationSamplePair | undefined = cs && bs && cs.length >= t.minSamples && bs.length >= t.minSamples ? { current: cs, baseline: bs } : undefined;
  if (!requests && (cs || bs)) {
    notes.push(`U test not applied: needs ≥ ${t.minSamples} per-request latencies in both runs (current ${cs?.length ?? 'none'}, baseline ${bs?.length ?? 'none'})`);
  } else if (!requests) {
    notes.push('no per-request samples (requests.ndjson): latency verdicts use the tolerance alone');
  }
  const cl = current.load;
  const bl = baseline.load;
  const machines = cl?.runnablePerCpu !== undefined && bl?.runnablePerCpu !== undefined ? { current: cl.runnablePerCpu, baseline: bl.runnablePerCpu } : undefined;
  if (machines && Math.max(crowdingRatio(machines, 'current'), crowdingRatio(machines, 'baseline')) > 1 + t.latencyRelative) {
    notes.push(`the machines differed: ${machines.current.toFixed(1)} runnable tasks per CPU during the current run's load, ${machines.baseline.toFixed(1)} during the baseline's; a request latency change toward the more crowded run is not attributed to the stack`);
  }
  const metrics: MetricComparison[] = [
    requestLatency('http_req_duration p50', bl?.httpReqDuration.med ?? null, cl?.httpReqDuration.med ?? null, t, requests, machines),
    requestLatency('http_req_duration p95', bl?.httpReqDuration.p95 ?? null, cl?.httpReqDuration.p95 ?? null, t, requests, machines),
    requestLatency('http_req_duration p99', bl?.httpReqDuration.p99 ?? null, cl?.httpReqDuration.p99 ?? null, t, requests, machines),
    compareFailedRate('http_req_failed rate', bl?.httpReqFailedRate ?? null, cl?.httpReqFailedRate ?? null, t),
    compareThroughput('http_reqs throughput', bl?.httpReqsPerSec ?? null, cl?.httpReqsPerSec ?? null, t),
    // a capacity run: the knee (highest load that held) is a throughput, higher is better
    ...(current.capacity && baseline.capacity ? [compareThroughput('capacity knee (uploads/s)', baseline.capacity.knee.uploadsPerSec, current.capacity.knee.uploadsPerSec, t)] : []),
  ];
  const baseOps = new Map(baseline.operations.map((o) => [opKey(o), o]));
  const curOps = new Map(current.operations.map((o) => [opKey(o), o]));
  const operations: MetricComparison[] = [];
  for (const [key, o] of curOps) {
    const b = baseOps.get(key);
    if (b) operations.push(compareOperation(`operation ${key} p95`, b, o, t, operationSamplePair(key, options)));
  }
  operations.sort((a, b) => a.metric.localeCompare(b.metric));
  const onlyInCurrent = [...curOps.keys()].filter((k) => !baseOps.has(k)).sort();
  const onlyInBaseline = [...baseOps.keys()].filter((k) => !curOps.has(k)).sort();
  const all = [...metrics, ...operations];
  const regressions = all.filter((m) => m.verdict === 'regressed').length;
  const improvements = all.filter((m) => m.verdict === 'improved').length;
  return {
    schemaVersion: COMPARISON_SCHEMA_VERSION,
    generatedAt: new Date().toISOString(),
    verdict: regressions > 0 ? 'regressed' : improvements > 0 ? 'improved' : 'unchanged',
    current: ref(current, cs),
    baseline: ref(baseline, bs),
    tolerance: t,
    uTestApplied: requests !== undefined,
    metrics,
    operations,
    onlyInCurrent,
    onlyInBaseline,
    regressions,
    improvements,
    notes,
  };
}

/**
 * Loads both runs from `results/<run-id>/summary.json` (readRunReport: one-line errors)
 * and, when present, their requests.ndjson for the U test, then compares.
 */
export function compareRunDirs(currentDir: string, baselineDir: string, options: Omit<CompareOptions, SampleOptionKey> = {}): ComparisonReport {
  const current = readRunReport(currentDir);
  const baseline = readRunReport(baselineDir);
  const cs = readRequestSamples(currentDir);
  const bs = readRequestSamples(baselineDir);
  const withSamples: CompareOptions = { ...options };
  if (cs) withSamples.currentSamples = cs.latenciesMs;
  if (bs) withSamples.baselineSamples = bs.latenciesMs;
  const cos = readOperationSamples(currentDir);
  const bos = readOperationSamples(baselineDir);
  if (cos) withSamples.currentOperationSamples = cos;
  if (bos) withSamples.baselineOperationSamples = bos;
  return compareRuns(current, baseline, withSamples);
}

/** `--fail-on-regression`: 1 (ExitCode.expectationFailed) when any metric regressed, else 0. */
export function comparisonExitCode(comparison: ComparisonReport, failOnRegression: boolean): 0 | 1 {
  return failOnRegression && comparison.regressions > 0 ? ExitCode.expectationFailed : ExitCode.pass;
}

function valueText(m: MetricComparison, v: number | null): string {
  if (v === null) return 'n/a';
  return m.unit === 'ms' ? formatMs(v) : m.unit === 'fraction' ? formatPercent(v) : `${formatNumber(v, 2)} req/s`;
}

function changeText(m: MetricComparison): string {
  if (!m.comparable || m.delta === null) return 'n/a';
  if (m.unit === 'fraction') return `${m.delta >= 0 ? '+' : '−'}${(Math.abs(m.delta) * 100).toFixed(2)} pp`;
  if (m.unit === 'ms') return `${signedMs(m.delta)} (${pct(m.relative)})`;
  return pct(m.relative);
}

export function renderComparisonMarkdown(c: ComparisonReport): string {
  const code = (v: string) => (/^[\w.:-]+$/.test(v) ? `\`${v}\`` : escapeMarkdownText(v));
  const t = c.tolerance;
  const lines: string[] = [];
  lines.push(`## hsi-chaos compare: ${c.verdict.toUpperCase()}`);
  lines.push('');
  lines.push(`**${c.regressions} regressed, ${c.improvements} improved** of ${c.metrics.length + c.operations.length} compared metrics.`);
  lines.push('');
  lines.push(`current ${code(c.current.runId)} (${escapeMarkdownText(c.current.scenario)}, ${escapeMarkdownText(c.current.startedAt)}, ${verdictWord(c.current.verdict)}) vs baseline ${code(c.baseline.runId)} (${escapeMarkdownText(c.baseline.scenario)}, ${escapeMarkdownText(c.baseline.startedAt)}, ${verdictWord(c.baseline.verdict)})`);
  lines.push('');
  lines.push(
    `Tolerance: latency worse by > ${(t.latencyRelative * 100).toFixed(0)} % and > ${formatMs(t.latencyAbsoluteMs)}; failed rate worse by > ${(t.errorRateAbsolute * 100).toFixed(1)} pp; throughput lower by > ${(t.throughputRelative * 100).toFixed(0)} %. ` +
      (c.uTestApplied
        ? `A latency change beyond the tolerance must also be confirmed by a one-sided Mann–Whitney U test of the requests (spans, for operations) shifted by the tolerance, at α = ${t.alpha} (n = ${c.current.samples} / ${c.baseline.samples} requests).`
        : 'No U test on the requests (per-request samples missing or too few); operations are judged by their spans when both runs have operation-samples.json.'),
  );
  for (const note of c.notes) lines.push('', `Note: ${escapeMarkdownText(note)}`);
  const order = (m: MetricComparison) => (m.verdict === 'regressed' ? 0 : m.verdict === 'improved' ? 1 : 2);
  const row = (m: MetricComparison) =>
    `| ${m.verdict === 'regressed' ? '**REGRESSED**' : m.verdict === 'improved' ? 'improved' : m.comparable ? 'unchanged' : 'n/a'} | ${escapeMarkdownCell(m.metric)} | ${valueText(m, m.baseline)} | ${valueText(m, m.current)} | ${changeText(m)} | ${m.shiftTest ? pText(m.shiftTest.pValue) : ''} |`;
  lines.push('', '| verdict | metric | baseline | current | change | U test p |', '|---|---|---|---|---|---|');
  for (const m of [...c.metrics].sort((a, b) => order(a) - order(b))) lines.push(row(m));
  if (c.operations.length > 0) {
    const ops = [...c.operations].sort((a, b) => order(a) - order(b));
    const shown = ops.filter((m) => m.verdict !== 'unchanged').concat(ops.filter((m) => m.verdict === 'unchanged')).slice(0, 15);
    lines.push('', `### Operations (p95, ${c.operations.length} in both runs)`, '', '| verdict | operation | baseline | current | change | spans | shift U test p |', '|---|---|---|---|---|---|---|');
    for (const m of shown) {
      const spans = m.shiftTest ? `${m.shiftTest.n2} / ${m.shiftTest.n1}` : '';
      lines.push(`| ${m.verdict === 'regressed' ? '**REGRESSED**' : m.verdict} | ${escapeMarkdownCell(m.metric.replace(/^operation /, '').replace(/ p95$/, ''))} | ${valueText(m, m.baseline)} | ${valueText(m, m.current)} | ${changeText(m)} | ${spans} | ${m.shiftTest ? pText(m.shiftTest.pValue) : ''} |`);
    }
    if (ops.length > shown.length) lines.push('', `… ${ops.length - shown.length} more unchanged in comparison.json`);
  }
  if (c.onlyInCurrent.length > 0 || c.onlyInBaseline.length > 0) {
    lines.push('', `Not compared: only in current: ${escapeMarkdownText(c.onlyInCurrent.join(', ') || 'none')}; only in baseline: ${escapeMarkdownText(c.onlyInBaseline.join(', ') || 'none')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Writes comparison.json (atomically) and comparison.md into the (current) run's folder. */
export function writeComparison(results: RunResults, comparison: ComparisonReport): { json: string; markdown: string } {
  const json = results.writeJson(COMPARISON_JSON_FILE, comparison);
  const markdown = results.writeTextAtomic(COMPARISON_MD_FILE, renderComparisonMarkdown(comparison));
  return { json, markdown };
}

/** RunResults of an existing run folder (`results/<run-id>`), for writeComparison. */
export function runResultsOf(runDir: string): RunResults {
  return new RunResults(dirname(runDir), basename(runDir));
}

/** A `compare` argument: a run folder path, or a run id under the results root. */
export function resolveRunDir(arg: string, resultsRoot: string): string {
  if (existsSync(arg)) return arg;
  const underRoot = join(resultsRoot, arg);
  return existsSync(underRoot) ? underRoot : arg;
}

export interface CompareCommandOptions extends Omit<CompareOptions, SampleOptionKey> {
  /** `<run>`: folder or run id. */
  current: string;
  /** `<baseline>`: folder or run id. */
  baseline: string;
  resultsRoot: string;
  failOnRegression: boolean;
}

export interface CompareCommandResult {
  exitCode: 0 | 1;
  comparison: ComparisonReport;
  files: { json: string; markdown: string };
  /** What the CLI prints: a verdict line, then one line per regression/improvement. */
  lines: string[];
}

/**
 * `hsi-chaos compare <run> <baseline> [--fail-on-regression]`: everything but argument
 * parsing. Bad input throws ConfigError (exit 2, one line naming the file and field).
 */
export function compareCommand(options: CompareCommandOptions): CompareCommandResult {
  const { current, baseline, resultsRoot, failOnRegression, ...tolerance } = options;
  const currentDir = resolveRunDir(current, resultsRoot);
  const baselineDir = resolveRunDir(baseline, resultsRoot);
  const comparison = compareRunDirs(currentDir, baselineDir, tolerance);
  const files = writeComparison(runResultsOf(currentDir), comparison);
  const lines = [
    `compare ${comparison.current.runId} vs baseline ${comparison.baseline.runId}: ${comparison.verdict.toUpperCase()} (${comparison.regressions} regressed, ${comparison.improvements} improved${comparison.uTestApplied ? ', U test applied' : ', no U test'})`,
  ];
  for (const m of [...comparison.metrics, ...comparison.operations]) if (m.verdict !== 'unchanged') lines.push(`  ${m.verdict === 'regressed' ? 'REGRESSED' : 'improved '} ${m.metric}: ${m.reason}`);
  for (const note of comparison.notes) lines.push(`  note: ${note}`);
  lines.push(`  ${files.markdown}`);
  return { exitCode: comparisonExitCode(comparison, failOnRegression), comparison, files, lines };
}
