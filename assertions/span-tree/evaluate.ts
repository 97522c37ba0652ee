import type { NormalizedSpan, TraceTree } from '../../harness/traces/span-model.ts';
import { countDescendants, descendantsOf } from '../../harness/traces/tree-walk.ts';
import { examples, exampleTraces, type AssertionResult } from '../result.ts';
import {
  attributeOf,
  type AttributeCheck,
  checkAttributeValue,
  describeAttributeCheck,
  describeSelector,
  describeSpan,
  matchesSelector,
  spanRef,
  valueText,
  type SpanRef,
} from '../selectors.ts';
import { countBounds, toExpectation, type SpanTreeInput, type SpanTreeNode } from './model.ts';

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


/**
 * An expectation prepared once for evaluation: descriptions, paths, count bounds and attribute
 * checks worked out per node, so that evaluating a trace only matches spans. Cached per input
 * object: expectations are values (the DSL's builders are immutable; a JSON expectation is not
 * to be changed after it was first evaluated).
 */
interface PlanNode {
  node: SpanTreeNode;
  description: string;
  /** Descriptions from the top node down to this one. */
  path: string[];
  /** `path` joined with ` > `: the key of `matched`. */
  key: string;
  bounds: { min: number; max: number | null };
  relation: 'child' | 'descendant';
  every: boolean;
  checks: [string, AttributeCheck][];
  children: PlanNode[];
}

interface Plan {
  match: 'root' | 'anywhere';
  top: PlanNode;
}

function planNode(node: SpanTreeNode, parentPath: readonly string[]): PlanNode {
  const description = describeSelector(node);
  const path = [...parentPath, description];
  return {
    node,
    description,
    path,
    key: path.join(' > '),
    bounds: countBounds(node.count),
    relation: node.relation ?? 'child',
    every: (node.under ?? 'every') === 'every',
    checks: Object.entries(node.expect ?? {}),
    children: (node.children ?? []).map((child) => planNode(child, path)),
  };
}

const plans = new WeakMap<object, Plan>();

function planOf(input: SpanTreeInput): Plan {
  let plan = plans.get(input);
  if (plan === undefined) {
    const expectation = toExpectation(input);
    plan = { match: expectation.match ?? 'anywhere', top: planNode(expectation.root, []) };
    plans.set(input, plan);
  }
  return plan;
}

/**
 * The spans of `spans` that match `selector`, in order. The list is made at the first match, at
 * its size (usually one span): an empty list's first push allocates room for 16, and a verdict
 * builds one list per node of the expectation on every trace.
 */
function matchingIn(spans: readonly NormalizedSpan[], selector: SpanTreeNode): NormalizedSpan[] {
  let found: NormalizedSpan[] | undefined;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i]!;
    if (!matchesSelector(s, selector)) continue;
    if (found === undefined) found = [s];
    else found.push(s);
  }
  return found ?? [];
}

/**
 * Evaluates one trace against a plan; failures (and, when asked for, the spans each node
 * matched) are collected in the object. Verdicts need only the failures: `checkSpanTree` and
 * `spanTreeFailures` do not record the matches.
 */
class TreeEvaluation {
  readonly failures: SpanTreeFailure[] = [];
  readonly matched: Map<string, NormalizedSpan[]> | undefined;

  private readonly tree: TraceTree;

  constructor(tree: TraceTree, recordMatches: boolean) {
    this.tree = tree;
    this.matched = recordMatches ? new Map() : undefined;
  }

  fail(f: Omit<SpanTreeFailure, 'traceId' | 'message'>): void {
    const traceId = this.tree.traceId;
    this.failures.push({ ...f, traceId, message: `trace ${traceId}: ${f.detail}` });
  }

