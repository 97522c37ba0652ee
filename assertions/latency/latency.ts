import { z } from 'zod';
import { percentile } from '../../harness/chaos/fault-impact.ts';
import { parseOrThrow } from '../../harness/config/validation.ts';
import { criticalPath } from '../../harness/traces/critical-path.ts';
import type { NormalizedSpan, TraceTree } from '../../harness/traces/span-model.ts';
import { hsiNames, type HsiNameOptions } from '../hsi/names.ts';
import type { StitchedPipeline } from '../propagation/stitch.ts';
import { examples, formatMs, type AssertionResult } from '../result.ts';
import { describeSelector, matchesSelector, TextMatcherSchema, type TextMatcher } from '../selectors.ts';

/**
 * Latency from span durations: percentiles per operation (service + span name), end to end per
 * upload (from stitched pipelines), critical-path breakdowns, and budgets. Percentiles use
 * `percentile` of harness/chaos/fault-impact.ts (linear interpolation between closest ranks).
 */

export interface LatencyStats {
  count: number;
  minMs: number | null;
  maxMs: number | null;
  meanMs: number | null;
  p50Ms: number | null;
  p90Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface OperationLatency extends LatencyStats {
  service: string;
  name: string;
}

export function latencyStats(durations: readonly number[]): LatencyStats {
  const sorted = [...durations].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    count: n,
    minMs: n === 0 ? null : sorted[0]!,
    maxMs: n === 0 ? null : sorted[n - 1]!,
    meanMs: n === 0 ? null : sorted.reduce((a, b) => a + b, 0) / n,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
  };
}

