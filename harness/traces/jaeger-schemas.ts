import { z } from 'zod';
import { describeIssue } from '../config/validation.ts';
import { ExitCode, HarnessError } from '../errors.ts';
import { fastSpansFromV3 } from './otlp-fast-path.ts';
import { normalizeSpanId, normalizeTraceId, type AttributeValue, type Attributes, type NormalizedSpan, type SpanEvent, type SpanKind, type SpanLink, type SpanStatus, type StatusCode } from './span-model.ts';

/**
 * Jaeger's JSON checked at the edge, then converted into NormalizedSpan.
 *
 * api/v3 (`/api/v3/traces[/{id}]`): OTLP JSON under `result.resourceSpans`. Jaeger v2 writes
 * ids as hex (checked on a real v2 binary); older api/v3 builds went through grpc-gateway and
 * wrote them as base64, and used `instrumentationLibrarySpans`: all are accepted. Span kind and
 * status code may be numbers or enum names (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`).
 *
 * Legacy (`/api/traces[/{id}]`, Jaeger 1.x and still served by v2): `{data:[{traceID, spans,
 * processes}]}` with microsecond times; OpenTelemetry fields travel as tags (`span.kind`,
 * `otel.status_code`, `otel.status_description`, `otel.scope.name`, `error`), which the converter
 * turns back into kind/status/scope; the parent is the first CHILD_OF reference into the same
 * trace (else the first FOLLOWS_FROM one, as Jaeger does), every other reference is a link.
 */

/** Jaeger could not be asked, or answered something unexpected: the message names the request and what failed. */
export class JaegerQueryError extends HarnessError {
  /** HTTP status of the answer, when there was one. */
  readonly status: number | undefined;
  /** Worth asking again later: no answer, 5xx or 429. */
  readonly retryable: boolean;
  constructor(message: string, options: { status?: number; retryable?: boolean } = {}) {
    // Jaeger not answering (or answering nonsense) mid-run is the environment, not the input.
    super(message, ExitCode.environment);
    this.name = 'JaegerQueryError';
    this.status = options.status;
    this.retryable = options.retryable ?? false;
  }
}

/** Validates `value` with `schema`; on failure throws a JaegerQueryError naming `source` and the path that failed. */
export function parseJaegerJson<T extends z.ZodType>(schema: T, value: unknown, source: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new JaegerQueryError(describeIssue(source, result.error));
  return result.data;
}

// ---------------------------------------------------------------- ids and times

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** An OTLP id (hex, or base64 as older api/v3 wrote it) as lower-case hex; undefined when invalid or all zeros. */
export function decodeOtlpId(raw: string, bytes: 16 | 8): string | undefined {
  const normalize = bytes === 16 ? normalizeTraceId : normalizeSpanId;
  if (raw.length === bytes * 2 && /^[0-9a-fA-F]+$/.test(raw)) return normalize(raw);
  if (!BASE64.test(raw)) return undefined;
  const decoded = Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return decoded.length === bytes ? normalize(decoded.toString('hex')) : undefined;
}

function otlpId(bytes: 16 | 8, what: string) {
  return z.string().transform((raw, ctx) => {
    const id = decodeOtlpId(raw, bytes);
    if (id === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a ${what} (${bytes * 2} hex chars or base64 of ${bytes} bytes, not all zeros), got "${raw}"` });
      return z.NEVER;
    }
    return id;
  });
}

const otlpTraceId = otlpId(16, 'trace id');
const otlpSpanId = otlpId(8, 'span id');
/** Empty or all-zero means "no parent". */
const otlpParentSpanId = z.string().transform((raw, ctx) => {
  if (raw === '' || /^0+$/.test(raw) || /^A+=*$/.test(raw)) return undefined;
  const id = decodeOtlpId(raw, 8);
  if (id === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a parent span id (16 hex chars or base64 of 8 bytes), got "${raw}"` });
    return z.NEVER;
  }
  return id;
});

