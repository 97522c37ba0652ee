import { HARNESS_METRICS, K6_BUILTIN_METRICS, parseMetricName, sinkIsEmpty, type MetricStore, type MetricType, type Sink } from './metrics.ts';

/**
 * Thresholds with k6's syntax and semantics (k6 metrics/thresholds.go, thresholds_parser.go):
 *   'http_req_duration{scenario:steady}': ['p(95)<2000', { threshold: 'rate<0.01', abortOnFail: true, delayAbortEval: '10s' }]
 * Expression: `aggregation operator number`; aggregations per metric type: counter count|rate,
 * gauge value, rate rate, trend avg|min|max|med|p(N). Operators: < <= > >= == === !=.
 * Evaluation: every 2 s during the run (empty sinks skipped) and once at the end (empty sinks
 * evaluated: a trend with no samples is 0 everywhere, a rate or counter rate with none is
 * absent and passes). A failed threshold with abortOnFail stops the run unless its
 * delayAbortEval has not yet passed. Failed thresholds mean exit code 99.
 */
export type Aggregation = 'count' | 'rate' | 'value' | 'avg' | 'min' | 'max' | 'med' | 'p';
export type Operator = '<' | '<=' | '>' | '>=' | '==' | '===' | '!=';

export interface ThresholdExpression {
  source: string;
  aggregation: Aggregation;
  /** p(N): N in 0..100 */
  percentile?: number;
  operator: Operator;
  value: number;
}

/** k6 scans operators in this order (longer tokens sharing a prefix first). */
const OPERATORS: readonly Operator[] = ['<=', '<', '>=', '>', '===', '==', '!='];
const AGGREGATIONS: readonly Aggregation[] = ['value', 'count', 'rate', 'avg', 'min', 'med', 'max'];
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
/** what Go's strconv.ParseFloat also reads (k6 parses the right side with it): Inf, Infinity, NaN, any case */
const GO_SPECIAL = /^([+-]?(inf|infinity)|nan)$/i;

/** the right side of a threshold as k6 reads it, or undefined */
export function parseGoFloat(text: string): number | undefined {
  if (NUMBER.test(text)) return Number(text);
  if (!GO_SPECIAL.test(text)) return undefined;
  const lower = text.toLowerCase();
  if (lower === 'nan') return Number.NaN;
  return lower.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
}

export const SUPPORTED_AGGREGATIONS: Readonly<Record<MetricType, readonly Aggregation[]>> = {
  counter: ['count', 'rate'],
  gauge: ['value'],
  rate: ['rate'],
  trend: ['avg', 'min', 'max', 'med', 'p'],
};

export class ThresholdSyntaxError extends Error {}

export function parseThresholdExpression(source: string): ThresholdExpression {
  let left = '';
  let operator: Operator | undefined;
  let right = '';
  for (const op of OPERATORS) {
    const at = source.indexOf(op);
    if (at !== -1 && source.slice(at + op.length) !== '') {
      left = source.slice(0, at).trim();
      right = source.slice(at + op.length).trim();
      operator = op;
      break;
    }
  }
  if (!operator) throw new ThresholdSyntaxError(`malformed threshold expression "${source}" (use e.g. "p(95)<2000")`);
  const value = parseGoFloat(right);
  if (value === undefined) throw new ThresholdSyntaxError(`threshold "${source}": right side "${right}" is not a number`);
  if ((AGGREGATIONS as readonly string[]).includes(left)) return { source, aggregation: left as Aggregation, operator, value };
  if (left.startsWith('p(') && left.endsWith(')')) {
    // k6 reads the inside with strconv.ParseFloat: no spaces (`p( 95 )` is refused)
    const inner = left.slice(2, -1);
    const p = Number(inner);
    if (!NUMBER.test(inner) || !(p >= 0 && p <= 100)) {
      throw new ThresholdSyntaxError(`threshold "${source}": malformed percentile, provide a number between 0 and 100`);
    }
    return { source, aggregation: 'p', percentile: p, operator, value };
  }
  throw new ThresholdSyntaxError(`threshold "${source}": unknown aggregation "${left}" (use count, rate, value, avg, min, max, med or p(N))`);
}

