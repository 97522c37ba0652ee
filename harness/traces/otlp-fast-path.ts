import type { AttributeValue, Attributes, NormalizedSpan, SpanEvent, SpanKind, SpanLink, SpanStatus, StatusCode } from './span-model.ts';

/**
 * The hot path of every trace read: an api/v3 answer validated and converted in one pass, by
 * hand, without zod's per-node parse objects. It accepts exactly the shape Jaeger v2 writes
 * (hex ids, numeric or named kinds and status codes, OTLP attribute values) and checks every
 * field it reads against the same rules as `v3TracesResponseSchema`; anything else, valid or
 * not (base64 ids, pre-0.15 `instrumentationLibrary*` fields, a null where the schema wants a
 * value or absence, any malformed field), makes it give up, and the zod schema then decides:
 * it converts what it accepts and names the field that failed. So no answer is used
 * unchecked, and error messages are the schema's.
 */

/** Gives up on the fast path; never escapes this module. */
class NotTheCommonShape extends Error {}
const bail = (): never => {
  throw new NotTheCommonShape();
};

type Json = Record<string, unknown>;
const NANOS_PER_MS = 1_000_000;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const NOTHING: readonly unknown[] = Object.freeze([]);

/** An optional list: absent or null means empty. */
function list(v: unknown): readonly unknown[] {
  if (v === undefined || v === null) return NOTHING;
  return Array.isArray(v) ? v : bail();
}
/** An optional field that may be absent but not null (zod `.optional()`). */
function optionalString(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : bail();
}

/** `^-?\d+$` by char codes. */
function isIntegerText(v: string): boolean {
  const from = v.charCodeAt(0) === 45 ? 1 : 0; // '-'
  if (v.length === from) return false;
  for (let i = from; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** `length` hex digits, not all zeros, as lower case; a char-code loop (no regex, no copy when already lower case). */
function hexId(v: unknown, length: 32 | 16): string {
  if (typeof v !== 'string' || v.length !== length) return bail();
  let upper = false;
  let nonZero = false;
  for (let i = 0; i < length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 97 && c <= 102) nonZero = true; // a-f
    else if (c >= 48 && c <= 57) nonZero ||= c !== 48; // 0-9
    else if (c >= 65 && c <= 70) nonZero = upper = true; // A-F
    else return bail();
  }
  if (!nonZero) return bail();
  return upper ? v.toLowerCase() : v;
}
function parentId(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') return bail();
  if (v === '' || isZeros(v)) return undefined;
  // all `A`s is how the schema reads a base64 zero id (no parent): leave that to it
  if (v.charCodeAt(0) === 65 && /^A+=*$/.test(v)) return bail();
  return hexId(v, 16);
}
function isZeros(v: string): boolean {
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) !== 48) return false;
  return true;
}

/**
 * A fixed64 nanosecond time: a decimal string in OTLP JSON (a non-negative safe integer number is
 * accepted too). Checked and read in one pass over the characters into whole seconds and
 * nanoseconds (doubles: exact below 2^53 s), so that times and durations need no bigint
 * arithmetic; `exact` is false when the seconds do not fit, and then the bigint path decides.
 * Read into one of the reused objects below (`readNanos`), not a new object per time: two per
 * span were 1.4 KB of each trace's garbage.
 */
class Nanos {
  text = '';
  seconds = 0;
  nanos = 0;
  exact = true;
}
/** A span's start and end, and an event's span start and time: each read, used, then read again for the next. */
const SPAN_START = new Nanos();
const SPAN_END = new Nanos();
const EVENT_SPAN_START = new Nanos();
const EVENT_TIME = new Nanos();

function readNanos(v: unknown, into: Nanos): Nanos {
  const text = typeof v === 'string' ? v : typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? String(v) : bail();
  const n = text.length;
  if (n === 0) return bail();
  const cut = n - 9;
  let seconds = 0;
  let nanos = 0;
  for (let i = 0; i < n; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return bail();
    if (i < cut) seconds = seconds * 10 + d;
    else nanos = nanos * 10 + d;
  }
  into.text = text;
  into.seconds = seconds;
  into.nanos = nanos;
  into.exact = seconds <= Number.MAX_SAFE_INTEGER;
  return into;
}
/** `b - a` in milliseconds, as `Number(b - a) / 1e6` on bigints gives it (exact below 2^53 ns, ~104 days). */
function spanMs(a: Nanos, b: Nanos): number {
  const seconds = b.seconds - a.seconds;
  if (a.exact && b.exact && Math.abs(seconds) < 9_000_000) return (seconds * 1e9 + (b.nanos - a.nanos)) / NANOS_PER_MS;
  return Number(BigInt(b.text) - BigInt(a.text)) / NANOS_PER_MS;
}
/** Milliseconds since the epoch at µs precision: the nanoseconds truncated to µs, as `Number(ns / 1000n) / 1000`. */
function epochMs(t: Nanos): number {
  const micros = t.seconds * 1e6 + Math.floor(t.nanos / 1000);
  if (t.exact && micros <= Number.MAX_SAFE_INTEGER) return micros / 1000;
  return Number(BigInt(t.text) / 1000n) / 1000;
}

