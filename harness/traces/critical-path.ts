import type { NormalizedSpan, TraceTree } from './span-model.ts';

/**
 * The critical path of a trace: the chain of work that decided when the trace ended.
 *
 * Walking back from the end: under a span, take the child whose subtree ends last, follow it
 * down, then continue before that child's start with the child that ends last before it, and
 * so on; time under the span not covered by a chosen child is the span's own. This is Jaeger
 * UI's algorithm with one change for pipelines: a child may end after its parent (a queue
 * consumer under a producer span that returned long ago), so a span's reach is the end of its
 * whole subtree, not its own end, and the part of a gap that lies after the span's own end is
 * reported as `wait` (e.g. queue wait), not as the span's self time.
 *
 * Times are epoch milliseconds (floats). Children that start before their parent (clock skew)
 * are clipped to the parent's start.
 */

export interface CriticalPathSegment {
  spanId: string;
  startMs: number;
  endMs: number;
  /** `self`: inside the span's own [start, end]; `wait`: after its end, before a descendant's work. */
  kind: 'self' | 'wait';
}

export interface CriticalPathStep {
  span: NormalizedSpan;
  /** Time on the path spent in this span itself (not in a child on the path). */
  selfMs: number;
  /** Time on the path between this span's end and the later work of a descendant. */
  waitMs: number;
}

export interface CriticalPath {
  rootSpanId: string;
  startMs: number;
  endMs: number;
  totalMs: number;
  /** In time order; they tile [startMs, endMs] without overlap. */
  segments: CriticalPathSegment[];
  /** Each span on the path once, in order of its first segment. */
  steps: CriticalPathStep[];
}

const endOf = (s: NormalizedSpan) => s.startTimeMs + s.durationMs;

/**
 * The critical path from `rootSpanId`, or from the root whose subtree ends last. Undefined for
 * an empty trace or an unknown span id.
 */
export function criticalPath(tree: TraceTree, rootSpanId?: string): CriticalPath | undefined {
  const reach = new Map<string, number>();
  const reachOf = (span: NormalizedSpan, visiting: Set<string> = new Set()): number => {
    const known = reach.get(span.spanId);
    if (known !== undefined) return known;
    visiting.add(span.spanId);
    let end = endOf(span);
    for (const c of tree.childrenOf(span.spanId)) if (!visiting.has(c.spanId)) end = Math.max(end, reachOf(c, visiting));
    visiting.delete(span.spanId);
    reach.set(span.spanId, end);
    return end;
  };

  let root: NormalizedSpan | undefined;
  if (rootSpanId !== undefined) root = tree.span(rootSpanId);
  else {
    for (const r of tree.roots) {
      if (root === undefined || reachOf(r) > reachOf(root)) root = r;
    }
  }
  if (root === undefined) return undefined;

  const onPath = new Set<string>();
  const gap = (span: NormalizedSpan, from: number, to: number, out: CriticalPathSegment[]) => {
    if (!(to > from)) return;
    const ownEnd = endOf(span);
    const selfEnd = Math.min(to, ownEnd);
    // Reverse order: the later (wait) part first, since segments are collected backwards.
    if (to > Math.max(from, ownEnd)) out.push({ spanId: span.spanId, startMs: Math.max(from, ownEnd), endMs: to, kind: 'wait' });
    if (selfEnd > from) out.push({ spanId: span.spanId, startMs: from, endMs: selfEnd, kind: 'self' });
  };

  // Collects segments backwards (latest first).
  const walk = (span: NormalizedSpan, out: CriticalPathSegment[], floor: number) => {
    onPath.add(span.spanId);
    const lo = Math.max(span.startTimeMs, floor);
    let cursor = reachOf(span);
    const remaining = tree.childrenOf(span.spanId).filter((c) => !onPath.has(c.spanId));
    for (;;) {
      let best: NormalizedSpan | undefined;
      for (const c of remaining) {
        const r = reachOf(c);
        if (r > cursor || r <= lo) continue;
        if (best === undefined || r > reachOf(best) || (r === reachOf(best) && c.startTimeMs < best.startTimeMs)) best = c;
      }
      if (best === undefined) break;
      remaining.splice(remaining.indexOf(best), 1);
      gap(span, reachOf(best), cursor, out);
      walk(best, out, lo);
      cursor = Math.max(lo, best.startTimeMs);
      if (cursor <= lo) break;
    }
    gap(span, lo, cursor, out);
  };

  const backwards: CriticalPathSegment[] = [];
  walk(root, backwards, -Infinity);
  const segments = backwards.reverse();
  const steps = new Map<string, CriticalPathStep>();
  for (const seg of segments) {
    let step = steps.get(seg.spanId);
    if (!step) {
      step = { span: tree.span(seg.spanId)!, selfMs: 0, waitMs: 0 };
      steps.set(seg.spanId, step);
    }
    if (seg.kind === 'self') step.selfMs += seg.endMs - seg.startMs;
    else step.waitMs += seg.endMs - seg.startMs;
  }
  const startMs = root.startTimeMs;
  const endMs = reachOf(root);
  return { rootSpanId: root.spanId, startMs, endMs, totalMs: endMs - startMs, segments, steps: [...steps.values()] };
}
