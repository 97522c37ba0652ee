import type { AttributeValue, NormalizedSpan, SpanKind, StatusCode } from './span-model.ts';

/**
 * Span selectors: which spans a check, a join or a budget is about (service, name, kind,
 * status, event, attributes), and matching spans against them. The model is JSON-able
 * (`{regex, flags?}` for patterns); the assertion families add the typed input form, the zod
 * schemas and the descriptions on top of it (assertions/selectors.ts re-exports this module).
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

const regexCache = new Map<string, RegExp>();
/** Per pattern object, so that the hot path builds no cache key; a changed object is compiled again. */
const patternCache = new WeakMap<Pattern, { regex: string; flags: string | undefined; re: RegExp }>();

/** Compiles a pattern (cached); `g` and `y` are dropped so that `test` has no state. */
export function compilePattern(p: Pattern): RegExp {
  const known = patternCache.get(p);
  if (known !== undefined && known.regex === p.regex && known.flags === p.flags) return known.re;
  const flags = (p.flags ?? '').replace(/[gy]/g, '');
  const key = `${flags}/${p.regex}`;
  let re = regexCache.get(key);
  if (!re) {
    re = new RegExp(p.regex, flags);
    regexCache.set(key, re);
  }
  patternCache.set(p, { regex: p.regex, flags: p.flags, re });
  return re;
}

export function isPattern(value: unknown): value is Pattern {
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

/** Whether the span carries an event of this name (a loop, not `some` with a closure: see matchesSelector). */
function hasEvent(span: NormalizedSpan, name: string): boolean {
  const events = span.events;
  for (let i = 0; i < events.length; i++) if (events[i]!.name === name) return true;
  return false;
}

export function matchesSelector(span: NormalizedSpan, selector: SpanSelector): boolean {
  // The hot path of every family (each node × each candidate span): no allocation per call. No
  // closure either: a closure over `selector` made V8 allocate a context (40 B) on every call,
  // whether or not the selector names an event: ~6 KB per trace of the HSI checks' 10.
  const { service, name, kind, attributes } = selector;
  if (service !== undefined && !matchesText(span.service, service)) return false;
  if (name !== undefined && !matchesText(span.name, name)) return false;
  if (kind !== undefined && (typeof kind === 'string' ? span.kind !== kind : !kind.includes(span.kind))) return false;
  if (selector.status !== undefined && span.status.code !== selector.status) return false;
  if (selector.event !== undefined && !hasEvent(span, selector.event)) return false;
  if (attributes !== undefined) {
    for (const key in attributes) if (!checkAttribute(span, key, attributes[key]!)) return false;
  }
  return true;
}

export function selectSpans(spans: readonly NormalizedSpan[], selector: SpanSelector): NormalizedSpan[] {
  return spans.filter((s) => matchesSelector(s, selector));
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
