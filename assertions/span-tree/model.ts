import { z } from 'zod';
import { parseOrThrow } from '../../harness/config/validation.ts';
import {
  AttributeCheckSchema,
  normalizeAttributeCheck,
  normalizeSelector,
  SPAN_SELECTOR_FIELDS,
  type AttributeCheck,
  type AttributeCheckInput,
  type SpanSelector,
  type SpanSelectorInput,
} from '../selectors.ts';

/**
 * The span-tree expectation model, its two input forms and its zod schema.
 *
 * A node is a selector (service, name, kind, status, event, attributes: these only SELECT spans)
 * plus:
 * - `relation` to the parent node: `child` (default) or `descendant` (any depth);
 * - `count`: how many matching spans must hang there, `{min?, max?}` (a missing min is 0, a
 *   missing max unbounded) or a number (exactly); no count means `{min: 1}`; `0` asserts absence;
 * - `under`: `every` (default) — the count must hold under every span the parent node matched;
 *   `some` — under at least one (e.g. the detector's server span under retried client spans,
 *   where a refused attempt has none);
 * - `expect`: attribute checks every matched span must pass (a failed check is a failure, not a
 *   non-match);
 * - `children`: nodes evaluated under the spans this node matched.
 *
 * An expectation wraps the top node with `match`: `root` (the node must be a root of the
 * trace: no parent, or a parent absent from it) or `anywhere` (default).
 */

export type TreeRelation = 'child' | 'descendant';
export type TreeQuantifier = 'every' | 'some';

export interface SpanCount {
  min?: number;
  max?: number;
}

export interface SpanTreeNode extends SpanSelector {
  relation?: TreeRelation;
  count?: number | SpanCount;
  under?: TreeQuantifier;
  expect?: Record<string, AttributeCheck>;
  children?: SpanTreeNode[];
}

export interface SpanTreeExpectation {
  /** Names the expectation in results (`span tree "hsi upload"`). */
  name?: string;
  /** Where the top node is looked for; default `anywhere`. */
  match?: 'root' | 'anywhere';
  root: SpanTreeNode;
}

/** What the evaluator and the vitest matcher accept. */
export type SpanTreeInput = SpanTreeExpectation | SpanNodeBuilder | SpanTreeNode;

// ------------------------------------------------------------------ fluent DSL

/**
 * Immutable builder: every method returns a new builder, so a partial tree can be reused.
 *
 *     span({ service: 'nemotron-backend', name: 'detection_processing' })
 *       .child(span({ name: 'yolo26_detection_request' })
 *         .descendant(span({ service: 'ai-yolo26-emulator', kind: 'server' })))
 */
export class SpanNodeBuilder {
  readonly node: Readonly<SpanTreeNode>;

  constructor(node: SpanTreeNode) {
    this.node = node;
  }

  private with(patch: Partial<SpanTreeNode>): SpanNodeBuilder {
    return new SpanNodeBuilder({ ...this.node, ...patch });
  }

  private add(child: SpanNodeBuilder | SpanTreeNode, relation: TreeRelation): SpanNodeBuilder {
    const node = child instanceof SpanNodeBuilder ? child.node : child;
    return this.with({ children: [...(this.node.children ?? []), { ...node, relation }] });
  }

  /** A direct child (its parent span id is one of this node's spans). */
  child(child: SpanNodeBuilder | SpanTreeNode): SpanNodeBuilder {
    return this.add(child, 'child');
  }

  /** At any depth under this node's spans. */
  descendant(child: SpanNodeBuilder | SpanTreeNode): SpanNodeBuilder {
    return this.add(child, 'descendant');
  }

  count(count: SpanCount | number): SpanNodeBuilder {
    return this.with({ count: typeof count === 'number' ? count : { ...count } });
  }

  exactly(n: number): SpanNodeBuilder {
    return this.with({ count: n });
  }

  atLeast(n: number): SpanNodeBuilder {
    return this.with({ count: { min: n } });
  }