/** fixed64 nanoseconds: a decimal string in OTLP JSON (a number is accepted too). */
const unixNanos = z.union([z.string().regex(/^\d+$/, 'expected nanoseconds as a decimal string'), z.number().int().nonnegative()]).transform((v) => BigInt(v));

function legacyId(length: 32 | 16, what: string) {
  return z.string().transform((raw, ctx) => {
    const id = length === 32 ? normalizeTraceId(raw) : normalizeSpanId(raw);
    if (id === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a ${what} (up to ${length} hex chars, not all zeros), got "${raw}"` });
      return z.NEVER;
    }
    return id;
  });
}

// ---------------------------------------------------------------- OTLP JSON (api/v3)

export interface OtlpAnyValue {
  stringValue?: string | undefined;
  boolValue?: boolean | undefined;
  intValue?: string | number | undefined;
  doubleValue?: number | string | undefined;
  bytesValue?: string | undefined;
  arrayValue?: { values?: OtlpAnyValue[] | undefined } | undefined;
  kvlistValue?: { values?: OtlpKeyValue[] | undefined } | undefined;
}
export interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue | undefined;
}

const otlpAnyValue: z.ZodType<OtlpAnyValue> = z.lazy(() =>
  z.object({
    stringValue: z.string().optional(),
    boolValue: z.boolean().optional(),
    intValue: z.union([z.string().regex(/^-?\d+$/, 'expected an integer as a decimal string'), z.number().int()]).optional(),
    doubleValue: z.union([z.number(), z.string()]).optional(),
    bytesValue: z.string().optional(),
    arrayValue: z.object({ values: z.array(otlpAnyValue).optional() }).optional(),
    kvlistValue: z.object({ values: z.array(otlpKeyValue).optional() }).optional(),
  }),
);
const otlpKeyValue: z.ZodType<OtlpKeyValue> = z.lazy(() => z.object({ key: z.string(), value: otlpAnyValue.optional() }));
const otlpAttributes = z.array(otlpKeyValue).nullish();

const SPAN_KINDS: readonly SpanKind[] = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const otlpKind = z.union([z.number().int(), z.string()]).transform((raw, ctx): SpanKind => {
  const kind = typeof raw === 'number' ? SPAN_KINDS[raw] : SPAN_KINDS.find((k) => raw === `SPAN_KIND_${k.toUpperCase()}`);
  if (kind === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a span kind (0-5 or SPAN_KIND_*), got ${JSON.stringify(raw)}` });
    return z.NEVER;
  }
  return kind;
});

