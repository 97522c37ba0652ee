import type { NormalizedSpan, TraceTree } from '../../harness/traces/span-model.ts';
import { descendantsOf, isDescendant } from '../../harness/traces/tree-walk.ts';
import { examples, type AssertionResult } from '../result.ts';
import {
  attributeOf,
  checkAttributeValue,
  describeAttributeCheck,
  describeSelector,
  describeSpan,
  matchesSelector,
  spanRef,
  valueText,
  type SpanRef,
} from '../selectors.ts';
import { countBounds, toExpectation, type SpanTreeExpectation, type SpanTreeInput, type SpanTreeNode } from './model.ts';

/** Tree walking lives in harness/traces/tree-walk.ts (the stitching uses it too). */
export { descendantsOf, isDescendant } from '../../harness/traces/tree-walk.ts';

export interface SpanTreeFailure {
  traceId: string;
  kind: 'count' | 'attribute';
  /** Descriptions of the nodes from the top node down to the failing one. */
  path: string[];
  /** The failing node's selector, described. */
  expected: string;
  relation: 'root' | 'anywhere' | 'child' | 'descendant';
  /** The matched parent span under which the count failed (absent at the top). */
  parent?: SpanRef;
  /** For `under: some`: how many parent spans were tried. */
  parentsTried?: number;
  found?: number;
  count?: { min: number; max: number | null };
  /** For attribute failures: the span, the attribute, the check and what it held. */
  span?: SpanRef;
  attribute?: string;
  check?: string;
  actual?: string | null;
  /** The failure without the `trace <id>: ` prefix (the same for every trace showing it). */
  detail: string;
  /** `trace <id>: <detail>`. */
  message: string;
}

export interface SpanTreeEvaluation {
  traceId: string;
  passed: boolean;
  failures: SpanTreeFailure[];
  /** Spans matched by each node, keyed by the node's path (`a > b > c`). */
  matched: Map<string, NormalizedSpan[]>;
}

/** `none (0 of min 1)`, `1 (of min 2)`, `3 (max 2)`, `2 (exactly 1)`. */
export function describeCount(found: number, bounds: { min: number; max: number | null }): string {
  const head = found === 0 ? 'none' : String(found);
  if (bounds.max !== null && bounds.min === bounds.max) return `${head} (exactly ${bounds.min})`;
  if (found < bounds.min) return found === 0 ? `none (0 of min ${bounds.min})` : `${found} (of min ${bounds.min})`;
  return `${head} (max ${bounds.max ?? '∞'})`;
}

function within(found: number, bounds: { min: number; max: number | null }): boolean {
  return found >= bounds.min && (bounds.max === null || found <= bounds.max);
}

function candidates(tree: TraceTree, parent: NormalizedSpan, relation: 'child' | 'descendant'): readonly NormalizedSpan[] {
  return relation === 'child' ? tree.childrenOf(parent.spanId) : descendantsOf(tree, parent);
}

/** Evaluates one expectation against one trace. */
export function evaluateSpanTree(tree: TraceTree, input: SpanTreeInput): SpanTreeEvaluation {
  const expectation: SpanTreeExpectation = toExpectation(input);
  const failures: SpanTreeFailure[] = [];
  const matched = new Map<string, NormalizedSpan[]>();
  const traceId = tree.traceId;
  const fail = (f: Omit<SpanTreeFailure, 'traceId' | 'message'>) => failures.push({ ...f, traceId, message: `trace ${traceId}: ${f.detail}` });

  const checkAttributes = (node: SpanTreeNode, spans: readonly NormalizedSpan[], path: string[]) => {
    for (const s of spans) {
      for (const [key, check] of Object.entries(node.expect ?? {})) {
        const actual = attributeOf(s, key);
        if (checkAttributeValue(actual, check)) continue;
        const checkText = describeAttributeCheck(key, check);
        fail({
          kind: 'attribute',
          path,
          expected: describeSelector(node),
          relation: 'child',
          span: spanRef(s),
          attribute: key,
          check: checkText,
          actual: actual === undefined ? null : valueText(actual),
          detail: `${describeSpan(s)} (span ${s.spanId}): expected ${checkText}, got ${actual === undefined ? 'no such attribute' : JSON.stringify(valueText(actual))}`,
        });
      }
    }
  };

  const visit = (node: SpanTreeNode, parents: readonly NormalizedSpan[], path: string[]) => {
    const description = describeSelector(node);
    const here = [...path, description];
    const bounds = countBounds(node.count);
    const relation = node.relation ?? 'child';
    const all: NormalizedSpan[] = [];
    const perParent = parents.map((p) => {
      const found = candidates(tree, p, relation).filter((s) => matchesSelector(s, node));
      return { parent: p, found };
    });
    if ((node.under ?? 'every') === 'every') {
      for (const { parent, found } of perParent) {
        if (!within(found.length, bounds)) {
          fail({
            kind: 'count',
            path: here,
            expected: description,
            relation,
            parent: spanRef(parent),
            found: found.length,
            count: bounds,
            detail: `under ${describeSpan(parent)} expected a ${relation} ${description}: ${describeCount(found.length, bounds)}`,
          });
        }
      }
    } else if (perParent.length > 0 && !perParent.some(({ found }) => within(found.length, bounds))) {
      // Report against the parent that came closest (most matches when too few, fewest when too many).
      const best = [...perParent].sort((a, b) => (bounds.max !== null && a.found.length > bounds.max ? a.found.length - b.found.length : b.found.length - a.found.length))[0]!;
      const parents = perParent.length === 1 ? describeSpan(best.parent) : `any of ${perParent.length} ${describeSpan(best.parent)} spans`;
      fail({
        kind: 'count',
        path: here,
        expected: description,
        relation,
        parent: spanRef(best.parent),
        parentsTried: perParent.length,
        found: best.found.length,
        count: bounds,
        detail: `under ${parents} expected a ${relation} ${description}: ${describeCount(best.found.length, bounds)}`,
      });
    }
    for (const { found } of perParent) for (const s of found) if (!all.includes(s)) all.push(s);
    matched.set(here.join(' > '), all);
    checkAttributes(node, all, here);
    for (const child of node.children ?? []) if (all.length > 0) visit(child, all, here);
  };

  // The top node: among the roots, or anywhere.
  const top = expectation.root;
  const topDescription = describeSelector(top);
  const match = expectation.match ?? 'anywhere';
  const bounds = countBounds(top.count);
  const found = (match === 'root' ? tree.roots : tree.spans).filter((s) => matchesSelector(s, top));
  matched.set(topDescription, found);
  if (!within(found.length, bounds)) {
    const where = match === 'root' ? `expected a root ${topDescription}` : `expected ${topDescription} in the trace`;
    let hint = '';
    if (match === 'root' && found.length < bounds.min) {
      const elsewhere = tree.spans.filter((s) => matchesSelector(s, top));
      if (elsewhere.length > 0) {
        const p = elsewhere[0]!.parentSpanId;
        const parent = p === undefined ? undefined : tree.span(p);
        hint = ` (found ${elsewhere.length} not at the root${parent ? `, e.g. under ${describeSpan(parent)}` : ''})`;
      } else {
        hint = ` (roots: ${tree.roots.map(describeSpan).join(', ') || 'none'})`;
      }
    }
    fail({ kind: 'count', path: [topDescription], expected: topDescription, relation: match, found: found.length, count: bounds, detail: `${where}: ${describeCount(found.length, bounds)}${hint}` });
  }
  checkAttributes(top, found, [topDescription]);
  for (const child of top.children ?? []) if (found.length > 0) visit(child, found, [topDescription]);

  return { traceId, passed: failures.length === 0, failures, matched };
}

