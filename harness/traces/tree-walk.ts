import type { NormalizedSpan, TraceTree } from './span-model.ts';
import { matchesSelector, type SpanSelector } from './span-selector.ts';

/** Walking a trace tree: what hangs under a span (the span-tree checks and the stitching of broken traces use it). */

/** Every span under `span`, depth first (safe against parent cycles). */
export function descendantsOf(tree: TraceTree, span: NormalizedSpan): NormalizedSpan[] {
  const out: NormalizedSpan[] = [];
  const seen = new Set<string>([span.spanId]);
  const stack: NormalizedSpan[] = [];
  const top = tree.childrenOf(span.spanId);
  for (let i = top.length - 1; i >= 0; i--) stack.push(top[i]!);
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next.spanId)) continue;
    seen.add(next.spanId);
    out.push(next);
    const kids = tree.childrenOf(next.spanId);
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
  return out;
}

/** Whether `descendant` hangs (at any depth) under `ancestor` in this tree. */
export function isDescendant(tree: TraceTree, ancestor: NormalizedSpan, descendant: NormalizedSpan): boolean {
  const seen = new Set<string>();
  let parentId = descendant.parentSpanId;
  while (parentId !== undefined && !seen.has(parentId)) {
    if (parentId === ancestor.spanId) return true;
    seen.add(parentId);
    parentId = tree.span(parentId)?.parentSpanId;
  }
  return false;
}

/**
 * How many spans under `span` (at any depth) match `selector`: `descendantsOf(...).filter(...)`'s
 * length without the lists. Walked without a visited set: in a tree each span hangs under one
 * parent, so a walk that visits more spans than the trace holds went round a parent cycle, and
 * then the cycle-safe walk decides.
 */
export function countDescendants(tree: TraceTree, span: NormalizedSpan, selector: SpanSelector): number {
  const stack: NormalizedSpan[] = [];
  const top = tree.childrenOf(span.spanId);
  for (let i = top.length - 1; i >= 0; i--) stack.push(top[i]!);
  const limit = tree.spans.length;
  let visited = 0;
  let n = 0;
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (++visited > limit) return countMatching(descendantsOf(tree, span), selector);
    if (matchesSelector(next, selector)) n++;
    const kids = tree.childrenOf(next.spanId);
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
  return n;
}

function countMatching(spans: readonly NormalizedSpan[], selector: SpanSelector): number {
  let n = 0;
  for (const s of spans) if (matchesSelector(s, selector)) n++;
  return n;
}