  checkAttributes(plan: PlanNode, spans: readonly NormalizedSpan[]): void {
    if (plan.checks.length === 0) return;
    for (const s of spans) {
      for (const [key, check] of plan.checks) {
        const actual = attributeOf(s, key);
        if (checkAttributeValue(actual, check)) continue;
        const checkText = describeAttributeCheck(key, check);
        this.fail({
          kind: 'attribute',
          path: plan.path,
          expected: plan.description,
          relation: 'child',
          span: spanRef(s),
          attribute: key,
          check: checkText,
          actual: actual === undefined ? null : valueText(actual),
          detail: `${describeSpan(s)} (span ${s.spanId}): expected ${checkText}, got ${actual === undefined ? 'no such attribute' : JSON.stringify(valueText(actual))}`,
        });
      }
    }
  }

  /** The top node: among the roots, or anywhere. */
  top(plan: Plan): void {
    const { tree } = this;
    const top = plan.top;
    const bounds = top.bounds;
    const found = matchingIn(plan.match === 'root' ? tree.roots : tree.spans, top.node);
    this.matched?.set(top.key, found);
    if (!within(found.length, bounds)) {
      const where = plan.match === 'root' ? `expected a root ${top.description}` : `expected ${top.description} in the trace`;
      const hint = plan.match === 'root' && found.length < bounds.min ? this.rootHint(top.node) : '';
      this.fail({ kind: 'count', path: top.path, expected: top.description, relation: plan.match, found: found.length, count: bounds, detail: `${where}: ${describeCount(found.length, bounds)}${hint}` });
    }
    this.checkAttributes(top, found);
    if (found.length > 0) for (const child of top.children) this.visit(child, found);
  }

  private rootHint(node: SpanTreeNode): string {
    const { tree } = this;
    const elsewhere = tree.spans.filter((s) => matchesSelector(s, node));
    if (elsewhere.length === 0) return ` (roots: ${tree.roots.map(describeSpan).join(', ') || 'none'})`;
    const p = elsewhere[0]!.parentSpanId;
    const parent = p === undefined ? undefined : tree.span(p);
    return ` (found ${elsewhere.length} not at the root${parent ? `, e.g. under ${describeSpan(parent)}` : ''})`;
  }

  visit(plan: PlanNode, parents: readonly NormalizedSpan[]): void {
    if (parents.length === 1 && this.matched === undefined && plan.children.length === 0 && plan.checks.length === 0) {
      // a leaf with nothing to check on its spans, one parent (the usual verdict case): count only
      const parent = parents[0]!;
      const found = this.countMatching(parent, plan);
      if (!within(found, plan.bounds)) {
        if (plan.every) this.countFailure(plan, parent, found);
        else this.someFailure(plan, [{ parent, found: this.matching(parent, plan) }]);
      }
      return;
    }
    let all: readonly NormalizedSpan[];
    if (parents.length === 1) {
      // the usual case (one parent span): no per-parent bookkeeping
      const parent = parents[0]!;
      all = this.matching(parent, plan);
      if (!within(all.length, plan.bounds)) {
        if (plan.every) this.countFailure(plan, parent, all.length);
        else this.someFailure(plan, [{ parent, found: all }]);
      }
    } else {
      const perParent = parents.map((p) => ({ parent: p, found: this.matching(p, plan) }));
      if (plan.every) {
        for (const { parent, found } of perParent) if (!within(found.length, plan.bounds)) this.countFailure(plan, parent, found.length);
      } else if (perParent.length > 0 && !perParent.some(({ found }) => within(found.length, plan.bounds))) {
        this.someFailure(plan, perParent);
      }
      all = [...new Set(perParent.flatMap((p) => p.found))];
    }
    this.matched?.set(plan.key, all as NormalizedSpan[]);
    this.checkAttributes(plan, all);
    if (all.length > 0) for (const child of plan.children) this.visit(child, all);
  }

  /** The spans under `parent` (by the node's relation) that match the node's selector. */
  private matching(parent: NormalizedSpan, plan: PlanNode): NormalizedSpan[] {
    return matchingIn(plan.relation === 'child' ? this.tree.childrenOf(parent.spanId) : descendantsOf(this.tree, parent), plan.node);
  }

