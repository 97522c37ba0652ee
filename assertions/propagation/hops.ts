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

/** A hop's ends and result name described once per hop object (hops are values: not changed after use). */
const descriptions = new WeakMap<HopDefinition, { from: string; to: string; name: string }>();
function describeHop(hop: HopDefinition): { from: string; to: string; name: string } {
  let d = descriptions.get(hop);
  if (d === undefined) {
    d = { from: hop.from === 'traceparent' ? 'a request traceparent' : describeSelector(hop.from), to: describeSelector(hop.to), name: `hop: ${hop.name}` };
    descriptions.set(hop, d);
  }
  return d;
}

/** The first span of `spans` matching `selector`, from index `from` on; -1 when none. */
function firstMatch(spans: readonly NormalizedSpan[], selector: SpanSelector, from = 0): number {
  for (let i = from; i < spans.length; i++) if (matchesSelector(spans[i]!, selector)) return i;
  return -1;
}

/** Whether a span matching `to` hangs under `from` (as a child, or at any depth). */
function reaches(tree: TraceTree, from: NormalizedSpan, to: SpanSelector, relation: 'child' | 'descendant'): boolean {
  return firstMatch(relation === 'child' ? tree.childrenOf(from.spanId) : descendantsOf(tree, from), to) >= 0;
}

/** The hop in one trace; one pass over the spans, no intermediate lists on the passing path. */
export function evaluateHop(tree: TraceTree, hop: HopDefinition, sentSpanId?: string): HopStatus {
  const spans = tree.spans;
  if (hop.from === 'traceparent') {
    if (sentSpanId === undefined) return { state: 'not-exercised' };
    const first = firstMatch(spans, hop.to);
    for (let i = first; i >= 0; i = firstMatch(spans, hop.to, i + 1)) if (spans[i]!.parentSpanId === sentSpanId) return OK;
    const toDescription = describeHop(hop).to;
    if (first < 0) return { state: 'broken', reason: `${toDescription} not in the trace the request started` };
    const parent = spans[first]!.parentSpanId;
    return { state: 'broken', reason: `${toDescription} has ${parent === undefined ? 'no parent' : `parent ${parent}`}, not the span id the request sent (${sentSpanId})` };
  }
  const from = hop.from;
  const relation = hop.relation ?? 'child';
  const every = (hop.fromSpans ?? 'every') === 'every';
  let exercised = false;
  let unreached: NormalizedSpan | undefined;
  for (let i = firstMatch(spans, from); i >= 0; i = firstMatch(spans, from, i + 1)) {
    exercised = true;
    const source = spans[i]!;
    if (reaches(tree, source, hop.to, relation)) {
      if (!every) return OK;
    } else {
      unreached ??= source;
      if (every) break;
    }
  }
  if (!exercised) return NOT_EXERCISED;
  if (unreached === undefined) return OK;
  const fromDescription = describeSpan(unreached);
  const toDescription = describeHop(hop).to;
  const elsewhere = firstMatch(spans, hop.to);
  if (elsewhere < 0) return { state: 'broken', reason: `${toDescription} not in the trace of ${fromDescription}` };
  return { state: 'broken', reason: `${toDescription} is in the trace but not a ${relation} of ${fromDescription} (it has ${parentText(tree, spans[elsewhere]!)})` };
}
const OK: HopStatus = Object.freeze({ state: 'ok' as const });
const NOT_EXERCISED: HopStatus = Object.freeze({ state: 'not-exercised' as const });

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
  // Lists created when first needed, and at their size: results of one trace are built per trace
  // on hot paths (an empty list's first push allocates room for 16).
  let brokenTraces: string[] | undefined;
  /** Only as many as a pass lists (the first three distinct), not one per trace. */
  let okTraces: string[] | undefined;
  let reasons: Map<string, string[]> | undefined;
  const sent = hop.from === 'traceparent' ? options.sent : undefined;
  for (const tree of traces) {
    const status = evaluateHop(tree, hop, sent?.get(tree.traceId));
    if (status.state === 'not-exercised') continue;
    exercised += 1;
    if (status.state === 'ok') {
      if (okTraces === undefined) okTraces = [tree.traceId];
      else if (okTraces.length < 3 && !okTraces.includes(tree.traceId)) okTraces.push(tree.traceId);
      continue;
    }
    if (brokenTraces === undefined) brokenTraces = [tree.traceId];
    else brokenTraces.push(tree.traceId);
    reasons ??= new Map();
    const list = reasons.get(status.reason);
    if (list) list.push(tree.traceId);
    else reasons.set(status.reason, [tree.traceId]);
  }
  const bound = { op: '==' as const, value: 0, unit: 'traces', text: '0 traces with the hop broken' };
  const { from: fromText, to: toText, name } = describeHop(hop);
  const broken = brokenTraces?.length ?? 0;
  const grouped = reasons === undefined ? [] : [...reasons.entries()].map(([reason, ids]) => ({ reason, traces: ids.length, exampleTraceIds: examples(ids) })).sort((a, b) => b.traces - a.traces);
  const details = { hop: hop.name, from: fromText, to: toText, checkedTraces: traces.length, exercised, broken, reasons: grouped };
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
  const measured = { value: broken, unit: 'traces', text: `broken in ${broken}/${exercised} traces` };
  if (brokenTraces === undefined) {
    return { family: 'propagation', name, passed: true, measured, bound, message: `hop "${hop.name}" intact in ${exercised}/${exercised} traces`, exampleTraceIds: okTraces ?? [], details };
  }
  const top = grouped[0]!;
  const more = grouped.length > 1 ? `; +${grouped.length - 1} other reason${grouped.length > 2 ? 's' : ''}` : '';
  return {
    family: 'propagation',
    name,
    passed: false,
    measured,
    bound,
    message: `hop "${hop.name}" broken in ${broken}/${exercised} traces: ${top.reason}${more}`,
    exampleTraceIds: examples(brokenTraces),
    details,
  };
}
