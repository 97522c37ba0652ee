import { z } from 'zod';
import type { AttributeValue, NormalizedSpan, SpanKind, StatusCode } from '../harness/traces/span-model.ts';

/**
 * Span selectors shared by every family: which spans a tree node, a hop end, a baggage check,
 * a latency budget or an error expectation is about.
 *
 * Two input forms, one model: the JSON-able model uses `{regex, flags?}` for patterns; the
 * typed input (`SpanSelectorInput`, used by the fluent DSL) also takes `RegExp` objects, which
 * `normalizeSelector` turns into `{regex, flags}` so that a DSL-built expectation is plain JSON
 * and validates with the same zod schema as a scenario file.
 */

export interface Pattern {
  regex: string;
  flags?: string;
}

/** Exact string, or a pattern. */
export type TextMatcher = string | Pattern;

export interface NumericComparison {
  gt?: number;
  gte?: number;
  lt?: number;
  lte?: number;
}

/**
 * On an attribute (span attributes first, then resource attributes):
 * - string / number / boolean: equality (compared as strings when the types differ, because the
 *   legacy Jaeger API turns every tag value into its JSON text);
 * - `{regex, flags?}`: the value's text matches;
 * - `{exists: true|false}`: present / absent;
 * - `{gt?, gte?, lt?, lte?}`: numeric comparisons (a numeric string counts as its number).
 */
export type AttributeCheck = string | number | boolean | Pattern | { exists: boolean } | NumericComparison;

export const SPAN_KINDS: readonly SpanKind[] = ['internal', 'server', 'client', 'producer', 'consumer', 'unspecified'];
export const STATUS_CODES: readonly StatusCode[] = ['unset', 'ok', 'error'];

/** Every field is optional; an empty selector matches any span. */
export interface SpanSelector {
  service?: TextMatcher;
  name?: TextMatcher;
  /** One kind or any of several. */
  kind?: SpanKind | SpanKind[];
  status?: StatusCode;
  /** The span carries an event of this name (e.g. `exception`, `circuit_breaker.opened`). */
  event?: string;
  /** Every listed attribute must satisfy its check. */
  attributes?: Record<string, AttributeCheck>;
}

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

const regexCache = new Map<string, RegExp>();

/** Compiles a pattern (cached); `g` and `y` are dropped so that `test` has no state. */
export function compilePattern(p: Pattern): RegExp {
  const flags = (p.flags ?? '').replace(/[gy]/g, '');
  const key = `${flags}/${p.regex}`;
  let re = regexCache.get(key);
  if (!re) {
    re = new RegExp(p.regex, flags);
    regexCache.set(key, re);
  }
  return re;
}

function isPattern(value: unknown): value is Pattern {
  return typeof value === 'object' && value !== null && 'regex' in value;
}

export function valueText(value: AttributeValue): string {
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

export function matchesText(actual: string, matcher: TextMatcher): boolean {
  return typeof matcher === 'string' ? actual === matcher : compilePattern(matcher).test(actual);
}

/** Span attribute, else resource attribute. */
export function attributeOf(span: NormalizedSpan, key: string): AttributeValue | undefined {
  return span.attributes[key] ?? span.resource[key];
}

function numberOf(value: AttributeValue | undefined): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

export function checkAttributeValue(value: AttributeValue | undefined, check: AttributeCheck): boolean {
  if (typeof check === 'string' || typeof check === 'number' || typeof check === 'boolean') {
    if (value === undefined) return false;
    return value === check || valueText(value) === String(check);
  }
  if (isPattern(check)) return value !== undefined && compilePattern(check).test(valueText(value));
  if ('exists' in check) return (value !== undefined) === check.exists;
  const n = numberOf(value);
  if (n === undefined) return false;
  if (check.gt !== undefined && !(n > check.gt)) return false;
  if (check.gte !== undefined && !(n >= check.gte)) return false;
  if (check.lt !== undefined && !(n < check.lt)) return false;
  if (check.lte !== undefined && !(n <= check.lte)) return false;
  return true;
}

export function checkAttribute(span: NormalizedSpan, key: string, check: AttributeCheck): boolean {
  return checkAttributeValue(attributeOf(span, key), check);
}

export function matchesSelector(span: NormalizedSpan, selector: SpanSelector): boolean {
  if (selector.service !== undefined && !matchesText(span.service, selector.service)) return false;
  if (selector.name !== undefined && !matchesText(span.name, selector.name)) return false;
  if (selector.kind !== undefined) {
    const kinds = Array.isArray(selector.kind) ? selector.kind : [selector.kind];
    if (!kinds.includes(span.kind)) return false;
  }
  if (selector.status !== undefined && span.status.code !== selector.status) return false;
  if (selector.event !== undefined && !span.events.some((e) => e.name === selector.event)) return false;
  if (selector.attributes !== undefined) {
    for (const [key, check] of Object.entries(selector.attributes)) if (!checkAttribute(span, key, check)) return false;
  }
  return true;
}

export function selectSpans(spans: readonly NormalizedSpan[], selector: SpanSelector): NormalizedSpan[] {
  return spans.filter((s) => matchesSelector(s, selector));
}

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

/** A compact, JSON-able reference to a span (for details). */
export interface SpanRef {
  traceId: string;
  spanId: string;
  service: string;
  name: string;
}

export function spanRef(span: NormalizedSpan): SpanRef {
  return { traceId: span.traceId, spanId: span.spanId, service: span.service, name: span.name };
}

export function spanEndMs(span: NormalizedSpan): number {
  return span.startTimeMs + span.durationMs;
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