/** Every span once (by trace and span id), from trees or a flat list. */
export function uniqueSpans(source: readonly (TraceTree | NormalizedSpan)[]): NormalizedSpan[] {
  const seen = new Set<string>();
  const out: NormalizedSpan[] = [];
  const add = (s: NormalizedSpan) => {
    const key = `${s.traceId}:${s.spanId}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(s);
  };
  for (const item of source) {
    if ('spans' in item) for (const s of item.spans) add(s);
    else add(item);
  }
  return out;
}

/** Percentiles per operation (service + span name), sorted by service then name. */
export function operationLatencies(source: readonly (TraceTree | NormalizedSpan)[]): OperationLatency[] {
  const groups = new Map<string, { service: string; name: string; durations: number[] }>();
  for (const s of uniqueSpans(source)) {
    const key = `${s.service}\u0000${s.name}`;
    const g = groups.get(key);
    if (g) g.durations.push(s.durationMs);
    else groups.set(key, { service: s.service, name: s.name, durations: [s.durationMs] });
  }
  return [...groups.values()]
    .map((g) => ({ service: g.service, name: g.name, ...latencyStats(g.durations) }))
    .sort((a, b) => a.service.localeCompare(b.service) || a.name.localeCompare(b.name));
}

/** End-to-end (upload server span start → event_creation end) of every pipeline that has it. */
export function endToEndLatencies(pipelines: readonly StitchedPipeline[]): LatencyStats & { stitched: number; linked: number } {
  const withE2e = pipelines.filter((p) => p.endToEndMs !== undefined);
  return { ...latencyStats(withE2e.map((p) => p.endToEndMs!)), stitched: withE2e.filter((p) => p.stitched).length, linked: withE2e.filter((p) => !p.stitched).length };
}

export interface CriticalPathShare {
  service: string;
  name: string;
  /** Traces whose critical path went through this operation. */
  traces: number;
  selfMs: LatencyStats;
  waitMs: LatencyStats;
  /** Mean share of the path's total time spent in this operation's self time. */
  meanShare: number;
}

/** Where the time on critical paths goes, per operation, over many traces; largest mean share first. */
export function criticalPathBreakdown(traces: readonly TraceTree[]): CriticalPathShare[] {
  const groups = new Map<string, { service: string; name: string; self: number[]; wait: number[]; shares: number[] }>();
  for (const t of traces) {
    const path = criticalPath(t);
    if (!path || path.totalMs <= 0) continue;
    const perOp = new Map<string, { service: string; name: string; self: number; wait: number }>();
    for (const step of path.steps) {
      const key = `${step.span.service}\u0000${step.span.name}`;
      const e = perOp.get(key) ?? { service: step.span.service, name: step.span.name, self: 0, wait: 0 };
      e.self += step.selfMs;
      e.wait += step.waitMs;
      perOp.set(key, e);
    }
    for (const [key, e] of perOp) {
      const g = groups.get(key) ?? { service: e.service, name: e.name, self: [], wait: [], shares: [] };
      g.self.push(e.self);
      g.wait.push(e.wait);
      g.shares.push(e.self / path.totalMs);
      groups.set(key, g);
    }
  }
  return [...groups.values()]
    .map((g) => ({ service: g.service, name: g.name, traces: g.self.length, selfMs: latencyStats(g.self), waitMs: latencyStats(g.wait), meanShare: g.shares.reduce((a, b) => a + b, 0) / g.shares.length }))
    .sort((a, b) => b.meanShare - a.meanShare);
}

// ------------------------------------------------------------------ budgets

export interface LatencyBudget {
  /** Names the result; default derived from the operation and percentile. */
  name?: string;
  /** Spans of this operation (service optional; name exact or `{regex}`)... */
  operation?: { service?: TextMatcher; name: TextMatcher };
  /** ...or the end-to-end latency of stitched pipelines (upload → event). */
  endToEnd?: boolean;
  /** 0 < percentile ≤ 100, e.g. 95. */
  percentile: number;
  /** Passes when the percentile is UNDER this (the contract's "under 2 s"). */
  maxMs: number;
  /** With no samples: pass (`true`) or fail (default). */
  optional?: boolean;
}

export const LatencyBudgetSchema = z
  .object({
    name: z.string().min(1).optional(),
    operation: z.object({ service: TextMatcherSchema.optional(), name: TextMatcherSchema }).strict().optional(),
    endToEnd: z.boolean().optional(),
    percentile: z.number().gt(0, { error: 'percentile must be in (0, 100]' }).max(100, { error: 'percentile must be in (0, 100]' }),
    maxMs: z.number().positive(),
    optional: z.boolean().optional(),
  })
  .strict()
  .refine((b) => (b.operation !== undefined) !== (b.endToEnd === true), { error: 'a budget needs exactly one of operation or endToEnd: true' });

export function parseLatencyBudgets(value: unknown, source = 'latency budgets'): LatencyBudget[] {
  return parseOrThrow(z.array(LatencyBudgetSchema), value, source);
}

/** The contract's SLOs: 95 % of detect stages under 2 s, 95 % of analyze stages under 30 s. */
export function contractLatencyBudgets(options: HsiNameOptions & { analysis?: boolean } = {}): LatencyBudget[] {
  const { services, spans } = hsiNames(options);
  const budgets: LatencyBudget[] = [{ name: 'detect stage (SLO)', operation: { service: services.backend, name: spans.detectionProcessing }, percentile: 95, maxMs: 2000 }];
  budgets.push({ name: 'analyze stage (SLO)', operation: { service: services.backend, name: spans.analysisProcessing }, percentile: 95, maxMs: 30_000, optional: options.analysis !== true });
  return budgets;
}

export const CONTRACT_LATENCY_BUDGETS: readonly LatencyBudget[] = Object.freeze(contractLatencyBudgets({ analysis: true }));

export interface LatencyEvidence {
  traces?: readonly TraceTree[];
  spans?: readonly NormalizedSpan[];
  pipelines?: readonly StitchedPipeline[];
}

function pLabel(p: number): string {
  return `p${Number.isInteger(p) ? p : p.toFixed(1)}`;
}

export function checkLatencyBudgets(evidence: LatencyEvidence, budgets: readonly LatencyBudget[]): AssertionResult[] {
  const spans = uniqueSpans([...(evidence.traces ?? []), ...(evidence.spans ?? [])]);
  return budgets.map((b) => checkBudget(b, spans, evidence.pipelines ?? []));
}

function checkBudget(budget: LatencyBudget, spans: readonly NormalizedSpan[], pipelines: readonly StitchedPipeline[]): AssertionResult {
  const p = pLabel(budget.percentile);
  let subject: string;
  let samples: { ms: number; traceId: string }[];
  if (budget.operation) {
    const selector = budget.operation.service === undefined ? { name: budget.operation.name } : { service: budget.operation.service, name: budget.operation.name };
    subject = describeSelector(selector);
    samples = spans.filter((s) => matchesSelector(s, selector)).map((s) => ({ ms: s.durationMs, traceId: s.traceId }));
  } else {
    subject = 'end to end (upload → event)';
    samples = pipelines.filter((x) => x.endToEndMs !== undefined).map((x) => ({ ms: x.endToEndMs!, traceId: x.upload?.traceId ?? x.traceIds[0] ?? '' }));
  }
  const label = budget.name ?? `${subject} ${p}`;
  const name = `latency: ${label}`;
  const bound = { op: '<' as const, value: budget.maxMs, unit: 'ms', text: `${p} < ${budget.maxMs} ms` };
  if (samples.length === 0) {
    return {
      family: 'latency',
      name,
      passed: budget.optional === true,
      measured: { value: null, unit: 'ms', text: `${p} of no samples` },
      bound,
      message: `latency budget "${label}": no ${subject} samples${budget.optional ? ' (optional)' : ''}`,
      exampleTraceIds: [],
      details: { subject, percentile: budget.percentile, maxMs: budget.maxMs, samples: 0 },
    };
  }
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  const value = percentile(sorted, budget.percentile)!;
  const passed = value < budget.maxMs;
  const over = samples.filter((s) => s.ms >= budget.maxMs).sort((a, b) => b.ms - a.ms);
  const stats = latencyStats(sorted);
  return {
    family: 'latency',
    name,
    passed,
    measured: { value, unit: 'ms', text: `${p} ${formatMs(value)} (n=${samples.length})` },
    bound,
    message: passed
      ? `latency budget "${label}": ${subject} ${p} ${formatMs(value)} < ${budget.maxMs} ms (n=${samples.length})`
      : `latency budget "${label}" exceeded: ${subject} ${p} ${formatMs(value)}, bound < ${budget.maxMs} ms (n=${samples.length}, ${over.length} over the bound, slowest ${formatMs(sorted.at(-1))})`,
    exampleTraceIds: passed ? [] : examples(over.map((s) => s.traceId)),
    details: { subject, percentile: budget.percentile, maxMs: budget.maxMs, samples: samples.length, overBound: over.length, stats },
  };
}
