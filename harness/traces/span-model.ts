/**
 * One span model for every Jaeger API the harness reads (api/v3 OTLP JSON and the legacy
 * 1.x JSON both convert into it, see jaeger-schemas.ts), and the per-trace tree built on it.
 *
 * Conventions:
 * - ids are lower-case hex, 32 characters for trace ids and 16 for span ids
 *   (shorter legacy ids are left-padded with zeros, base64 OTLP ids are decoded);
 * - `startTimeUnixNano` is a `bigint` (exact: OTLP's nanoseconds, or legacy microseconds × 1000);
 *   `startTimeMs` is the same instant as a float in milliseconds since the epoch (µs precision),
 *   for arithmetic and JSON; use `spanToJson` to serialize a span (JSON.stringify rejects bigint);
 * - durations and event times are float milliseconds; an event's `timeMs` is measured from
 *   the span's own start (negative if the clocks disagree).
 */

export type SpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer' | 'unspecified';
export type StatusCode = 'unset' | 'ok' | 'error';

/**
 * OTLP attribute values. Integers become numbers, except int64 values beyond ±2^53, kept as
 * their decimal string; bytes become base64 strings; key/value lists become plain objects.
 * Legacy Jaeger flattens arrays into JSON strings (`"[1,2,3]"`): those stay strings.
 */
export type AttributeValue = string | number | boolean | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

export interface SpanEvent {
  name: string;
  /** Milliseconds after the span's start. */
  timeMs: number;
  attributes: Attributes;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  attributes: Attributes;
}

export interface SpanStatus {
  code: StatusCode;
  message?: string;
}

export interface NormalizedSpan {
  traceId: string;
  spanId: string;
  /** Absent for a root span; may name a span that is not in the trace (e.g. an unexported remote parent). */
  parentSpanId?: string;
  /** `service.name` of the span's resource (legacy: the process's serviceName). */
  service: string;
  name: string;
  kind: SpanKind;
  startTimeUnixNano: bigint;
  startTimeMs: number;
  durationMs: number;
  attributes: Attributes;
  /** Resource attributes other than service.name (legacy: process tags). */
  resource: Attributes;
  /** Instrumentation scope name, when known. */
  scope?: string;
  events: SpanEvent[];
  links: SpanLink[];
  status: SpanStatus;
}

/** A span as plain JSON: `startTimeUnixNano` as a decimal string, everything else unchanged. */
export type JsonSpan = Omit<NormalizedSpan, 'startTimeUnixNano'> & { startTimeUnixNano: string };

export function spanToJson(span: NormalizedSpan): JsonSpan {
  return { ...span, startTimeUnixNano: span.startTimeUnixNano.toString() };
}

const HEX = /^[0-9a-f]+$/i;
const ZERO = /^0+$/;

function normalizeHexId(id: string, length: number): string | undefined {
  const trimmed = id.trim();
  if (trimmed.length === 0 || trimmed.length > length || !HEX.test(trimmed)) return undefined;
  const padded = trimmed.toLowerCase().padStart(length, '0');
  return ZERO.test(padded) ? undefined : padded;
}

/** A trace id as the model holds it (32 lower-case hex chars), or undefined when it is not hex, too long, or all zeros. */
export function normalizeTraceId(id: string): string | undefined {
  return normalizeHexId(id, 32);
}

/** A span id as the model holds it (16 lower-case hex chars), or undefined when it is not hex, too long, or all zeros. */
export function normalizeSpanId(id: string): string | undefined {
  return normalizeHexId(id, 16);
}

export interface TraceTree {
  readonly traceId: string;
  /** Every span once (duplicates by span id dropped), ordered by start time then span id. */
  readonly spans: readonly NormalizedSpan[];
  /** Spans without a parent, or whose parent is not in the trace; same order as `spans`. */
  readonly roots: readonly NormalizedSpan[];
  /** Direct children of a span, ordered by start time; empty for an unknown id. */
  childrenOf(spanId: string): readonly NormalizedSpan[];
  span(spanId: string): NormalizedSpan | undefined;
  /** Distinct service names, sorted. */
  services(): string[];
  /** Distinct span names, sorted. */
  spanNames(): string[];
}

