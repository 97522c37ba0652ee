import type { NormalizedSpan, TraceTree } from '../../harness/traces/span-model.ts';
import { examples, formatMs, type AssertionResult } from '../result.ts';
import { describeSpan, spanEndMs } from '../selectors.ts';

/**
 * Timing integrity of parent/child pairs: a synchronous child runs inside its parent's time
 * span. A parent that ends before its children (a span ended where the work starts instead of
 * where it ends) makes every duration built on it a lie: a 1 ms detect stage passes any budget.
 *
 * Checked: every span with its parent in the same trace, except asynchronous messaging pairs,
 * where the consumer legitimately runs after the producer ended (a child of kind producer or
 * consumer, or a child of a producer):
 * - no child starts before its parent (beyond `skewMs`);
 * - in one process (same service, child not a server span), no child starts after its parent
 *   ended: the parent was ended before the work it covers.
 * A child that starts inside its parent and ends after it is not a failure: that is
 * fire-and-forget work (a best-effort upsert after the answer, a server finishing its bookkeeping
 * after the caller has the response, a server going on after its caller timed out). Such pairs
 * are counted in `details.outliving`. `skewMs` allows for clock differences (default 20 ms: the
 * processes share one host's clock).
 */
export interface SpanTimingOptions {
  /** Allowance for clock differences between processes, ms (default 20). */
  skewMs?: number;
  /** Result name; default `span timing: children inside their parents`. */
  name?: string;
}

export const DEFAULT_SKEW_MS = 20;

export interface TimingViolation {
  traceId: string;
  parent: NormalizedSpan;
  child: NormalizedSpan;
  /** How far the child is outside, ms (beyond 0; compared with the allowance). */
  byMs: number;
  edge: 'starts before' | 'starts after the end of';
}

function asynchronous(parent: NormalizedSpan, child: NormalizedSpan): boolean {
  return child.kind === 'producer' || child.kind === 'consumer' || parent.kind === 'producer';
}

/** Every violation of one trace, worst first; `outliving` counts children that started inside and ended after their parent. */
export function timingViolations(tree: TraceTree, skewMs = DEFAULT_SKEW_MS, counters: { outliving: number } = { outliving: 0 }): TimingViolation[] {
  const out: TimingViolation[] = [];
  for (const child of tree.spans) {
    if (child.parentSpanId === undefined) continue;
    const parent = tree.span(child.parentSpanId);
    if (!parent || asynchronous(parent, child)) continue;
    const early = parent.startTimeMs - child.startTimeMs;
    if (early > skewMs) out.push({ traceId: tree.traceId, parent, child, byMs: early, edge: 'starts before' });
    const sameProcess = child.service === parent.service && child.kind !== 'server';
    const afterEnd = child.startTimeMs - spanEndMs(parent);
    if (sameProcess && afterEnd > skewMs) out.push({ traceId: tree.traceId, parent, child, byMs: afterEnd, edge: 'starts after the end of' });
    else if (spanEndMs(child) - spanEndMs(parent) > skewMs) counters.outliving += 1;
  }
  return out.sort((a, b) => b.byMs - a.byMs);
}

function describeViolation(v: TimingViolation): string {
  const verb = v.edge === 'starts after the end of' ? `ended ${formatMs(v.byMs)} before its child ${describeSpan(v.child)} started` : `started ${formatMs(v.byMs)} after its child ${describeSpan(v.child)}`;
  return `${describeSpan(v.parent)} (${formatMs(v.parent.durationMs)}) ${verb} (trace ${v.traceId})`;
}

export function checkSpanTiming(traces: readonly TraceTree[], options: SpanTimingOptions = {}): AssertionResult {
  const skewMs = options.skewMs ?? DEFAULT_SKEW_MS;
  const name = options.name ?? 'span timing: children inside their parents';
  const counters = { outliving: 0 };
  const bad = traces.map((t) => timingViolations(t, skewMs, counters)).filter((list) => list.length > 0);
  const pairs = new Map<string, number>();
  for (const list of bad) {
    for (const v of list) {
      const pair = `${describeSpan(v.parent)} → ${describeSpan(v.child)}`;
      pairs.set(pair, (pairs.get(pair) ?? 0) + 1);
    }
  }
  const bound = { op: '==' as const, value: 0, unit: 'traces', text: `0 traces with a child outside its parent's time span (beyond ${skewMs} ms of clock skew)` };
  const measured = { value: bad.length, unit: 'traces', text: `${bad.length}/${traces.length} traces with a child outside its parent` };
  const details = { skewMs, traces: traces.length, badTraces: bad.length, outliving: counters.outliving, pairs: [...pairs.entries()].sort((a, b) => b[1] - a[1]).map(([pair, count]) => ({ pair, count })) };
  if (traces.length === 0) {
    return { family: 'span-tree', name, passed: false, measured: { value: null, unit: 'traces', text: 'no traces' }, bound, message: 'span timing: no traces to check', exampleTraceIds: [], details };
  }
  if (bad.length === 0) {
    return { family: 'span-tree', name, passed: true, measured, bound, message: `span timing: every synchronous child inside its parent in ${traces.length} traces (allowance ${skewMs} ms)`, exampleTraceIds: [], details };
  }
  const worst = bad.map((list) => list[0]!).sort((a, b) => b.byMs - a.byMs)[0]!;
  return {
    family: 'span-tree',
    name,
    passed: false,
    measured,
    bound,
    message: `span timing broken in ${bad.length}/${traces.length} traces: ${worst.edge === 'starts after the end of' ? 'a parent span ends before the work it covers, so its duration understates it' : 'a child starts before its parent'}: ${describeViolation(worst)}`,
    exampleTraceIds: examples(bad.map((list) => list[0]!.traceId)),
    details,
  };
}