export function aggregationKey(e: ThresholdExpression): string {
  return e.aggregation === 'p' ? `p(${e.percentile ?? 0})` : e.aggregation;
}

export function compare(lhs: number, operator: Operator, rhs: number): boolean {
  switch (operator) {
    case '<':
      return lhs < rhs;
    case '<=':
      return lhs <= rhs;
    case '>':
      return lhs > rhs;
    case '>=':
      return lhs >= rhs;
    case '==':
    case '===':
      return lhs === rhs;
    case '!=':
      return lhs !== rhs;
  }
}

/** A threshold as written in a scenario, after validation. */
export interface ThresholdSpec {
  threshold: string;
  abortOnFail: boolean;
  /** ms; undefined = abort as soon as it fails */
  delayAbortEvalMs?: number;
}

export interface ParsedThreshold extends ThresholdSpec {
  /** the metric expression as written, e.g. `http_req_duration{scenario:steady}` */
  metric: string;
  expression: ThresholdExpression;
}

export interface ThresholdVerdict {
  metric: string;
  threshold: string;
  ok: boolean;
  /** the observed value the expression compared (absent: no samples) */
  value?: number;
  /**
   * The run recorded no sample of the metric: evaluated as k6 does at the end (an empty trend
   * reads 0 for every statistic, a counter 0, a rate has no value and passes; k6
   * metrics/thresholds.go Run, engine.go evaluateThresholds), and named in every report.
   */
  noSamples?: true;
  abortOnFail: boolean;
  delayAbortEvalMs?: number;
}

/**
 * Checks a scenario's thresholds against the known metrics; returns the problem in one line,
 * or undefined. `metricTypes` defaults to the built-in metrics.
 */
export function checkThreshold(metric: string, threshold: string, metricTypes: Readonly<Record<string, { type: MetricType }>> = { ...K6_BUILTIN_METRICS, ...HARNESS_METRICS }): string | undefined {
  let name: string;
  try {
    name = parseMetricName(metric).name;
  } catch (error) {
    return (error as Error).message;
  }
  const known = metricTypes[name];
  if (!known) return `no metric named "${name}": name a k6 built-in metric (http_req_duration, checks, ws_connecting, ...) or declare it under metrics: { ${name}: { type: 'trend' } }`;
  let expression: ThresholdExpression;
  try {
    expression = parseThresholdExpression(threshold);
  } catch (error) {
    return (error as Error).message;
  }
  if (!SUPPORTED_AGGREGATIONS[known.type].includes(expression.aggregation)) {
    return `threshold "${threshold}" on ${name}: ${expression.aggregation === 'p' ? 'p(N)' : expression.aggregation} is not supported on a ${known.type} metric (use ${SUPPORTED_AGGREGATIONS[known.type].map((a) => (a === 'p' ? 'p(N)' : a)).join(', ')})`;
  }
  return undefined;
}

/** The values k6 puts in a threshold's "sinked" map for a sink. */
export function sinkValues(sink: Sink, elapsedMs: number, percentiles: readonly number[]): Map<string, number> {
  const out = new Map<string, number>();
  switch (sink.type) {
    case 'counter':
      out.set('count', sink.value);
      if (elapsedMs > 0) out.set('rate', sink.value / (elapsedMs / 1000));
      break;
    case 'gauge':
      out.set('value', sink.value);
      break;
    case 'rate':
      if (sink.total > 0) out.set('rate', sink.trues / sink.total);
      break;
    case 'trend': {
      const t = sink.trend;
      out.set('min', t.min);
      out.set('max', t.max);
      out.set('avg', t.count === 0 ? 0 : t.sum / t.count);
      const ps = [50, ...percentiles];
      const vs = t.percentiles(ps);
      out.set('med', vs[0] ?? 0);
      percentiles.forEach((p, i) => out.set(`p(${p})`, vs[i + 1] ?? 0));
      break;
    }
  }
  return out;
}