export interface SpanTreeDefect {
  /** The failure text shared by the traces (no trace id). */
  detail: string;
  traces: number;
  exampleTraceIds: string[];
}

/**
 * One result for a set of traces: passes when every trace matches. Failures are grouped by
 * defect (same detail text), most frequent first; the message quotes the most frequent one.
 */
export function checkSpanTree(traces: readonly TraceTree[], input: SpanTreeInput, options: { name?: string } = {}): AssertionResult {
  const expectation = toExpectation(input);
  const label = options.name ?? expectation.name ?? describeSelector(expectation.root);
  const name = `span tree: ${label}`;
  const bound = { op: '==' as const, value: 0, unit: 'traces', text: '0 traces failing' };
  if (traces.length === 0) {
    return {
      family: 'span-tree',
      name,
      passed: false,
      measured: { value: null, unit: 'traces', text: 'no traces checked' },
      bound,
      message: `span tree "${label}": no traces to check`,
      exampleTraceIds: [],
      details: { checked: 0, failing: 0, defects: [] },
    };
  }
  const evaluations = traces.map((t) => evaluateSpanTree(t, expectation));
  const failing = evaluations.filter((e) => !e.passed);
  const defects = new Map<string, { traces: Set<string>; first: SpanTreeFailure }>();
  for (const e of failing) {
    for (const f of e.failures) {
      const entry = defects.get(f.detail);
      if (entry) entry.traces.add(f.traceId);
      else defects.set(f.detail, { traces: new Set([f.traceId]), first: f });
    }
  }
  const grouped: SpanTreeDefect[] = [...defects.entries()]
    .map(([detail, d]) => ({ detail, traces: d.traces.size, exampleTraceIds: examples(d.traces) }))
    .sort((a, b) => b.traces - a.traces);
  const measured = { value: failing.length, unit: 'traces', text: `${failing.length}/${traces.length} traces failing` };
  if (failing.length === 0) {
    return {
      family: 'span-tree',
      name,
      passed: true,
      measured,
      bound,
      message: `span tree "${label}" matches in ${traces.length}/${traces.length} traces`,
      exampleTraceIds: examples(traces.map((t) => t.traceId), 3),
      details: { checked: traces.length, failing: 0, defects: [] },
    };
  }
  const top = grouped[0]!;
  const firstTrace = top.exampleTraceIds[0]!;
  const more = grouped.length > 1 ? `; +${grouped.length - 1} other defect${grouped.length > 2 ? 's' : ''}` : '';
  return {
    family: 'span-tree',
    name,
    passed: false,
    measured,
    bound,
    message: `span tree "${label}" fails in ${failing.length}/${traces.length} traces: trace ${firstTrace}: ${top.detail}${top.traces > 1 ? ` (in ${top.traces} traces)` : ''}${more}`,
    exampleTraceIds: examples(failing.map((e) => e.traceId)),
    details: { checked: traces.length, failing: failing.length, defects: grouped },
  };
}