const STATUS_CODES: readonly StatusCode[] = ['unset', 'ok', 'error'];
const otlpStatusCode = z.union([z.number().int(), z.string()]).transform((raw, ctx): StatusCode => {
  const code = typeof raw === 'number' ? STATUS_CODES[raw] : STATUS_CODES.find((c) => raw === `STATUS_CODE_${c.toUpperCase()}`);
  if (code === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a status code (0-2 or STATUS_CODE_*), got ${JSON.stringify(raw)}` });
    return z.NEVER;
  }
  return code;
});

const otlpSpan = z.object({
  traceId: otlpTraceId,
  spanId: otlpSpanId,
  parentSpanId: otlpParentSpanId.optional(),
  name: z.string(),
  kind: otlpKind.optional(),
  startTimeUnixNano: unixNanos,
  endTimeUnixNano: unixNanos,
  attributes: otlpAttributes,
  events: z.array(z.object({ timeUnixNano: unixNanos, name: z.string().optional(), attributes: otlpAttributes })).nullish(),
  links: z.array(z.object({ traceId: otlpTraceId, spanId: otlpSpanId, attributes: otlpAttributes })).nullish(),
  status: z.object({ code: otlpStatusCode.optional(), message: z.string().optional() }).nullish(),
});

const otlpScope = z.object({ name: z.string().optional(), version: z.string().optional() }).nullish();
const otlpScopeSpans = z.object({
  scope: otlpScope,
  /** OTLP before 0.15 (older Jaeger api/v3). */
  instrumentationLibrary: otlpScope,
  spans: z.array(otlpSpan).nullish(),
});
const otlpResourceSpans = z.object({
  resource: z.object({ attributes: otlpAttributes }).nullish(),
  scopeSpans: z.array(otlpScopeSpans).nullish(),
  instrumentationLibrarySpans: z.array(otlpScopeSpans).nullish(),
});

/** `GET /api/v3/traces/{id}` and `GET /api/v3/traces?query.*` answers (200). */
export const v3TracesResponseSchema = z.object({
  result: z.object({ resourceSpans: z.array(otlpResourceSpans).nullish() }),
});
export type V3TracesResponse = z.output<typeof v3TracesResponseSchema>;

/** `GET /api/v3/services`: Jaeger v2 answers `{}` when it has no services. */
export const v3ServicesResponseSchema = z.object({ services: z.array(z.string()).nullish() });

/** api/v3 error answers, e.g. 404 `{"error":{"httpCode":404,"message":"No traces found"}}` (grpc-gateway: `{code, message}`). */
export const v3ErrorResponseSchema = z.union([
  z.object({ error: z.object({ httpCode: z.number().optional(), message: z.string().optional() }) }),
  z.object({ code: z.number(), message: z.string() }),
]);

function attributeValue(value: OtlpAnyValue | undefined): AttributeValue | undefined {
  if (value === undefined) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) {
    if (typeof value.intValue === 'number') return value.intValue;
    const n = Number(value.intValue);
    return Number.isSafeInteger(n) ? n : value.intValue;
  }
  if (value.doubleValue !== undefined) return Number(value.doubleValue);
  if (value.bytesValue !== undefined) return value.bytesValue;
  if (value.arrayValue !== undefined) {
    return (value.arrayValue.values ?? []).map(attributeValue).filter((v): v is AttributeValue => v !== undefined);
  }
  if (value.kvlistValue !== undefined) return otlpAttributeMap(value.kvlistValue.values);
  return undefined;
}

function otlpAttributeMap(list: readonly OtlpKeyValue[] | null | undefined): Attributes {
  const out: Attributes = {};
  for (const { key, value } of list ?? []) {
    const v = attributeValue(value);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

const NANOS_PER_MS = 1_000_000;
function nanosToMs(nanos: bigint): number {
  return Number(nanos / 1000n) / 1000;
}

/** Every span of an api/v3 answer (one or several traces), in answer order. */
export function spansFromV3(response: V3TracesResponse): NormalizedSpan[] {
  const spans: NormalizedSpan[] = [];
  for (const resourceSpans of response.result.resourceSpans ?? []) {
    const resource = otlpAttributeMap(resourceSpans.resource?.attributes);
    const serviceName = resource['service.name'];
    delete resource['service.name'];
    const service = typeof serviceName === 'string' && serviceName !== '' ? serviceName : 'unknown_service';
    for (const scopeSpans of [...(resourceSpans.scopeSpans ?? []), ...(resourceSpans.instrumentationLibrarySpans ?? [])]) {
      const scope = scopeSpans.scope?.name || scopeSpans.instrumentationLibrary?.name || undefined;
      for (const s of scopeSpans.spans ?? []) {
        const status: SpanStatus = { code: s.status?.code ?? 'unset' };
        if (s.status?.message) status.message = s.status.message;
        const span: NormalizedSpan = {
          traceId: s.traceId,
          spanId: s.spanId,
          service,
          name: s.name,
          kind: s.kind ?? 'unspecified',
          startTimeUnixNano: s.startTimeUnixNano,
          startTimeMs: nanosToMs(s.startTimeUnixNano),
          durationMs: Number(s.endTimeUnixNano - s.startTimeUnixNano) / NANOS_PER_MS,
          attributes: otlpAttributeMap(s.attributes),
          resource: { ...resource },
          events: (s.events ?? []).map(
            (e): SpanEvent => ({ name: e.name ?? '', timeMs: Number(e.timeUnixNano - s.startTimeUnixNano) / NANOS_PER_MS, attributes: otlpAttributeMap(e.attributes) }),
          ),
          links: (s.links ?? []).map((l): SpanLink => ({ traceId: l.traceId, spanId: l.spanId, attributes: otlpAttributeMap(l.attributes) })),
          status,
        };
        if (s.parentSpanId !== undefined) span.parentSpanId = s.parentSpanId;
        if (scope) span.scope = scope;
        spans.push(span);
      }
    }
  }
  return spans;
}

/**
 * Validates an api/v3 traces answer and converts it; `source` names it in errors. The common
 * shape goes through the one-pass checker of otlp-fast-path.ts; everything else through the
 * schema, which converts what it accepts and names the field that failed.
 */
export function parseV3Traces(value: unknown, source = 'Jaeger api/v3 traces answer'): NormalizedSpan[] {
  return fastSpansFromV3(value) ?? spansFromV3(parseJaegerJson(v3TracesResponseSchema, value, source));
}

// ---------------------------------------------------------------- legacy JSON (Jaeger 1.x UI API)

const legacyTag = z.object({
  key: z.string(),
  type: z.string().optional(),
  value: z.union([z.string(), z.number(), z.boolean()]),
});
type LegacyTag = z.output<typeof legacyTag>;
const legacyTags = z.array(legacyTag).nullish();

const legacyProcess = z.object({ serviceName: z.string(), tags: legacyTags });

const legacySpan = z.object({
  traceID: legacyId(32, 'trace id'),
  spanID: legacyId(16, 'span id'),
  operationName: z.string(),
  references: z.array(z.object({ refType: z.string(), traceID: legacyId(32, 'trace id'), spanID: legacyId(16, 'span id') })).nullish(),
  /** Microseconds since the epoch. */
  startTime: z.number().int().nonnegative(),
  /** Microseconds. */
  duration: z.number().nonnegative(),
  tags: legacyTags,
  logs: z.array(z.object({ timestamp: z.number().int(), fields: legacyTags })).nullish(),
  processID: z.string().optional(),
  /** Inline process (some exports carry it on the span instead of in `processes`). */
  process: legacyProcess.optional(),
  warnings: z.array(z.string()).nullish(),
});

const legacyTrace = z.object({
  traceID: legacyId(32, 'trace id'),
  spans: z.array(legacySpan),
  processes: z.record(z.string(), legacyProcess).nullish(),
  warnings: z.array(z.string()).nullish(),
});

/** `GET /api/traces/{id}` and `GET /api/traces?service=…` answers; `data` is null on a 404. */
export const legacyTracesResponseSchema = z.object({
  data: z.array(legacyTrace).nullable(),
  errors: z.array(z.object({ code: z.number().optional(), msg: z.string().optional(), traceID: z.string().optional() })).nullish(),
});
export type LegacyTracesResponse = z.output<typeof legacyTracesResponseSchema>;

/** `GET /api/services`: `data` is null when Jaeger has no services. */
export const legacyServicesResponseSchema = z.object({ data: z.array(z.string()).nullable() });

function legacyValue(tag: LegacyTag): AttributeValue {
  const { type, value } = tag;
  if (type === 'bool' && typeof value === 'string') return value === 'true';
  if ((type === 'int64' || type === 'float64') && typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return value;
}

function legacyAttributeMap(tags: readonly LegacyTag[] | null | undefined): Attributes {
  const out: Attributes = {};
  for (const tag of tags ?? []) out[tag.key] = legacyValue(tag);
  return out;
}

const LEGACY_KINDS: ReadonlySet<string> = new Set(['internal', 'server', 'client', 'producer', 'consumer']);

function take(attributes: Attributes, key: string): AttributeValue | undefined {
  const value = attributes[key];
  delete attributes[key];
  return value;
}

/** Every span of a legacy answer (one or several traces), in answer order. */
export function spansFromLegacy(response: LegacyTracesResponse, source = 'Jaeger legacy traces answer'): NormalizedSpan[] {
  const spans: NormalizedSpan[] = [];
  (response.data ?? []).forEach((trace, t) => {
    trace.spans.forEach((s, i) => {
      const process = s.process ?? (s.processID !== undefined ? trace.processes?.[s.processID] : undefined);
      if (!process) {
        throw new JaegerQueryError(`${source}: data.${t}.spans.${i}.processID: no process ${JSON.stringify(s.processID ?? null)} in data.${t}.processes`);
      }
      const attributes = legacyAttributeMap(s.tags);
      const kindTag = take(attributes, 'span.kind');
      const statusTag = take(attributes, 'otel.status_code');
      const statusMessage = take(attributes, 'otel.status_description');
      const scopeTag = take(attributes, 'otel.scope.name') ?? take(attributes, 'otel.library.name');
      delete attributes['otel.scope.version'];
      delete attributes['otel.library.version'];
      const errorTag = attributes['error'];
      const errorFlag = errorTag === true || errorTag === 'true';
      if (errorFlag) delete attributes['error'];

      let code: StatusCode = 'unset';
      if (typeof statusTag === 'string' && (statusTag.toUpperCase() === 'OK' || statusTag.toUpperCase() === 'ERROR')) code = statusTag.toUpperCase() === 'OK' ? 'ok' : 'error';
      else if (errorFlag) code = 'error';
      const status: SpanStatus = { code };
      if (typeof statusMessage === 'string' && statusMessage !== '') status.message = statusMessage;

      // Jaeger's rule (model.Span.ParentSpanID): first CHILD_OF into the same trace, else first FOLLOWS_FROM.
      const refs = s.references ?? [];
      const sameTrace = refs.filter((r) => r.traceID === s.traceID);
      const parentRef = sameTrace.find((r) => r.refType === 'CHILD_OF') ?? sameTrace.find((r) => r.refType === 'FOLLOWS_FROM');

      const startTimeUnixNano = BigInt(s.startTime) * 1000n;
      const span: NormalizedSpan = {
        traceId: s.traceID,
        spanId: s.spanID,
        service: process.serviceName,
        name: s.operationName,
        kind: typeof kindTag === 'string' && LEGACY_KINDS.has(kindTag) ? (kindTag as SpanKind) : 'unspecified',
        startTimeUnixNano,
        startTimeMs: s.startTime / 1000,
        durationMs: s.duration / 1000,
        attributes,
        resource: legacyAttributeMap(process.tags),
        events: (s.logs ?? []).map((log): SpanEvent => {
          const fields = legacyAttributeMap(log.fields);
          const name = take(fields, 'event');
          return { name: typeof name === 'string' ? name : 'log', timeMs: (log.timestamp - s.startTime) / 1000, attributes: fields };
        }),
        links: refs.filter((r) => r !== parentRef).map((r): SpanLink => ({ traceId: r.traceID, spanId: r.spanID, attributes: {} })),
        status,
      };
      if (parentRef && parentRef.spanID !== s.spanID) span.parentSpanId = parentRef.spanID;
      if (typeof scopeTag === 'string' && scopeTag !== '') span.scope = scopeTag;
      spans.push(span);
    });
  });
  return spans;
}

/** Validates a legacy traces answer and converts it; `source` names it in errors. */
export function parseLegacyTraces(value: unknown, source = 'Jaeger legacy traces answer'): NormalizedSpan[] {
  return spansFromLegacy(parseJaegerJson(legacyTracesResponseSchema, value, source), source);
}
