import type { AttributeValue, Attributes, NormalizedSpan, TraceTree } from './span-model.ts';

/**
 * NormalizedSpan → Jaeger legacy JSON (`{data:[{traceID, spans, processes}]}`), the format
 * Jaeger 1.x's UI exports ("Download JSON") and `GET /api/traces` answers. The reverse of
 * `spansFromLegacy` (jaeger-schemas.ts): OpenTelemetry's kind, status and scope travel as the
 * tags Jaeger uses for them (`span.kind`, `otel.status_code`, `otel.status_description`,
 * `otel.scope.name`, `error=true`), the parent as the first CHILD_OF reference and each link as
 * a FOLLOWS_FROM reference, events as logs with an `event` field. Times are microseconds, so a
 * round trip keeps them to the microsecond.
 */

/** A run's traces in results/<run-id>/ (legacy JSON, written by the HSI evaluator after the drain). */
export const RUN_TRACES_FILE = 'traces.json';

export interface LegacyTag {
  key: string;
  type: 'string' | 'bool' | 'int64' | 'float64';
  value: string | number | boolean;
}

export interface LegacySpanJson {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }[];
  startTime: number;
  duration: number;
  tags: LegacyTag[];
  logs: { timestamp: number; fields: LegacyTag[] }[];
  processID: string;
  warnings: null;
}

export interface LegacyTraceJson {
  traceID: string;
  spans: LegacySpanJson[];
  processes: Record<string, { serviceName: string; tags: LegacyTag[] }>;
  warnings: null;
}

export interface LegacyTracesJson {
  data: LegacyTraceJson[];
  total: number;
  limit: number;
  offset: number;
  errors: null;
}

function tag(key: string, value: AttributeValue): LegacyTag {
  if (typeof value === 'boolean') return { key, type: 'bool', value };
  if (typeof value === 'number') return { key, type: Number.isInteger(value) ? 'int64' : 'float64', value };
  if (typeof value === 'string') return { key, type: 'string', value };
  // Jaeger flattens arrays and maps into JSON strings.
  return { key, type: 'string', value: JSON.stringify(value) };
}

function tags(attributes: Attributes): LegacyTag[] {
  return Object.entries(attributes).map(([k, v]) => tag(k, v));
}

const micros = (ms: number) => Math.round(ms * 1000);

function spanTags(span: NormalizedSpan): LegacyTag[] {
  const out = tags(span.attributes);
  if (span.kind !== 'unspecified') out.push(tag('span.kind', span.kind));
  if (span.status.code !== 'unset') out.push(tag('otel.status_code', span.status.code.toUpperCase()));
  if (span.status.message !== undefined) out.push(tag('otel.status_description', span.status.message));
  if (span.status.code === 'error') out.push(tag('error', true));
  if (span.scope !== undefined) out.push(tag('otel.scope.name', span.scope));
  return out;
}

function legacySpan(span: NormalizedSpan, processID: string): LegacySpanJson {
  const startUs = Number(span.startTimeUnixNano / 1000n);
  const references: LegacySpanJson['references'] = [];
  if (span.parentSpanId !== undefined) references.push({ refType: 'CHILD_OF', traceID: span.traceId, spanID: span.parentSpanId });
  for (const l of span.links) references.push({ refType: 'FOLLOWS_FROM', traceID: l.traceId, spanID: l.spanId });
  return {
    traceID: span.traceId,
    spanID: span.spanId,
    operationName: span.name,
    references,
    startTime: startUs,
    duration: Math.max(0, micros(span.durationMs)),
    tags: spanTags(span),
    logs: span.events.map((e) => ({ timestamp: startUs + micros(e.timeMs), fields: [tag('event', e.name), ...tags(e.attributes)] })),
    processID,
    warnings: null,
  };
}

/** One trace in legacy JSON; processes are numbered p1, p2… per distinct service and resource. */
export function toLegacyTrace(tree: TraceTree): LegacyTraceJson {
  const processes: LegacyTraceJson['processes'] = {};
  const ids = new Map<string, string>();
  const spans = tree.spans.map((span) => {
    const key = JSON.stringify([span.service, span.resource]);
    let id = ids.get(key);
    if (id === undefined) {
      id = `p${ids.size + 1}`;
      ids.set(key, id);
      processes[id] = { serviceName: span.service, tags: tags(span.resource) };
    }
    return legacySpan(span, id);
  });
  return { traceID: tree.traceId, spans, processes, warnings: null };
}

/** Traces as Jaeger's UI exports them. */
export function toLegacyJson(traces: readonly TraceTree[]): LegacyTracesJson {
  return { data: traces.map(toLegacyTrace), total: traces.length, limit: 0, offset: 0, errors: null };
}
