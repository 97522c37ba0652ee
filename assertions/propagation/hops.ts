import { z } from 'zod';
import { parseOrThrow } from '../../harness/config/validation.ts';
import type { NormalizedSpan, TraceTree } from '../../harness/traces/span-model.ts';
import { examples, type AssertionResult } from '../result.ts';
import { describeSelector, describeSpan, matchesSelector, SpanSelectorSchema, type SpanSelector } from '../selectors.ts';
import { descendantsOf } from '../span-tree/evaluate.ts';

/**
 * Propagation hops: "a span of `from` must have a span of `to` as its child (or descendant)
 * in the same trace". A hop is checked in every trace where it is exercised (a `from` span is
 * present); a trace where it is not exercised says nothing about it. The first hop of the
 * pipeline has no `from` span in the trace (the load driver's span is never exported), so it is
 * declared `from: 'traceparent'`: the `to` span's parent must be the span id the client sent.
 */

export interface TraceHop {
  name: string;
  from: SpanSelector;
  to: SpanSelector;
  /** Default `child`. */
  relation?: 'child' | 'descendant';
  /**
   * `every` (default): every `from` span must reach a `to` span; `some`: at least one (a call
   * retried after a refused connection has attempts that never reached the server).
   */
  fromSpans?: 'every' | 'some';
  /** When no trace exercises the hop: pass (`true`) or fail (default). */
  optional?: boolean;
}

export interface RemoteParentHop {
  name: string;
  from: 'traceparent';
  to: SpanSelector;
  optional?: boolean;
}

export type HopDefinition = TraceHop | RemoteParentHop;

export const HopDefinitionSchema = z.union(
  [
    z
      .object({
        name: z.string().min(1),
        from: SpanSelectorSchema,
        to: SpanSelectorSchema,
        relation: z.enum(['child', 'descendant']).optional(),
        fromSpans: z.enum(['every', 'some']).optional(),
        optional: z.boolean().optional(),
      })
      .strict(),
    z.object({ name: z.string().min(1), from: z.literal('traceparent'), to: SpanSelectorSchema, optional: z.boolean().optional() }).strict(),
  ],
  { error: 'expected a hop {name, from: selector | "traceparent", to: selector, relation?, fromSpans?, optional?}' },
);

export function parseHops(value: unknown, source = 'hops'): HopDefinition[] {
  return parseOrThrow(z.array(HopDefinitionSchema), value, source);
}

export type HopStatus = { state: 'ok' } | { state: 'not-exercised' } | { state: 'broken'; reason: string };

/** The span id each request sent in its traceparent, by trace id. */
export type SentSpanIds = ReadonlyMap<string, string>;

export function sentSpanIds(records: Iterable<{ traceId: string; clientSpanId?: string | undefined }>): Map<string, string> {
  const map = new Map<string, string>();
  for (const r of records) if (r.clientSpanId !== undefined) map.set(r.traceId, r.clientSpanId);
  return map;
}

function parentText(tree: TraceTree, span: NormalizedSpan): string {
  if (span.parentSpanId === undefined) return 'no parent (a root)';
  const parent = tree.span(span.parentSpanId);
  return parent ? `parent ${describeSpan(parent)}` : `parent ${span.parentSpanId}, absent from the trace`;
}

/** A hop's ends described once per hop object (hops are values: not changed after use). */
const descriptions = new WeakMap<HopDefinition, { from: string; to: string }>();
function describeHop(hop: HopDefinition): { from: string; to: string } {
  let d = descriptions.get(hop);
  if (d === undefined) {
    d = { from: hop.from === 'traceparent' ? 'a request traceparent' : describeSelector(hop.from), to: describeSelector(hop.to) };
    descriptions.set(hop, d);
  }
  return d;
}

