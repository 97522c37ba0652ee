import type { NormalizedSpan, TraceTree } from '../../harness/traces/span-model.ts';
import { examples, formatMs, type AssertionResult } from '../result.ts';
import { attributeOf, describeSelector, describeSpan, matchesSelector, spanEndMs, valueText, type SpanSelector } from '../selectors.ts';

/**
 * Resilience behaviour seen in spans, checked against the configured settings (family `errors`):
 *
 * - **Retries**: under each `parent` span (one job), at most `maxAttempts` `attempt` spans; between
 *   attempt `a` (attribute `attemptAttribute`, 0-based) and the next one at least the configured
 *   backoff before retry `a + 1`: `min(capMs, baseMs · 2^a) · (1 − jitter)`, less `skewMs`.
 * - **Circuit breaker**: `threshold` failed attempts in a row (attempt spans in error, ordered by
 *   end, excluding those `ignore` matches, e.g. 4xx) must be followed by an `opened` span event;
 *   after `opened`, no `halfOpened` event earlier than `recoveryMs`. Attempts of unsampled jobs
 *   are invisible: with `evidenceComplete: false` a run of `2 × threshold` is required before a
 *   missing opening counts (an unseen success could have reset the count).
 */
export interface RetryPolicy {
  name: string;
  parent: SpanSelector;
  attempt: SpanSelector;
  attemptAttribute: string;
  maxAttempts: number;
  baseMs: number;
  capMs: number;
  jitter: number;
  /** Where the values come from, for messages (`DETECTOR_MAX_RETRIES=2`). */
  source: string;
}

export interface BreakerPolicy {
  name: string;
  attempt: SpanSelector;
  /** Failed attempts that do not count (e.g. 4xx answers). */
  ignore?: (span: NormalizedSpan) => boolean;
  threshold: number;
  recoveryMs: number;
  events: { opened: string; halfOpened: string };
  source: string;
}

export interface ResilienceOptions {
  skewMs?: number;
  evidenceComplete?: boolean;
}

const SKEW_MS = 20;

interface RetryViolation {
  traceId: string;
  text: string;
}

function attemptIndex(span: NormalizedSpan, attribute: string, fallback: number): number {
  const v = attributeOf(span, attribute);
  const n = v === undefined ? Number.NaN : Number(valueText(v));
  return Number.isInteger(n) && n >= 0 ? n : fallback;
}

function retryViolations(tree: TraceTree, policy: RetryPolicy, skewMs: number): { jobs: number; retries: number; violations: RetryViolation[] } {
  const violations: RetryViolation[] = [];
  let jobs = 0;
  let retries = 0;
  for (const parent of tree.spans.filter((s) => matchesSelector(s, policy.parent))) {
    const attempts = tree.childrenOf(parent.spanId).filter((s) => matchesSelector(s, policy.attempt)).sort((a, b) => a.startTimeMs - b.startTimeMs);
    if (attempts.length === 0) continue;
    jobs += 1;
    retries += attempts.length - 1;
    if (attempts.length > policy.maxAttempts) {
      violations.push({ traceId: tree.traceId, text: `${describeSpan(parent)} made ${attempts.length} ${describeSpan(attempts[0]!)} attempts, more than the configured ${policy.maxAttempts} (${policy.source})` });
    }
    for (let i = 0; i + 1 < attempts.length; i++) {
      const a = attemptIndex(attempts[i]!, policy.attemptAttribute, i);
      const expected = Math.min(policy.capMs, policy.baseMs * 2 ** a) * (1 - policy.jitter);
      const gap = attempts[i + 1]!.startTimeMs - spanEndMs(attempts[i]!);
      if (gap < expected - skewMs) {
        violations.push({ traceId: tree.traceId, text: `retry ${a + 1} of ${describeSpan(parent)} started ${formatMs(Math.max(0, gap))} after the failed attempt; the configured backoff is at least ${formatMs(expected)} (${policy.source})` });
      }
    }
  }
  return { jobs, retries, violations };
}

export function checkRetries(traces: readonly TraceTree[], policy: RetryPolicy, options: ResilienceOptions = {}): AssertionResult {
  const skewMs = options.skewMs ?? SKEW_MS;
  let jobs = 0;
  let retries = 0;
  const violations: RetryViolation[] = [];
  for (const t of traces) {
    const r = retryViolations(t, policy, skewMs);
    jobs += r.jobs;
    retries += r.retries;
    violations.push(...r.violations);
  }
  const name = `resilience: ${policy.name} retries`;
  const bound = { op: '==' as const, value: 0, unit: 'violations', text: `≤ ${policy.maxAttempts} attempts per job, backoff ${formatMs(policy.baseMs)} · 2^n ± ${Math.round(policy.jitter * 100)} % (${policy.source})` };
  const measured = { value: violations.length, unit: 'violations', text: `${violations.length} violations in ${retries} retries of ${jobs} jobs` };
  const details = { jobs, retries, violations: violations.length, policy: { maxAttempts: policy.maxAttempts, baseMs: policy.baseMs, capMs: policy.capMs, jitter: policy.jitter, source: policy.source } };
  if (violations.length === 0) {
    const what = jobs === 0 ? `no ${describeSelector(policy.parent)} with ${describeSelector(policy.attempt)} attempts to check` : `${retries} retries in ${jobs} jobs follow the configured attempts and backoff`;
    return { family: 'errors', name, passed: true, measured, bound, message: `${policy.name} retries: ${what}`, exampleTraceIds: [], details };
  }
  return {
    family: 'errors',
    name,
    passed: false,
    measured,
    bound,
    message: `${policy.name} retries break the configured policy (${violations.length} violations): ${violations[0]!.text} (trace ${violations[0]!.traceId})`,
    exampleTraceIds: examples(violations.map((v) => v.traceId)),
    details,
  };
}

