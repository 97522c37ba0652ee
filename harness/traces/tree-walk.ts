import type { NormalizedSpan, TraceTree } from './span-model.ts';

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