const SPAN_KINDS: readonly SpanKind[] = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const KIND_NAMES = new Map(SPAN_KINDS.map((k) => [`SPAN_KIND_${k.toUpperCase()}`, k]));
const STATUS_CODES: readonly StatusCode[] = ['unset', 'ok', 'error'];
const STATUS_NAMES = new Map(STATUS_CODES.map((c) => [`STATUS_CODE_${c.toUpperCase()}`, c]));

function kind(v: unknown): SpanKind {
  if (v === undefined) return 'unspecified';
  const k = typeof v === 'number' && Number.isInteger(v) ? SPAN_KINDS[v] : typeof v === 'string' ? KIND_NAMES.get(v) : undefined;
  return k ?? bail();
}
/** A status without a message, one frozen object per code shared by the spans (nothing changes a span's status). */
const PLAIN_STATUS: Readonly<Record<StatusCode, SpanStatus>> = { unset: Object.freeze({ code: 'unset' }), ok: Object.freeze({ code: 'ok' }), error: Object.freeze({ code: 'error' }) };

function status(v: unknown): SpanStatus {
  if (v === undefined || v === null) return PLAIN_STATUS.unset;
  if (!isObject(v)) return bail();
  const raw = v['code'];
  const code = raw === undefined ? 'unset' : ((typeof raw === 'number' && Number.isInteger(raw) ? STATUS_CODES[raw] : typeof raw === 'string' ? STATUS_NAMES.get(raw) : undefined) ?? bail());
  const message = optionalString(v['message']);
  return message ? { code, message } : PLAIN_STATUS[code];
}

/** One OTLP AnyValue, converted as jaeger-schemas' attributeValue does (first field present wins). */
function anyValue(v: unknown): AttributeValue | undefined {
  if (!isObject(v)) return bail();
  // Every present field is checked, as the schema does, before the first one is taken.
  const stringValue = optionalString(v['stringValue']);
  const boolValue = v['boolValue'];
  if (boolValue !== undefined && typeof boolValue !== 'boolean') bail();
  const intValue = v['intValue'];
  if (intValue !== undefined && !(typeof intValue === 'string' ? isIntegerText(intValue) : Number.isInteger(intValue))) bail();
  const doubleValue = v['doubleValue'];
  if (doubleValue !== undefined && typeof doubleValue !== 'number' && typeof doubleValue !== 'string') bail();
  const bytesValue = optionalString(v['bytesValue']);
  const arrayValue = v['arrayValue'];
  const array = arrayValue === undefined ? undefined : isObject(arrayValue) ? optionalList(arrayValue['values']).map(anyValue) : bail();
  const kvlistValue = v['kvlistValue'];
  const kvlist = kvlistValue === undefined ? undefined : isObject(kvlistValue) ? attributes(optionalList(kvlistValue['values'])) : bail();
  if (stringValue !== undefined) return stringValue;
  if (typeof boolValue === 'boolean') return boolValue;
  if (typeof intValue === 'number') return intValue;
  if (typeof intValue === 'string') {
    const n = Number(intValue);
    return Number.isSafeInteger(n) ? n : intValue;
  }
  if (typeof doubleValue === 'number' || typeof doubleValue === 'string') return Number(doubleValue);
  if (bytesValue !== undefined) return bytesValue;
  if (array !== undefined) return array.filter((x): x is AttributeValue => x !== undefined);
  return kvlist;
}
/** `values` of an array or kvlist value: may be absent, not null. */
function optionalList(v: unknown): readonly unknown[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : bail();
}

function attributes(v: unknown): Attributes {
  const out: Attributes = {};
  for (const kv of list(v)) {
    if (!isObject(kv) || typeof kv['key'] !== 'string') return bail();
    const raw = kv['value'];
    if (raw === undefined) continue;
    const value = anyValue(raw);
    if (value !== undefined) out[kv['key']] = value;
  }
  return out;
}


