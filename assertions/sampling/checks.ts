import type { TraceTree } from '../../harness/traces/span-model.ts';
import { examples, type AssertionResult } from '../result.ts';
import { spanTreeFailures } from '../span-tree/evaluate.ts';
import type { SpanTreeInput } from '../span-tree/model.ts';
import { expectedSampling, type ExpectedSampling, type SamplingStrategies } from './strategies.ts';
import { describeInterval, wilsonInterval } from './wilson.ts';

/**
 * Sampling checks over per-request records: what the load driver sent (`sentSampledFlag`:
 * the traceparent's sampled flag, or undefined when it sent no traceparent and the service made
 * the root decision) and what Jaeger holds for the trace id (found, complete).
 */
export interface SamplingRecord {
  traceId: string;
  sentSampledFlag?: boolean | undefined;
  foundInJaeger: boolean;
  /** Found and holding every expected service/span (see `assessCompleteness`). */
  complete: boolean;
  /** What a found-but-partial trace lacks, for messages. */
  missing?: string[];
  /** Service and root operation the request hit (from the request side), for per-operation rates. */
  service?: string;
  operation?: string;
  /** The lookup failed (Jaeger unreachable…): the record is left out of every check. */
  error?: string;
}

export interface CompletenessSpec {
  services?: readonly string[];
  spanNames?: readonly string[];
  /** A span-tree expectation the trace must match. */
  tree?: SpanTreeInput;
}

export interface Completeness {
  found: boolean;
  complete: boolean;
  missing: string[];
}

/** Found and complete against the spec; `missing` names what is absent (services, spans, tree defects). */
export function assessCompleteness(tree: TraceTree | undefined, spec: CompletenessSpec): Completeness {
  if (!tree) return { found: false, complete: false, missing: [] };
  const services = new Set(tree.services());
  const names = new Set(tree.spanNames());
  const missing: string[] = [];
  for (const s of spec.services ?? []) if (!services.has(s)) missing.push(`service ${s}`);
  for (const n of spec.spanNames ?? []) if (!names.has(n)) missing.push(`span "${n}"`);
  if (spec.tree !== undefined) for (const f of spanTreeFailures(tree, spec.tree)) missing.push(f.detail);
  return { found: true, complete: missing.length === 0, missing };
}

function usable(records: readonly SamplingRecord[]): { ok: SamplingRecord[]; errors: number } {
  const ok = records.filter((r) => r.error === undefined);
  return { ok, errors: records.length - ok.length };
}

export interface SampleRateOptions {
  /** The configured rate (one group for all records). */
  rate?: number;
  /** Or: expected rates per root operation from a strategies file (records grouped by service/operation). */
  strategies?: SamplingStrategies;
  /** Service / operation of records that do not say; defaults for `strategies`. */
  service?: string;
  operation?: string;
  /** Default 0.99. */
  confidence?: number;
  /**
   * Records measured: `root-decision` (default) only those sent without a sampled flag (the
   * service decided), `all` every record.
   */
  include?: 'root-decision' | 'all';
  /** For rate-limited strategies: the load's duration, to bound the traces kept. */
  durationSeconds?: number;
}

/**
 * Observed fraction of traces found vs the configured rate. A group PASSES when the configured
 * rate lies inside the 99 % (configurable) Wilson score interval of the observed fraction; the
 * bound is stated in the result. One result per group (per root operation with `strategies`).
 */
export function checkSampleRate(records: readonly SamplingRecord[], options: SampleRateOptions): AssertionResult[] {
  if (options.rate === undefined && options.strategies === undefined) throw new Error('checkSampleRate: give a configured rate or a strategies file');
  const { ok, errors } = usable(records);
  const measured = (options.include ?? 'root-decision') === 'all' ? ok : ok.filter((r) => r.sentSampledFlag === undefined);
  const groups = new Map<string, { service: string | undefined; operation: string | undefined; records: SamplingRecord[] }>();
  for (const r of measured) {
    const service = options.rate === undefined ? (r.service ?? options.service) : options.service;
    const operation = options.rate === undefined ? (r.operation ?? options.operation) : options.operation;
    const key = `${service ?? ''}\u0000${operation ?? ''}`;
    const g = groups.get(key);
    if (g) g.records.push(r);
    else groups.set(key, { service, operation, records: [r] });
  }
  if (groups.size === 0) groups.set('', { service: options.service, operation: options.operation, records: [] });
  return [...groups.values()].map((g) => {
    let expected: ExpectedSampling;
    if (options.rate !== undefined) expected = { type: 'probabilistic', rate: options.rate, source: 'service' };
    else if (g.service === undefined) throw new Error('checkSampleRate: records without a service and no default service for the strategies file');
    else expected = expectedSampling(options.strategies!, g.service, g.operation);
    return rateResult(g.records, expected, g.service, g.operation, errors, options);
  });
}

