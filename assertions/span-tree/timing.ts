import type { NormalizedSpan, TraceTree } from '../../harness/traces/span-model.ts';
import { examples, formatMs, type AssertionResult } from '../result.ts';
import { describeSpan, spanEndMs } from '../selectors.ts';

/**
 * Timing integrity of parent/child pairs: a synchronous child runs inside its parent's time
 * span. A parent that ends before its children (a span ended where the work starts instead of
 * where it ends) makes every duration built on it a lie: a 1 ms detect stage passes any budget.
 *
 * Checked: every span with its parent in the same trace, except asynchronous messaging pairs,
 * where the consumer legitimately runs after the producer ended: a child of kind producer or
 * consumer, or a child of a producer. Across processes (a server span under its client) only the
 * start is checked: a server may end its span after the caller already has the answer (the
 * response went out, then its own bookkeeping, or an event loop busy elsewhere, delays the end;
 * a caller that gave up on a timeout leaves the server running). Within one process a child
 * that outlives its parent means the parent was ended too early. `skewMs` allows for clock
 * differences (default 20 ms: the processes share one host's clock).
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
  edge: 'starts before' | 'ends after';
}

function asynchronous(parent: NormalizedSpan, child: NormalizedSpan): boolean {
  return child.kind === 'producer' || child.kind === 'consumer' || parent.kind === 'producer';
}

/** Every violation of one trace, worst first. */
export function timingViolations(tree: TraceTree, skewMs = DEFAULT_SKEW_MS): TimingViolation[] {
  const out: TimingViolation[] = [];
  for (const child of tree.spans) {
    if (child.parentSpanId === undefined) continue;
    const parent = tree.span(child.parentSpanId);
    if (!parent || asynchronous(parent, child)) continue;
    const early = parent.startTimeMs - child.startTimeMs;
    if (early > skewMs) out.push({ traceId: tree.traceId, parent, child, byMs: early, edge: 'starts before' });
    const sameProcess = child.service === parent.service && child.kind !== 'server';
    const late = spanEndMs(child) - spanEndMs(parent);
    if (sameProcess && late > skewMs) out.push({ traceId: tree.traceId, parent, child, byMs: late, edge: 'ends after' });
  }
  return out.sort((a, b) => b.byMs - a.byMs);
}

function describeViolation(v: TimingViolation): string {
  const verb = v.edge === 'ends after' ? `ended ${formatMs(v.byMs)} before its child ${describeSpan(v.child)}` : `started ${formatMs(v.byMs)} after its child ${describeSpan(v.child)}`;
  return `${describeSpan(v.parent)} (${formatMs(v.parent.durationMs)}) ${verb} (trace ${v.traceId})`;
}

export function checkSpanTiming(traces: readonly TraceTree[], options: SpanTimingOptions = {}): AssertionResult {
  const skewMs = options.skewMs ?? DEFAULT_SKEW_MS;
  const name = options.name ?? 'span timing: children inside their parents';
  const bad = traces.map((t) => timingViolations(t, skewMs)).filter((list) => list.length > 0);
  const pairs = new Map<string, number>();
  for (const list of bad) {
    for (const v of list) {
      const pair = `${describeSpan(v.parent)} → ${describeSpan(v.child)}`;
      pairs.set(pair, (pairs.get(pair) ?? 0) + 1);
    }
  }
  const bound = { op: '==' as const, value: 0, unit: 'traces', text: `0 traces with a child outside its parent's time span (beyond ${skewMs} ms of clock skew)` };
  const measured = { value: bad.length, unit: 'traces', text: `${bad.length}/${traces.length} traces with a child outside its parent` };
  const details = { skewMs, traces: traces.length, badTraces: bad.length, pairs: [...pairs.entries()].sort((a, b) => b[1] - a[1]).map(([pair, count]) => ({ pair, count })) };
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
    message: `span timing broken in ${bad.length}/${traces.length} traces: ${worst.edge === 'ends after' ? 'a parent span ends before its children, so its duration understates the work' : 'a child starts before its parent'}: ${describeViolation(worst)}`,
    exampleTraceIds: examples(bad.map((list) => list[0]!.traceId)),
    details,
  };
}