/**
 * What one answer's spans share: the spans of a trace carry one trace id, checked once and then
 * compared (a string comparison instead of a hex check per span).
 */
class AnswerReader {
  /** The last trace id text checked (never matches before the first), and its lower-case form. */
  private lastText = '';
  private lastId = '';
  traceId(v: unknown): string {
    if (typeof v === 'string' && v === this.lastText && v !== '') return this.lastId;
    const id = hexId(v, 32);
    this.lastText = v as string;
    this.lastId = id;
    return id;
  }
}

function span(s: unknown, service: string, resource: Attributes, scope: string | undefined, reader: AnswerReader): NormalizedSpan {
  if (!isObject(s) || typeof s['name'] !== 'string') return bail();
  const start = readNanos(s['startTimeUnixNano'], SPAN_START);
  const end = readNanos(s['endTimeUnixNano'], SPAN_END);
  const rawEvents = list(s['events']);
  const rawLinks = list(s['links']);
  const out: NormalizedSpan = {
    traceId: reader.traceId(s['traceId']),
    spanId: hexId(s['spanId'], 16),
    service,
    name: s['name'],
    kind: kind(s['kind']),
    startTimeUnixNano: BigInt(start.text),
    startTimeMs: epochMs(start),
    durationMs: spanMs(start, end),
    attributes: attributes(s['attributes']),
    resource,
    // no per-span closures or copies when there are none (the usual case)
    events: rawEvents.length === 0 ? [] : spanEvents(rawEvents, start.text),
    links: rawLinks.length === 0 ? [] : spanLinks(rawLinks),
    status: status(s['status']),
  };
  const parent = parentId(s['parentSpanId']);
  if (parent !== undefined) out.parentSpanId = parent;
  if (scope) out.scope = scope;
  return out;
}

/** Event times relative to the span's start (given as its text, read again: events are rare). */
function spanEvents(raw: readonly unknown[], startText: string): SpanEvent[] {
  const start = readNanos(startText, EVENT_SPAN_START);
  return raw.map((e): SpanEvent => {
    if (!isObject(e)) return bail();
    return { name: optionalString(e['name']) ?? '', timeMs: spanMs(start, readNanos(e['timeUnixNano'], EVENT_TIME)), attributes: attributes(e['attributes']) };
  });
}

function spanLinks(raw: readonly unknown[]): SpanLink[] {
  return raw.map((l): SpanLink => {
    if (!isObject(l)) return bail();
    return { traceId: hexId(l['traceId'], 32), spanId: hexId(l['spanId'], 16), attributes: attributes(l['attributes']) };
  });
}

function scopeName(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) return bail();
  optionalString(v['version']);
  return optionalString(v['name']);
}

function resourceSpans(rs: unknown, into: NormalizedSpan[], reader: AnswerReader): void {
  if (!isObject(rs) || rs['instrumentationLibrarySpans'] !== undefined) return bail();
  const res = rs['resource'];
  if (res !== undefined && res !== null && !isObject(res)) bail();
  const all = isObject(res) ? attributes(res['attributes']) : {};
  const serviceName = all['service.name'];
  const service = typeof serviceName === 'string' && serviceName !== '' ? serviceName : 'unknown_service';
  // Rebuilt rather than `delete`d (a dictionary-mode object), and one object shared (frozen) by
  // the spans of this resource instead of a copy per span.
  const resource: Attributes = {};
  for (const key in all) if (key !== 'service.name') resource[key] = all[key]!;
  Object.freeze(resource);
  for (const ss of list(rs['scopeSpans'])) {
    if (!isObject(ss) || ss['instrumentationLibrary'] !== undefined) bail();
    const scopeSpans = ss as Json;
    const scope = scopeName(scopeSpans['scope']) || undefined;
    for (const s of list(scopeSpans['spans'])) into.push(span(s, service, resource, scope, reader));
  }
}

/** The spans of an api/v3 traces answer, or undefined when the answer is not the common shape. */
export function fastSpansFromV3(value: unknown): NormalizedSpan[] | undefined {
  try {
    if (!isObject(value) || !isObject(value['result'])) return undefined;
    const spans: NormalizedSpan[] = [];
    const reader = new AnswerReader();
    for (const rs of list(value['result']['resourceSpans'])) resourceSpans(rs, spans, reader);
    return spans;
  } catch (error) {
    if (error instanceof NotTheCommonShape) return undefined;
    throw error;
  }
}