  /** How many spans `matching` would return, without the list. */
  private countMatching(parent: NormalizedSpan, plan: PlanNode): number {
    if (plan.relation === 'descendant') return countDescendants(this.tree, parent, plan.node);
    let n = 0;
    for (const s of this.tree.childrenOf(parent.spanId)) if (matchesSelector(s, plan.node)) n++;
    return n;
  }

  private countFailure(plan: PlanNode, parent: NormalizedSpan, found: number): void {
    this.fail({
      kind: 'count',
      path: plan.path,
      expected: plan.description,
      relation: plan.relation,
      parent: spanRef(parent),
      found,
      count: plan.bounds,
      detail: `under ${describeSpan(parent)} expected a ${plan.relation} ${plan.description}: ${describeCount(found, plan.bounds)}`,
    });
  }

  /** `under: some` failed: report against the parent that came closest (most matches when too few, fewest when too many). */
  private someFailure(plan: PlanNode, perParent: readonly { parent: NormalizedSpan; found: readonly NormalizedSpan[] }[]): void {
    const bounds = plan.bounds;
    const best = [...perParent].sort((a, b) => (bounds.max !== null && a.found.length > bounds.max ? a.found.length - b.found.length : b.found.length - a.found.length))[0]!;
    const parents = perParent.length === 1 ? describeSpan(best.parent) : `any of ${perParent.length} ${describeSpan(best.parent)} spans`;
    this.fail({
      kind: 'count',
      path: plan.path,
      expected: plan.description,
      relation: plan.relation,
      parent: spanRef(best.parent),
      parentsTried: perParent.length,
      found: best.found.length,
      count: bounds,
      detail: `under ${parents} expected a ${plan.relation} ${plan.description}: ${describeCount(best.found.length, bounds)}`,
    });
  }
}

/** An expectation's label and result name, worked out once per input object (as its plan). */
const labels = new WeakMap<object, { label: string; name: string }>();
function labelOf(input: SpanTreeInput): { label: string; name: string } {
  let known = labels.get(input);
  if (known === undefined) {
    const expectation = toExpectation(input);
    const label = expectation.name ?? describeSelector(expectation.root);
    known = { label, name: `span tree: ${label}` };
    labels.set(input, known);
  }
  return known;
}

/** Evaluates one expectation against one trace. */
export function evaluateSpanTree(tree: TraceTree, input: SpanTreeInput): SpanTreeEvaluation {
  const evaluation = new TreeEvaluation(tree, true);
  evaluation.top(planOf(input));
  return { traceId: tree.traceId, passed: evaluation.failures.length === 0, failures: evaluation.failures, matched: evaluation.matched ?? new Map() };
}

/** The failures of one trace against one expectation (what `evaluateSpanTree` finds, without recording the matched spans). */
export function spanTreeFailures(tree: TraceTree, input: SpanTreeInput): SpanTreeFailure[] {
  const evaluation = new TreeEvaluation(tree, false);
  evaluation.top(planOf(input));
  return evaluation.failures;
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
  const { label, name } = options.name === undefined ? labelOf(input) : { label: options.name, name: `span tree: ${options.name}` };
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
  const failing: { traceId: string; failures: SpanTreeFailure[] }[] = [];
  for (const t of traces) {
    const failures = spanTreeFailures(t, input);
    if (failures.length > 0) failing.push({ traceId: t.traceId, failures });
  }
  const measured = { value: failing.length, unit: 'traces', text: `${failing.length}/${traces.length} traces failing` };
  if (failing.length === 0) {
    return {
      family: 'span-tree',
      name,
      passed: true,
      measured,
      bound,
      message: `span tree "${label}" matches in ${traces.length}/${traces.length} traces`,
      exampleTraceIds: exampleTraces(traces, 3),
      details: { checked: traces.length, failing: 0, defects: [] },
    };
  }
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