export interface ThresholdEvaluation {
  verdicts: ThresholdVerdict[];
  /** some failed threshold asks to abort the run now */
  abort: boolean;
  /** every threshold passed */
  ok: boolean;
}

/** The thresholds of a run, evaluated against a MetricStore. */
export class ThresholdEvaluator {
  readonly thresholds: ParsedThreshold[];

  constructor(thresholds: Readonly<Record<string, readonly ThresholdSpec[]>>) {
    this.thresholds = [];
    for (const [metric, specs] of Object.entries(thresholds)) {
      for (const spec of specs) this.thresholds.push({ ...spec, metric, expression: parseThresholdExpression(spec.threshold) });
    }
  }

  /**
   * Registers the metrics and submetrics the thresholds need: a k6 built-in the driver does
   * not define yet is defined with k6's type, so its threshold is evaluated (on no samples if
   * nothing emits it) instead of vanishing.
   */
  register(store: MetricStore): void {
    for (const t of this.thresholds) {
      const { name } = parseMetricName(t.metric);
      const builtin = K6_BUILTIN_METRICS[name] ?? HARNESS_METRICS[name];
      if (!store.has(name) && builtin) store.define(name, builtin.type, builtin.contains);
      if (t.metric.includes('{')) store.submetric(t.metric);
    }
  }

  evaluate(store: MetricStore, elapsedMs: number, options: { ignoreEmptySinks: boolean }): ThresholdEvaluation {
    const verdicts: ThresholdVerdict[] = [];
    let abort = false;
    let ok = true;
    const byMetric = new Map<string, ParsedThreshold[]>();
    for (const t of this.thresholds) byMetric.set(t.metric, [...(byMetric.get(t.metric) ?? []), t]);
    for (const [metric, list] of byMetric) {
      const sink = store.sink(metric);
      const base = (t: ParsedThreshold): ThresholdVerdict => {
        const v: ThresholdVerdict = { metric, threshold: t.threshold, ok: true, abortOnFail: t.abortOnFail };
        if (t.delayAbortEvalMs !== undefined) v.delayAbortEvalMs = t.delayAbortEvalMs;
        return v;
      };
      const empty = !sink || sinkIsEmpty(sink);
      // A counter that saw nothing has a value, 0 (`ws_sessions{status:0}: count<1` is a real pass):
      // only trends, rates and gauges read a value they never measured.
      const noSamples = empty && sink?.type !== 'counter';
      if (!sink || (options.ignoreEmptySinks && empty)) {
        for (const t of list) verdicts.push(noSamples && !options.ignoreEmptySinks ? { ...base(t), noSamples: true } : base(t));
        continue;
      }
      const percentiles = list.filter((t) => t.expression.aggregation === 'p').map((t) => t.expression.percentile ?? 0);
      const values = sinkValues(sink, elapsedMs, percentiles);
      for (const t of list) {
        const verdict = base(t);
        if (noSamples) verdict.noSamples = true;
        const lhs = values.get(aggregationKey(t.expression));
        if (lhs !== undefined) {
          verdict.value = lhs;
          verdict.ok = compare(lhs, t.expression.operator, t.expression.value);
        }
        if (!verdict.ok) {
          ok = false;
          if (t.abortOnFail && (t.delayAbortEvalMs === undefined || t.delayAbortEvalMs < elapsedMs)) abort = true;
        }
        verdicts.push(verdict);
      }
    }
    return { verdicts, abort, ok };
  }
}

/** k6 evaluates thresholds during the run at this period (internal/metrics/engine: thresholdsRate). */
export const THRESHOLD_EVAL_PERIOD_MS = 2000;
