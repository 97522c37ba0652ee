import { z } from 'zod';
import type { NormalizedSpan, SpanKind, StatusCode } from '../harness/traces/span-model.ts';
import { compilePattern, isPattern, type AttributeCheck, type Pattern, type SpanSelector, type TextMatcher } from '../harness/traces/span-selector.ts';

/**
 * Span selectors shared by every family: which spans a tree node, a hop end, a baggage check,
 * a latency budget or an error expectation is about.
 *
 * Two input forms, one model: the JSON-able model uses `{regex, flags?}` for patterns; the
 * typed input (`SpanSelectorInput`, used by the fluent DSL) also takes `RegExp` objects, which
 * `normalizeSelector` turns into `{regex, flags}` so that a DSL-built expectation is plain JSON
 * and validates with the same zod schema as a scenario file.
 */

/** The selector model and its matching live in the harness (harness/traces/span-selector.ts): the stitching of traces uses them too. */
export {
  SPAN_KINDS,
  STATUS_CODES,
  compilePattern,
  valueText,
  matchesText,
  attributeOf,
  checkAttributeValue,
  checkAttribute,
  matchesSelector,
  selectSpans,
  spanRef,
  spanEndMs,
  type Pattern,
  type TextMatcher,
  type NumericComparison,
  type AttributeCheck,
  type SpanSelector,
  type SpanRef,
} from '../harness/traces/span-selector.ts';

export type TextMatcherInput = TextMatcher | RegExp;
export type AttributeCheckInput = AttributeCheck | RegExp;

export interface SpanSelectorInput {
  service?: TextMatcherInput;
  name?: TextMatcherInput;
  kind?: SpanKind | SpanKind[];
  status?: StatusCode;
  event?: string;
  attributes?: Record<string, AttributeCheckInput>;
}

export function toPattern(re: RegExp): Pattern {
  return re.flags === '' ? { regex: re.source } : { regex: re.source, flags: re.flags };
}

function normalizeText(m: TextMatcherInput): TextMatcher {
  return m instanceof RegExp ? toPattern(m) : m;
}

export function normalizeAttributeCheck(check: AttributeCheckInput): AttributeCheck {
  return check instanceof RegExp ? toPattern(check) : check;
}

/** The JSON-able model of a selector (RegExp objects become `{regex, flags}`), copied. */
export function normalizeSelector(input: SpanSelectorInput): SpanSelector {
  const out: SpanSelector = {};
  if (input.service !== undefined) out.service = normalizeText(input.service);
  if (input.name !== undefined) out.name = normalizeText(input.name);
  if (input.kind !== undefined) out.kind = Array.isArray(input.kind) ? [...input.kind] : input.kind;
  if (input.status !== undefined) out.status = input.status;
  if (input.event !== undefined) out.event = input.event;
  if (input.attributes !== undefined) {
    out.attributes = Object.fromEntries(Object.entries(input.attributes).map(([k, v]) => [k, normalizeAttributeCheck(v)]));
  }
  return out;
}

// ------------------------------------------------------------------ matching

// ------------------------------------------------------------------ descriptions

function describeText(m: TextMatcher, quote: boolean): string {
  if (typeof m === 'string') return quote ? `"${m}"` : m;
  return `/${m.regex}/${m.flags ?? ''}`;
}

/** `camera_id="front_door"`, `file_path~/\.jpg$/`, `batch_id exists`, `retry_attempt>=1`. */
export function describeAttributeCheck(key: string, check: AttributeCheck): string {
  if (typeof check === 'string') return `${key}="${check}"`;
  if (typeof check === 'number' || typeof check === 'boolean') return `${key}=${String(check)}`;
  if (isPattern(check)) return `${key}~${describeText(check, false)}`;
  if ('exists' in check) return check.exists ? `${key} exists` : `${key} absent`;
  const parts: string[] = [];
  if (check.gt !== undefined) parts.push(`${key}>${check.gt}`);
  if (check.gte !== undefined) parts.push(`${key}>=${check.gte}`);
  if (check.lt !== undefined) parts.push(`${key}<${check.lt}`);
  if (check.lte !== undefined) parts.push(`${key}<=${check.lte}`);
  return parts.length > 0 ? parts.join(' and ') : `${key} is a number`;
}

