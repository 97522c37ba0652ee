import { z } from 'zod';
import { parseOrThrow } from '../../harness/config/validation.ts';
import type { TraceTree } from '../../harness/traces/span-model.ts';
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
 */
export interface BaggageCheck {
  key: string;
  at: SpanSelector;
  value?: AttributeCheck;
  /** Overrides the options' prefix for this check. */
  attributePrefix?: string;
  /** When no trace has an `at` span: pass (`true`) or fail (default). */
  optional?: boolean;
}

export const BaggageCheckSchema = z
  .object({
    key: z.string().min(1),
    at: SpanSelectorSchema,
    value: AttributeCheckSchema.optional(),
    attributePrefix: z.string().optional(),
    optional: z.boolean().optional(),
  })
  .strict();

export function parseBaggageChecks(value: unknown, source = 'baggage'): BaggageCheck[] {
  return parseOrThrow(z.array(BaggageCheckSchema), value, source);
}

export interface BaggageCheckOptions {
  /** Prefix of baggage attributes on spans; default '' (the reference stack's convention). */
  attributePrefix?: string;
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
  const wrong: { traceId: string; actual: string }[] = [];
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
      else if (check.value !== undefined && !checkAttributeValue(value, check.value)) traceWrong ??= valueText(value);
    }
    if (traceMissing) missing.push(tree.traceId);
    else if (traceWrong !== undefined) wrong.push({ traceId: tree.traceId, actual: traceWrong });
  }
  const bound = { op: '==' as const, value: 0, unit: 'traces', text: `0 traces without baggage "${check.key}"` };
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
    return { family: 'propagation', name, passed: true, measured, bound, message: `baggage "${check.key}" arrives at ${at} in ${exercised}/${exercised} traces`, exampleTraceIds: [], details };
  }
  const where = spanName ?? at;
  const message =
    missing.length > 0
      ? `baggage "${check.key}" missing on ${where} in ${missing.length}/${exercised} traces (no attribute "${attribute}")`
      : `baggage "${check.key}" on ${where} has the wrong value in ${wrong.length}/${exercised} traces: got ${JSON.stringify(wrong[0]!.actual)}, expected ${describeAttributeCheck(attribute, check.value!)}`;
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
