import { z } from 'zod';
import { parseOrThrow } from '../../harness/config/validation.ts';
import type { AttributeValue, NormalizedSpan, TraceTree } from '../../harness/traces/span-model.ts';
import { examples, type AssertionResult } from '../result.ts';
import {
  AttributeCheckSchema,
  attributeOf,
  checkAttributeValue,
  describeAttributeCheck,
  describeSelector,
  describeSpan,
  matchesSelector,
  SpanSelectorSchema,
  valueText,
  type AttributeCheck,
  type SpanSelector,
} from '../selectors.ts';

/**
 * Baggage arrival: the services record the W3C baggage entries they received as span attributes
 * (the reference stack under the key's own name, `camera.id`; other stacks may prefix them, e.g.
 * `baggage.camera.id`: set `attributePrefix`). A check `{key, at}` says: every span matching `at`
 * carries attribute `<prefix><key>` (and, with `value`, a value passing that check).
 *
 * Presence is not enough: a value can arrive and be wrong (a stale header reused for the next
 * request). Two value rules, both optional:
 * - `sameAs: {attribute}`: the value equals that attribute on the span itself or its nearest
 *   ancestor carrying it (the job's own `camera_id` above the detector's server span);
 * - `expected` in the options: per trace id, the value each key must have (what the request
 *   that started the trace sent, e.g. the upload's camera).
 */
export interface BaggageCheck {
  key: string;
  at: SpanSelector;
  value?: AttributeCheck;
  /** Overrides the options' prefix for this check. */
  attributePrefix?: string;
  /** When no trace has an `at` span: pass (`true`) or fail (default). */
  optional?: boolean;
  /** The value must equal this attribute of the span or of its nearest ancestor that has it. */
  sameAs?: { attribute: string };
}

export const BaggageCheckSchema = z
  .object({
    key: z.string().min(1),
    at: SpanSelectorSchema,
    value: AttributeCheckSchema.optional(),
    attributePrefix: z.string().optional(),
    optional: z.boolean().optional(),
    sameAs: z.object({ attribute: z.string().min(1) }).strict().optional(),
  })
  .strict();

export function parseBaggageChecks(value: unknown, source = 'baggage'): BaggageCheck[] {
  return parseOrThrow(z.array(BaggageCheckSchema), value, source);
}

export interface BaggageCheckOptions {
  /** Prefix of baggage attributes on spans; default '' (the reference stack's convention). */
  attributePrefix?: string;
  /** Per trace id, the value each baggage key must have there (e.g. the upload's camera for `camera.id`). */
  expected?: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

/** The attribute on the span or its nearest ancestor in the trace. */
function inheritedAttribute(tree: TraceTree, span: NormalizedSpan, key: string): string | undefined {
  const seen = new Set<string>();
  for (let s: NormalizedSpan | undefined = span; s !== undefined && !seen.has(s.spanId); s = s.parentSpanId === undefined ? undefined : tree.span(s.parentSpanId)) {
    seen.add(s.spanId);
    const v = attributeOf(s, key);
    if (v !== undefined) return valueText(v);
  }
  return undefined;
}

/** Why a present value is wrong, or undefined when it passes every value rule. */
function wrongValue(tree: TraceTree, span: NormalizedSpan, value: AttributeValue, check: BaggageCheck, options: BaggageCheckOptions): string | undefined {
  const actual = valueText(value);
  if (check.value !== undefined && !checkAttributeValue(value, check.value)) return `got ${JSON.stringify(actual)}, expected ${describeAttributeCheck(check.key, check.value)}`;
  const fromRequest = options.expected?.get(tree.traceId)?.[check.key];
  if (fromRequest !== undefined && fromRequest !== actual) return `got ${JSON.stringify(actual)}, but the request that started the trace sent ${JSON.stringify(fromRequest)}`;
  if (check.sameAs !== undefined) {
    const own = inheritedAttribute(tree, span, check.sameAs.attribute);
    if (own !== undefined && own !== actual) return `got ${JSON.stringify(actual)}, but the span's own ${check.sameAs.attribute} is ${JSON.stringify(own)}`;
  }
  return undefined;
}

export function checkBaggage(traces: readonly TraceTree[], checks: readonly BaggageCheck[], options: BaggageCheckOptions = {}): AssertionResult[] {
  return checks.map((c) => checkBaggageKey(traces, c, options));
}

export function checkBaggageKey(traces: readonly TraceTree[], check: BaggageCheck, options: BaggageCheckOptions = {}): AssertionResult {
  const attribute = `${check.attributePrefix ?? options.attributePrefix ?? ''}${check.key}`;
  const at = describeSelector(check.at);
  const name = `baggage: ${check.key} at ${at}`;
  let exercised = 0;
  const missing: string[] = [];
  const wrong: { traceId: string; why: string }[] = [];
  let spanName: string | undefined;
  for (const tree of traces) {
    const spans = tree.spans.filter((s) => matchesSelector(s, check.at));
    if (spans.length === 0) continue;
    exercised += 1;
    spanName ??= describeSpan(spans[0]!);
    let traceMissing = false;
    let traceWrong: string | undefined;
    for (const s of spans) {
      const value = attributeOf(s, attribute);
      if (value === undefined) traceMissing = true;
      else traceWrong ??= wrongValue(tree, s, value, check, options);
    }
    if (traceMissing) missing.push(tree.traceId);
    else if (traceWrong !== undefined) wrong.push({ traceId: tree.traceId, why: traceWrong });
  }
  const valueRule = check.value !== undefined || check.sameAs !== undefined || options.expected !== undefined;
  const bound = { op: '==' as const, value: 0, unit: 'traces', text: `0 traces without baggage "${check.key}"${valueRule ? ' or with a wrong value' : ''}` };
  const details = { key: check.key, attribute, at, exercised, missing: missing.length, wrongValue: wrong.length };
  if (exercised === 0) {
    return {
      family: 'propagation',
      name,
      passed: check.optional === true,
      measured: { value: null, unit: 'traces', text: `no ${at} in any of ${traces.length} traces` },
      bound,
      message: `baggage "${check.key}" not checked: no ${at} in any of ${traces.length} traces${check.optional ? ' (optional)' : ''}`,
      exampleTraceIds: [],
      details,
    };
  }
  const bad = missing.length + wrong.length;
  const measured = { value: bad, unit: 'traces', text: `missing in ${missing.length}/${exercised} traces${wrong.length > 0 ? `, wrong value in ${wrong.length}` : ''}` };
  if (bad === 0) {
    return { family: 'propagation', name, passed: true, measured, bound, message: `baggage "${check.key}" arrives at ${at} in ${exercised}/${exercised} traces${valueRule ? ', with the right value' : ''}`, exampleTraceIds: [], details };
  }
  const where = spanName ?? at;
  const message =
    missing.length > 0
      ? `baggage "${check.key}" missing on ${where} in ${missing.length}/${exercised} traces (no attribute "${attribute}")`
      : `baggage "${check.key}" on ${where} is present but wrong in ${wrong.length}/${exercised} traces: ${wrong[0]!.why} (trace ${wrong[0]!.traceId})`;
  return {
    family: 'propagation',
    name,
    passed: false,
    measured,
    bound,
    message,
    exampleTraceIds: examples([...missing, ...wrong.map((w) => w.traceId)]),
    details,
  };
}