interface Timed {
  atMs: number;
  kind: 'failure' | 'success' | 'opened' | 'halfOpened';
  traceId: string;
}

function breakerTimeline(traces: readonly TraceTree[], policy: BreakerPolicy): Timed[] {
  const out: Timed[] = [];
  const seen = new Set<string>();
  for (const t of traces) {
    for (const s of t.spans) {
      const key = `${s.traceId}:${s.spanId}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (matchesSelector(s, policy.attempt) && !policy.ignore?.(s)) out.push({ atMs: spanEndMs(s), kind: s.status.code === 'error' ? 'failure' : 'success', traceId: t.traceId });
      for (const e of s.events) {
        if (e.name === policy.events.opened) out.push({ atMs: s.startTimeMs + e.timeMs, kind: 'opened', traceId: t.traceId });
        if (e.name === policy.events.halfOpened) out.push({ atMs: s.startTimeMs + e.timeMs, kind: 'halfOpened', traceId: t.traceId });
      }
    }
  }
  return out.sort((a, b) => a.atMs - b.atMs);
}

/** The first problem of the breaker's timeline, if any. */
function breakerProblem(timeline: readonly Timed[], policy: BreakerPolicy, needed: number, skewMs: number): { text: string; traceId: string } | undefined {
  let run: Timed[] = [];
  let openedAt: number | undefined;
  for (const item of timeline) {
    if (item.kind === 'opened') {
      openedAt = item.atMs;
      run = [];
    } else if (item.kind === 'halfOpened') {
      if (openedAt !== undefined && item.atMs < openedAt + policy.recoveryMs - skewMs) {
        return { text: `the breaker went half-open ${formatMs(item.atMs - openedAt)} after opening; the configured recovery is ${formatMs(policy.recoveryMs)} (${policy.source})`, traceId: item.traceId };
      }
      openedAt = undefined;
    } else if (item.kind === 'success') {
      run = [];
    } else if (openedAt === undefined) {
      run.push(item);
      // Grace: the opening event lands just after the failing attempt's span ended.
      const opener = timeline.find((t) => t.kind === 'opened' && t.atMs >= run[0]!.atMs - skewMs && t.atMs <= item.atMs + 1000);
      if (run.length >= needed && opener === undefined) {
        return { text: `${run.length} ${describeSelector(policy.attempt)} attempts failed in a row and the breaker never opened; the configured threshold is ${policy.threshold} (${policy.source})`, traceId: item.traceId };
      }
    }
  }
  return undefined;
}

export function checkCircuitBreaker(traces: readonly TraceTree[], policy: BreakerPolicy, options: ResilienceOptions = {}): AssertionResult {
  const skewMs = options.skewMs ?? SKEW_MS;
  const needed = options.evidenceComplete === false ? policy.threshold * 2 : policy.threshold;
  const timeline = breakerTimeline(traces, policy);
  const failures = timeline.filter((t) => t.kind === 'failure').length;
  const openings = timeline.filter((t) => t.kind === 'opened').length;
  const problem = breakerProblem(timeline, policy, needed, skewMs);
  const name = `resilience: ${policy.name} circuit breaker`;
  const bound = { op: '==' as const, value: 0, unit: 'violations', text: `opens after ${policy.threshold} failures in a row${needed !== policy.threshold ? ` (${needed} seen, as unsampled jobs are invisible)` : ''}, stays open ${formatMs(policy.recoveryMs)} (${policy.source})` };
  const measured = { value: problem ? 1 : 0, unit: 'violations', text: `${failures} failed attempts, ${openings} openings` };
  const details = { failures, openings, threshold: policy.threshold, needed, recoveryMs: policy.recoveryMs, source: policy.source };
  if (!problem) {
    return { family: 'errors', name, passed: true, measured, bound, message: `${policy.name} circuit breaker: ${failures} failed attempts, ${openings} openings, consistent with the configured threshold and recovery`, exampleTraceIds: [], details };
  }
  return { family: 'errors', name, passed: false, measured, bound, message: `${policy.name} circuit breaker does not follow its settings: ${problem.text} (trace ${problem.traceId})`, exampleTraceIds: [problem.traceId], details };
}