function rateResult(records: readonly SamplingRecord[], expected: ExpectedSampling, service: string | undefined, operation: string | undefined, errors: number, options: SampleRateOptions): AssertionResult {
  const target = service === undefined ? '' : ` ${service}${operation ? ` "${operation}"` : ''}`;
  const name = `sampling rate${target}`;
  const found = records.filter((r) => r.foundInJaeger).length;
  const n = records.length;
  const confidence = options.confidence ?? 0.99;
  const foundIds = records.filter((r) => r.foundInJaeger).map((r) => r.traceId);
  if (expected.type === 'ratelimiting') {
    const limit = options.durationSeconds === undefined ? undefined : Math.ceil(expected.tracesPerSecond * options.durationSeconds) + Math.ceil(expected.tracesPerSecond);
    const passed = limit !== undefined && found <= limit;
    return {
      family: 'sampling',
      name,
      passed,
      measured: { value: found, unit: 'traces', text: `${found} of ${n} requests kept` },
      bound: { op: '<=', value: limit ?? null, unit: 'traces', text: limit === undefined ? `rate-limited ${expected.tracesPerSecond}/s: needs durationSeconds` : `≤ ${limit} traces (${expected.tracesPerSecond}/s over ${options.durationSeconds} s, one second of burst)` },
      message:
        limit === undefined
          ? `sampling${target}: strategy is rate-limited (${expected.tracesPerSecond} traces/s); give durationSeconds to check it`
          : passed
            ? `sampling${target}: ${found} traces kept, within the rate limit (${limit})`
            : `sampling${target}: ${found} traces kept, over the rate limit of ${expected.tracesPerSecond}/s (≤ ${limit} in ${options.durationSeconds} s)`,
      exampleTraceIds: passed ? [] : examples(foundIds),
      details: { expected, found, requests: n, lookupErrors: errors },
    };
  }
  const rate = expected.rate;
  if (n === 0) {
    return {
      family: 'sampling',
      name,
      passed: false,
      measured: { value: null, unit: 'fraction', text: 'no requests measured' },
      bound: { op: 'within', value: rate, unit: 'fraction', text: `configured rate ${rate} inside the ${confidence * 100} % Wilson interval` },
      message: `sampling${target}: no requests without a sampling decision to measure (send some without traceparent, or include: 'all')`,
      exampleTraceIds: [],
      details: { expected, requests: 0, lookupErrors: errors },
    };
  }
  const w = wilsonInterval(found, n, confidence);
  const passed = rate >= w.low && rate <= w.high;
  const side = rate < w.low ? 'above' : 'below';
  return {
    family: 'sampling',
    name,
    passed,
    measured: { value: w.observed, unit: 'fraction', text: describeInterval(w) },
    bound: { op: 'within', value: rate, unit: 'fraction', text: `configured rate ${rate} (${expected.source}) inside the ${w.confidence * 100} % Wilson interval [${w.low.toFixed(4)}, ${w.high.toFixed(4)}] of the observed fraction` },
    message: passed
      ? `sampling${target}: observed ${describeInterval(w)} is consistent with the configured rate ${rate}`
      : `sampling${target}: observed ${describeInterval(w)} is ${side} the configured rate ${rate}: ${rate} lies outside the interval`,
    exampleTraceIds: passed ? [] : examples(side === 'above' ? foundIds : records.filter((r) => !r.foundInJaeger).map((r) => r.traceId)),
    details: { expected, found, requests: n, interval: { low: w.low, high: w.high, center: w.center, confidence: w.confidence, z: w.z }, lookupErrors: errors },
  };
}

/**
 * Parent-based consistency: a request sent with sampled=0 must leave NO spans; one sent with
 * sampled=1 must leave a complete trace. Two results. A side no request exercised passes as
 * "not exercised" unless `requireExercised` (a sampling scenario that meant to send both).
 */