  atMost(n: number): SpanNodeBuilder {
    return this.with({ count: { min: 0, max: n } });
  }

  /** May be absent; when present its children must hold. */
  optional(): SpanNodeBuilder {
    return this.with({ count: { min: 0 } });
  }

  /** Must be absent. */
  none(): SpanNodeBuilder {
    return this.with({ count: 0 });
  }

  under(quantifier: TreeQuantifier): SpanNodeBuilder {
    return this.with({ under: quantifier });
  }

  /** Attribute checks on every matched span. */
  expect(checks: Record<string, AttributeCheckInput>): SpanNodeBuilder {
    const normalized = Object.fromEntries(Object.entries(checks).map(([k, v]) => [k, normalizeAttributeCheck(v)]));
    return this.with({ expect: { ...(this.node.expect ?? {}), ...normalized } });
  }

  toJSON(): SpanTreeNode {
    return structuredClone(this.node) as SpanTreeNode;
  }
}

/** A tree node selecting spans (RegExp accepted and stored as `{regex, flags}`). */
export function span(selector: SpanSelectorInput = {}): SpanNodeBuilder {
  return new SpanNodeBuilder(normalizeSelector(selector));
}

export function spanTree(root: SpanNodeBuilder | SpanTreeNode, options: { name?: string; match?: 'root' | 'anywhere' } = {}): SpanTreeExpectation {
  const node = root instanceof SpanNodeBuilder ? root.toJSON() : structuredClone(root);
  const out: SpanTreeExpectation = { root: node };
  if (options.name !== undefined) out.name = options.name;
  if (options.match !== undefined) out.match = options.match;
  return out;
}

export function isExpectation(input: SpanTreeInput): input is SpanTreeExpectation {
  return !(input instanceof SpanNodeBuilder) && typeof input === 'object' && input !== null && 'root' in input && typeof input.root === 'object';
}

/** Any accepted input as an expectation (a bare node or builder: `match: anywhere`). */
export function toExpectation(input: SpanTreeInput): SpanTreeExpectation {
  if (input instanceof SpanNodeBuilder) return spanTree(input);
  if (isExpectation(input)) return input;
  return { root: input };
}

// ------------------------------------------------------------------ zod schema (JSON form)

const countSchema = z.union(
  [
    z.number().int().min(0),
    z
      .object({ min: z.number().int().min(0).optional(), max: z.number().int().min(0).optional() })
      .strict()
      .refine((c) => c.min === undefined || c.max === undefined || c.min <= c.max, { error: 'count.min must not exceed count.max' }),
  ],
  { error: 'expected a count: a non-negative integer (exactly) or {min?, max?}' },
);

export const SpanTreeNodeSchema: z.ZodType<SpanTreeNode> = z.lazy(() =>
  z
    .object({
      ...SPAN_SELECTOR_FIELDS,
      relation: z.enum(['child', 'descendant']).optional(),
      count: countSchema.optional(),
      under: z.enum(['every', 'some']).optional(),
      expect: z.record(z.string().min(1), AttributeCheckSchema).optional(),
      children: z.array(SpanTreeNodeSchema).optional(),
    })
    .strict(),
);

export const SpanTreeExpectationSchema = z
  .object({
    name: z.string().min(1).optional(),
    match: z.enum(['root', 'anywhere']).optional(),
    root: SpanTreeNodeSchema,
  })
  .strict();

/** Validates a JSON span-tree expectation; ConfigError naming the field on failure. */
export function parseSpanTreeExpectation(value: unknown, source = 'span tree expectation'): SpanTreeExpectation {
  return parseOrThrow(SpanTreeExpectationSchema, value, source);
}

export function countBounds(count: SpanTreeNode['count']): { min: number; max: number | null } {
  if (count === undefined) return { min: 1, max: null };
  if (typeof count === 'number') return { min: count, max: count };
  return { min: count.min ?? 0, max: count.max ?? null };
}