/**
 * A selector for a message: `nemotron-backend "detection_processing"`,
 * `ai-yolo26-emulator server span`, `/^INSERT detections/ [db.system.name="postgresql"]`.
 * The kind is named only when there is no name (the name says enough otherwise).
 */
export function describeSelector(selector: SpanSelector): string {
  const parts: string[] = [];
  if (selector.service !== undefined) parts.push(describeText(selector.service, false));
  const kinds = selector.kind === undefined ? [] : Array.isArray(selector.kind) ? selector.kind : [selector.kind];
  if (selector.name !== undefined) parts.push(describeText(selector.name, true));
  else {
    if (kinds.length > 0) parts.push(kinds.join('|'));
    parts.push('span');
  }
  const extra: string[] = [];
  if (selector.status !== undefined) extra.push(`status ${selector.status}`);
  if (selector.event !== undefined) extra.push(`event "${selector.event}"`);
  for (const [key, check] of Object.entries(selector.attributes ?? {})) extra.push(describeAttributeCheck(key, check));
  if (extra.length > 0) parts.push(`[${extra.join(', ')}]`);
  if (parts.length === 1 && parts[0] === 'span') return 'any span';
  return parts.join(' ');
}

/** An actual span for a message: `nemotron-backend "detection_queue publish"`. */
export function describeSpan(span: Pick<NormalizedSpan, 'service' | 'name'>): string {
  return `${span.service} "${span.name}"`;
}

// ------------------------------------------------------------------ schemas

function validRegex(p: { regex: string; flags?: string | undefined }): boolean {
  try {
    new RegExp(p.regex, p.flags ?? '');
    return true;
  } catch {
    return false;
  }
}

export const PatternSchema = z
  .object({
    regex: z.string().min(1, { error: 'regex must not be empty' }),
    flags: z
      .string()
      .regex(/^[dgimsuvy]*$/, { error: 'flags may only hold d, g, i, m, s, u, v, y' })
      .optional(),
  })
  .strict()
  .refine(validRegex, { error: 'not a valid regular expression' });

export const TextMatcherSchema = z.union([z.string().min(1), PatternSchema], {
  error: 'expected a non-empty string or {regex, flags?}',
});

const NumericComparisonSchema = z
  .object({ gt: z.number().optional(), gte: z.number().optional(), lt: z.number().optional(), lte: z.number().optional() })
  .strict()
  .refine((c) => c.gt !== undefined || c.gte !== undefined || c.lt !== undefined || c.lte !== undefined, {
    error: 'a numeric comparison needs at least one of gt, gte, lt, lte',
  });

export const AttributeCheckSchema = z.union(
  [z.string(), z.number(), z.boolean(), PatternSchema, z.object({ exists: z.boolean() }).strict(), NumericComparisonSchema],
  { error: 'expected a string, number or boolean (equality), {regex, flags?}, {exists: boolean} or {gt?, gte?, lt?, lte?}' },
);

export const SpanKindSchema = z.enum(['internal', 'server', 'client', 'producer', 'consumer', 'unspecified']);

/** The selector's fields, for schemas that select spans and add their own (span-tree nodes). */
export const SPAN_SELECTOR_FIELDS = {
  service: TextMatcherSchema.optional(),
  name: TextMatcherSchema.optional(),
  kind: z.union([SpanKindSchema, z.array(SpanKindSchema).min(1)], { error: 'expected a span kind (internal, server, client, producer, consumer, unspecified) or a list of them' }).optional(),
  status: z.enum(['unset', 'ok', 'error']).optional(),
  event: z.string().min(1).optional(),
  attributes: z.record(z.string().min(1), AttributeCheckSchema).optional(),
};

/** Validates the JSON form of a selector (unknown keys rejected). */
export const SpanSelectorSchema = z.object(SPAN_SELECTOR_FIELDS).strict();