function byStart(a: NormalizedSpan, b: NormalizedSpan): number {
  // startTimeMs is the nanoseconds truncated to µs (exact below 2^53 µs), so a strict order on it
  // is the order of the nanoseconds; only equal ones need the bigint comparison.
  if (a.startTimeMs !== b.startTimeMs) return a.startTimeMs < b.startTimeMs ? -1 : 1;
  if (a.startTimeUnixNano !== b.startTimeUnixNano) return a.startTimeUnixNano < b.startTimeUnixNano ? -1 : 1;
  return a.spanId < b.spanId ? -1 : a.spanId > b.spanId ? 1 : 0;
}

/**
 * Sorts in place by `byStart` (a total order: span ids are unique here, so every sort gives the
 * same list). Traces of a few dozen spans, the usual case, by insertion with the comparison
 * inlined: `Array.prototype.sort` copies the list and calls the comparator through the builtin.
 */
function sortByStart(list: NormalizedSpan[]): void {
  if (list.length > 32) {
    list.sort(byStart);
    return;
  }
  for (let i = 1; i < list.length; i++) {
    const span = list[i]!;
    let j = i - 1;
    for (; j >= 0 && byStart(list[j]!, span) > 0; j--) list[j + 1] = list[j]!;
    list[j + 1] = span;
  }
}

/**
 * Builds the tree of one trace. All spans must share one trace id (`traceId`, when given,
 * must match too, and names the trace when `spans` is empty); a span id seen twice keeps
 * its first occurrence.
 */
export function buildTraceTree(spans: readonly NormalizedSpan[], traceId?: string): TraceTree {
  const id = traceId ?? spans[0]?.traceId;
  if (id === undefined) throw new Error('buildTraceTree: no spans and no trace id');
  const byId = new Map<string, NormalizedSpan>();
  let duplicates = false;
  for (let i = 0; i < spans.length; i++) {
    const span = spans[i]!;
    if (span.traceId !== id) throw new Error(`buildTraceTree: span ${span.spanId} belongs to trace ${span.traceId}, not ${id}`);
    if (byId.has(span.spanId)) duplicates = true;
    else byId.set(span.spanId, span);
  }
  // a copy at its size (pushing one by one grows the list several times); without the later
  // occurrences of a span id when there are any (the rule is none)
  const ordered = duplicates ? [...byId.values()] : spans.slice();
  sortByStart(ordered);
  const children = new Map<string, NormalizedSpan[]>();
  let roots: NormalizedSpan[] | undefined;
  for (const span of ordered) {
    const parent = span.parentSpanId;
    if (parent === undefined || parent === span.spanId || !byId.has(parent)) {
      if (roots === undefined) roots = [span];
      else roots.push(span);
      continue;
    }
    const list = children.get(parent);
    if (list) list.push(span);
    else children.set(parent, [span]);
  }
  // Own function properties (not class methods): a tree stays usable when spread into a new object.
  let services: string[] | undefined;
  let names: string[] | undefined;
  return {
    traceId: id,
    spans: Object.freeze(ordered),
    roots: Object.freeze(roots ?? []),
    childrenOf: (spanId) => children.get(spanId) ?? NO_SPANS,
    span: (spanId) => byId.get(spanId),
    // worked out when first asked for: most readers never ask
    services: () => [...(services ??= [...new Set(ordered.map((s) => s.service))].sort())],
    spanNames: () => [...(names ??= [...new Set(ordered.map((s) => s.name))].sort())],
  };
}

const NO_SPANS: readonly NormalizedSpan[] = Object.freeze([]);

/** Groups spans by trace id and builds one tree per trace, in order of each trace's first span. */
export function groupTraces(spans: readonly NormalizedSpan[]): TraceTree[] {
  const groups = new Map<string, NormalizedSpan[]>();
  for (const span of spans) {
    const list = groups.get(span.traceId);
    if (list) list.push(span);
    else groups.set(span.traceId, [span]);
  }
  return [...groups.entries()].map(([traceId, list]) => buildTraceTree(list, traceId));
}