export function checkParentBasedSampling(records: readonly SamplingRecord[], options: { requireExercised?: boolean } = {}): AssertionResult[] {
  const vacuous = options.requireExercised !== true;
  const { ok, errors } = usable(records);
  const unsampled = ok.filter((r) => r.sentSampledFlag === false);
  const leaked = unsampled.filter((r) => r.foundInJaeger);
  const sampled = ok.filter((r) => r.sentSampledFlag === true);
  const notFound = sampled.filter((r) => !r.foundInJaeger);
  const partial = sampled.filter((r) => r.foundInJaeger && !r.complete);
  const results: AssertionResult[] = [];
  results.push({
    family: 'sampling',
    name: 'parent-based: sampled=0 leaves no spans',
    passed: (unsampled.length > 0 || vacuous) && leaked.length === 0,
    measured: { value: unsampled.length === 0 ? null : leaked.length, unit: 'requests', text: `${leaked.length}/${unsampled.length} sampled=0 requests left spans` },
    bound: { op: '==', value: 0, unit: 'requests', text: '0 sampled=0 requests with spans' },
    message:
      unsampled.length === 0
        ? 'parent-based sampling: not exercised: no request was sent with sampled=0'
        : leaked.length === 0
          ? `parent-based sampling: none of ${unsampled.length} sampled=0 requests left spans`
          : `parent-based sampling broken: ${leaked.length}/${unsampled.length} requests sent with sampled=0 left spans in Jaeger (a sampler ignores the parent's decision)`,
    exampleTraceIds: examples(leaked.map((r) => r.traceId)),
    details: { sentUnsampled: unsampled.length, withSpans: leaked.length, lookupErrors: errors },
  });
  const bad = notFound.length + partial.length;
  results.push({
    family: 'sampling',
    name: 'parent-based: sampled=1 leaves complete traces',
    passed: (sampled.length > 0 || vacuous) && bad === 0,
    measured: { value: sampled.length === 0 ? null : bad, unit: 'requests', text: `${notFound.length} missing, ${partial.length} partial of ${sampled.length} sampled=1 requests` },
    bound: { op: '==', value: 0, unit: 'requests', text: '0 sampled=1 requests missing or partial' },
    message:
      sampled.length === 0
        ? 'parent-based sampling: not exercised: no request was sent with sampled=1'
        : bad === 0
          ? `parent-based sampling: all ${sampled.length} sampled=1 requests left complete traces`
          : sampledTraceMessage(bad, sampled.length, notFound, partial),
    exampleTraceIds: examples([...notFound, ...partial].map((r) => r.traceId)),
    details: { sentSampled: sampled.length, notFound: notFound.length, partial: partial.length, lookupErrors: errors },
  });
  return results;
}

/**
 * Names the cause the evidence supports: a sampled=1 trace missing from Jaeger is a sampling
 * (or export) fault; a trace that is there but lacks a part is a lost span or a span attached to
 * the wrong parent, which the span-tree and propagation results locate; it is not a sampler bug.
 */
function sampledTraceMessage(bad: number, total: number, notFound: readonly SamplingRecord[], partial: readonly SamplingRecord[]): string {
  const head = `${bad}/${total} requests sent with sampled=1 did not leave a complete trace`;
  const lacks = partial[0]?.missing?.length ? `: trace ${partial[0].traceId} lacks ${partial[0].missing[0]}` : '';
  if (notFound.length === 0) return `${head}: all ${partial.length} are in Jaeger but partial (a span lost or attached to the wrong parent, not a sampling decision${lacks})`;
  if (partial.length === 0) return `parent-based sampling broken: ${head}: ${notFound.length} not in Jaeger although the request said sampled=1 (the parent's decision was not followed, or the spans were never exported)`;
  return `${head}: ${notFound.length} not in Jaeger (parent-based sampling or export), ${partial.length} partial (a span lost or attached to the wrong parent${lacks})`;
}

/** No partial traces: every trace found holds every expected part. */
export function checkNoPartialTraces(records: readonly SamplingRecord[]): AssertionResult {
  const { ok, errors } = usable(records);
  const found = ok.filter((r) => r.foundInJaeger);
  const partial = found.filter((r) => !r.complete);
  const counts = new Map<string, number>();
  for (const r of partial) for (const m of r.missing ?? []) counts.set(m, (counts.get(m) ?? 0) + 1);
  const lacking = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([what, traces]) => ({ what, traces }));
  const first = partial[0];
  return {
    family: 'sampling',
    name: 'no partial traces',
    passed: found.length > 0 && partial.length === 0,
    measured: { value: partial.length, unit: 'traces', text: `${partial.length}/${found.length} found traces partial` },
    bound: { op: '==', value: 0, unit: 'traces', text: '0 partial traces' },
    message:
      found.length === 0
        ? 'no partial traces: no trace found to check'
        : partial.length === 0
          ? `no partial traces: all ${found.length} found traces complete`
          : `${partial.length}/${found.length} found traces are partial: trace ${first!.traceId} lacks ${first!.missing?.[0] ?? 'expected parts'}${lacking.length > 1 ? ` (+${lacking.length - 1} other missing part${lacking.length > 2 ? 's' : ''})` : ''}`,
    exampleTraceIds: examples(partial.map((r) => r.traceId)),
    details: { found: found.length, partial: partial.length, lacking, lookupErrors: errors },
  };
}