/** The hop in one trace. */
export function evaluateHop(tree: TraceTree, hop: HopDefinition, sentSpanId?: string): HopStatus {
  if (hop.from === 'traceparent') {
    if (sentSpanId === undefined) return { state: 'not-exercised' };
    const targets = tree.spans.filter((s) => matchesSelector(s, hop.to));
    if (targets.some((s) => s.parentSpanId === sentSpanId)) return { state: 'ok' };
    const toDescription = describeHop(hop).to;
    if (targets.length === 0) return { state: 'broken', reason: `${toDescription} not in the trace the request started` };
    const first = targets[0]!;
    return { state: 'broken', reason: `${toDescription} has ${first.parentSpanId === undefined ? 'no parent' : `parent ${first.parentSpanId}`}, not the span id the request sent (${sentSpanId})` };
  }
  const sources = tree.spans.filter((s) => matchesSelector(s, hop.from as SpanSelector));
  if (sources.length === 0) return { state: 'not-exercised' };
  const relation = hop.relation ?? 'child';
  const reached = sources.map((f) => (relation === 'child' ? tree.childrenOf(f.spanId) : descendantsOf(tree, f)).some((s) => matchesSelector(s, hop.to)));
  const ok = (hop.fromSpans ?? 'every') === 'every' ? reached.every(Boolean) : reached.some(Boolean);
  if (ok) return { state: 'ok' };
  const fromSpan = sources[reached.indexOf(false)]!;
  const fromDescription = describeSpan(fromSpan);
  const toDescription = describeHop(hop).to;
  const elsewhere = tree.spans.filter((s) => matchesSelector(s, hop.to));
  if (elsewhere.length === 0) return { state: 'broken', reason: `${toDescription} not in the trace of ${fromDescription}` };
  return { state: 'broken', reason: `${toDescription} is in the trace but not a ${relation} of ${fromDescription} (it has ${parentText(tree, elsewhere[0]!)})` };
}

export interface HopCheckOptions {
  /** For `from: 'traceparent'` hops: span ids sent, by trace id (see `sentSpanIds`). */
  sent?: SentSpanIds;
}

/** One result per hop over a set of traces. */
export function checkHops(traces: readonly TraceTree[], hops: readonly HopDefinition[], options: HopCheckOptions = {}): AssertionResult[] {
  return hops.map((hop) => checkHop(traces, hop, options));
}

export function checkHop(traces: readonly TraceTree[], hop: HopDefinition, options: HopCheckOptions = {}): AssertionResult {
  let exercised = 0;
  const brokenTraces: string[] = [];
  const okTraces: string[] = [];
  const reasons = new Map<string, string[]>();
  for (const tree of traces) {
    const status = evaluateHop(tree, hop, options.sent?.get(tree.traceId));
    if (status.state === 'not-exercised') continue;
    exercised += 1;
    if (status.state === 'ok') {
      okTraces.push(tree.traceId);
      continue;
    }
    brokenTraces.push(tree.traceId);
    const list = reasons.get(status.reason);
    if (list) list.push(tree.traceId);
    else reasons.set(status.reason, [tree.traceId]);
  }
  const name = `hop: ${hop.name}`;
  const bound = { op: '==' as const, value: 0, unit: 'traces', text: '0 traces with the hop broken' };
  const { from: fromText, to: toText } = describeHop(hop);
  const grouped = [...reasons.entries()].map(([reason, ids]) => ({ reason, traces: ids.length, exampleTraceIds: examples(ids) })).sort((a, b) => b.traces - a.traces);
  const details = { hop: hop.name, from: fromText, to: toText, checkedTraces: traces.length, exercised, broken: brokenTraces.length, reasons: grouped };
  if (exercised === 0) {
    return {
      family: 'propagation',
      name,
      passed: hop.optional === true,
      measured: { value: null, unit: 'traces', text: `not exercised in any of ${traces.length} traces` },
      bound,
      message: `hop "${hop.name}" not exercised: no ${hop.from === 'traceparent' ? 'trace started by a recorded request' : fromText} in any of ${traces.length} traces${hop.optional ? ' (optional)' : ''}`,
      exampleTraceIds: [],
      details,
    };
  }
  const measured = { value: brokenTraces.length, unit: 'traces', text: `broken in ${brokenTraces.length}/${exercised} traces` };
  if (brokenTraces.length === 0) {
    return { family: 'propagation', name, passed: true, measured, bound, message: `hop "${hop.name}" intact in ${exercised}/${exercised} traces`, exampleTraceIds: examples(okTraces, 3), details };
  }
  const top = grouped[0]!;
  const more = grouped.length > 1 ? `; +${grouped.length - 1} other reason${grouped.length > 2 ? 's' : ''}` : '';
  return {
    family: 'propagation',
    name,
    passed: false,
    measured,
    bound,
    message: `hop "${hop.name}" broken in ${brokenTraces.length}/${exercised} traces: ${top.reason}${more}`,
    exampleTraceIds: examples(brokenTraces),
    details,
  };
}
