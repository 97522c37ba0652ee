import { hsiNames, HSI_CORRELATION, type HsiNameOptions } from '../contract/hsi-names.ts';
import { stitchPipelines, joinCounts, type StitchedPipeline } from '../traces/stitch.ts';
import type { AttributeValue, NormalizedSpan, TraceTree } from '../traces/span-model.ts';

/**
 * What an incident's traces say, in the terms the reconstruction needs: the uploads (when
 * each arrived, for which camera, how big), and every call to a downstream hop (detector, LLM,
 * PostgreSQL, Redis) with its timing, outcome and, where the callee is instrumented, the
 * callee's own time. Traces broken at the queues are joined first by `file_path` / `batch_id`
 * (harness/traces/stitch.ts), so an upload is counted once whichever trace holds it.
 */

export type HopName = 'detector' | 'llm' | 'postgres' | 'redis';
export const HOPS: readonly HopName[] = ['detector', 'llm', 'postgres', 'redis'];

/**
 * How a call failed. `rejected`: the client's own circuit breaker refused it (it never reached
 * the hop): such calls say nothing about the hop's state and are left out of the fault windows,
 * so a window ends at the fault's end, not at the end of the breaker's open period.
 * `offline`: the client refused it itself because its connection was down and it queues
 * nothing while reconnecting (ioredis without an offline queue): it shows the client had not
 * reconnected yet, not that the fault was still on.
 */
export type ErrorKind = 'refused' | 'timeout' | 'reset' | 'http' | 'rejected' | 'offline' | 'other';

export interface HopCall {
  hop: HopName;
  traceId: string;
  spanId: string;
  name: string;
  /** Epoch ms. */
  startMs: number;
  durationMs: number;
  error: boolean;
  errorKind?: ErrorKind;
  statusCode?: number;
  message?: string;
  /** The callee's SERVER span duration, when the callee is instrumented. */
  serverMs?: number;
  /** Payload size in bytes when the span carries one (query text, message body, image). */
  bytes?: number;
  /** The client's circuit breaker opened on this call (`circuit_breaker.opened` event). */
  breakerOpened?: boolean;
  /** The breaker's state when the call was made (`circuit_breaker.state`): `half_open` marks a trial call. */
  breakerState?: string;
}

export interface Arrival {
  /** Epoch ms: the upload's server span start, else the first detection_processing start minus its queue wait. */
  atMs: number;
  cameraId: string;
  filePath?: string;
  sizeBytes?: number;
  /** HTTP status of the upload, when there is an upload span. */
  status?: number;
  traceId: string;
  via: 'upload' | 'detection';
}

export interface Incident {
  traces: number;
  spans: number;
  services: string[];
  arrivals: Arrival[];
  calls: Record<HopName, HopCall[]>;
  pipelines: StitchedPipeline[];
  /** Queue hops (detection_queue, analysis_queue) joined only by correlation attributes (no context in the message), and joined by context. */
  stitchedJoins: number;
  linkedJoins: number;
  /** Every span once, for the hints and the fidelity comparison. */
  allSpans: NormalizedSpan[];
}

export function attr(span: NormalizedSpan, key: string): AttributeValue | undefined {
  return span.attributes[key] ?? span.resource[key];
}

export function numAttr(span: NormalizedSpan, ...keys: string[]): number | undefined {
  for (const key of keys) {
    const v = attr(span, key);
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
    if (Number.isFinite(n)) return n;
  }
  return undefined;
}

export function strAttr(span: NormalizedSpan, ...keys: string[]): string | undefined {
  for (const key of keys) {
    const v = attr(span, key);
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  }
  return undefined;
}

export function uniqueSpansOf(traces: readonly TraceTree[]): NormalizedSpan[] {
  const seen = new Set<string>();
  const out: NormalizedSpan[] = [];
  for (const t of traces) {
    for (const s of t.spans) {
      const key = `${s.traceId}:${s.spanId}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(s);
    }
  }
  return out.sort((a, b) => a.startTimeMs - b.startTimeMs);
}

export function isError(span: NormalizedSpan): boolean {
  return span.status.code === 'error' || span.events.some((e) => e.name === 'exception');
}

function errorText(span: NormalizedSpan): string {
  const exception = span.events.find((e) => e.name === 'exception');
  const parts = [span.status.message, strAttr(span, 'error.type', 'error_code', 'exception.type'), exception ? String(exception.attributes['exception.message'] ?? '') : undefined];
  return parts.filter((p): p is string => typeof p === 'string' && p !== '').join(' | ');
}

/** How a failed call failed, from its status code and error texts. */
export function classifyError(statusCode: number | undefined, text: string): ErrorKind {
  if (/circuit[ _-]?(breaker\b.*\bopen|open)|CircuitBreakerError|CircuitOpen|call rejected/i.test(text)) return 'rejected';
  if (/Stream isn't writeable|enableOfflineQueue|offline queue/i.test(text)) return 'offline';
  if (/timeout|timed out|ETIMEDOUT|TimeoutError|aborted due to timeout/i.test(text)) return 'timeout';
  if (/ECONNREFUSED|connection refused|ENOTFOUND|EHOSTUNREACH/i.test(text)) return 'refused';
  if (/ECONNRESET|socket hang up|reset by peer|EPIPE|other side closed|Connection is closed|connection closed|UND_ERR_SOCKET/i.test(text)) return 'reset';
  if (statusCode !== undefined && statusCode >= 400) return 'http';
  return 'other';
}

export interface HopSelectors {
  detectorRequest: string;
  llmRequest: string;
}

function hopOf(span: NormalizedSpan, names: HopSelectors): HopName | undefined {
  if (span.name === names.detectorRequest) return 'detector';
  if (span.name === names.llmRequest) return 'llm';
  if (span.kind === 'server' || span.kind === 'consumer') return undefined;
  const db = strAttr(span, 'db.system.name', 'db.system');
  if (db === 'postgresql') return 'postgres';
  if (db === 'redis' || strAttr(span, 'messaging.system') === 'redis') return 'redis';
  return undefined;
}

function serverChild(span: NormalizedSpan, children: ReadonlyMap<string, NormalizedSpan[]>): NormalizedSpan | undefined {
  return (children.get(`${span.traceId}:${span.spanId}`) ?? []).find((c) => c.kind === 'server' && c.service !== span.service);
}

function toCall(span: NormalizedSpan, hop: HopName, children: ReadonlyMap<string, NormalizedSpan[]>): HopCall {
  const call: HopCall = { hop, traceId: span.traceId, spanId: span.spanId, name: span.name, startMs: span.startTimeMs, durationMs: span.durationMs, error: isError(span) };
  const status = numAttr(span, 'http.response.status_code', 'http.status_code');
  if (status !== undefined) call.statusCode = status;
  if (call.error) {
    const text = errorText(span);
    call.errorKind = classifyError(status, text);
    if (text !== '') call.message = text.slice(0, 200);
  }
  const server = serverChild(span, children);
  if (server) call.serverMs = server.durationMs;
  const query = strAttr(span, 'db.query.text', 'db.statement');
  const bytes = numAttr(span, 'messaging.message.body.size', 'ai.inference.image_bytes') ?? (query !== undefined ? query.length : undefined);
  if (bytes !== undefined) call.bytes = bytes;
  if (span.events.some((e) => e.name === 'circuit_breaker.opened')) call.breakerOpened = true;
  const breaker = strAttr(span, 'circuit_breaker.state');
  if (breaker !== undefined) call.breakerState = breaker;
  return call;
}

function childrenIndex(spans: readonly NormalizedSpan[]): Map<string, NormalizedSpan[]> {
  const out = new Map<string, NormalizedSpan[]>();
  for (const s of spans) {
    if (s.parentSpanId === undefined) continue;
    const key = `${s.traceId}:${s.parentSpanId}`;
    const list = out.get(key);
    if (list) list.push(s);
    else out.set(key, [s]);
  }
  return out;
}

/** Image bytes the detector was sent for a detection_processing span (its request child). */
function imageBytes(detection: NormalizedSpan, children: ReadonlyMap<string, NormalizedSpan[]>): number | undefined {
  for (const c of children.get(`${detection.traceId}:${detection.spanId}`) ?? []) {
    const n = numAttr(c, 'ai.inference.image_bytes');
    if (n !== undefined) return n;
  }
  return undefined;
}

function arrivalsOf(pipelines: readonly StitchedPipeline[], spansById: ReadonlyMap<string, NormalizedSpan>, children: ReadonlyMap<string, NormalizedSpan[]>): Arrival[] {
  const out: Arrival[] = [];
  for (const p of pipelines) {
    const upload = p.upload ? spansById.get(`${p.upload.traceId}:${p.upload.spanId}`) : undefined;
    const detection = p.detection ? spansById.get(`${p.detection.traceId}:${p.detection.spanId}`) : undefined;
    const span = upload ?? detection;
    if (!span) continue;
    const cameraId = p.cameraId ?? strAttr(span, HSI_CORRELATION.cameraId, 'camera.id') ?? 'unknown';
    const wait = upload ? 0 : (numAttr(span, 'queue_wait_ms') ?? 0);
    const a: Arrival = { atMs: span.startTimeMs - wait, cameraId, traceId: span.traceId, via: upload ? 'upload' : 'detection' };
    if (p.filePath !== '') a.filePath = p.filePath;
    const size = numAttr(span, 'upload.size_bytes', 'file.size') ?? (detection ? imageBytes(detection, children) : undefined);
    if (size !== undefined) a.sizeBytes = size;
    const status = upload ? numAttr(upload, 'http.response.status_code', 'http.status_code') : undefined;
    if (status !== undefined) a.status = status;
    out.push(a);
  }
  return out;
}

/** Upload spans that have no file path (rejected before the file was stored) still count as arrivals. */
function pathlessUploads(spans: readonly NormalizedSpan[], uploadName: string, backend: string): Arrival[] {
  return spans
    .filter((s) => s.name === uploadName && s.service === backend && s.kind === 'server' && strAttr(s, HSI_CORRELATION.filePath) === undefined)
    .map((s) => {
      const a: Arrival = { atMs: s.startTimeMs, cameraId: strAttr(s, HSI_CORRELATION.cameraId, 'camera.id') ?? 'unknown', traceId: s.traceId, via: 'upload' };
      const status = numAttr(s, 'http.response.status_code', 'http.status_code');
      if (status !== undefined) a.status = status;
      const size = numAttr(s, 'upload.size_bytes');
      if (size !== undefined) a.sizeBytes = size;
      return a;
    });
}

/** Reads an incident out of a set of traces (several traces per upload when the queues break context). */
export function readIncident(traces: readonly TraceTree[], names: HsiNameOptions = {}): Incident {
  const { services, spans: spanNames } = hsiNames(names);
  const allSpans = uniqueSpansOf(traces);
  const children = childrenIndex(allSpans);
  const calls: Record<HopName, HopCall[]> = { detector: [], llm: [], postgres: [], redis: [] };
  const selectors: HopSelectors = { detectorRequest: spanNames.detectorRequest, llmRequest: spanNames.llmRequest };
  for (const span of allSpans) {
    const hop = hopOf(span, selectors);
    if (hop) calls[hop].push(toCall(span, hop, children));
  }
  const pipelines = stitchPipelines(traces, { until: 'detection' });
  const spansById = new Map(allSpans.map((s) => [`${s.traceId}:${s.spanId}`, s]));
  const arrivals = [...arrivalsOf(pipelines, spansById, children), ...pathlessUploads(allSpans, spanNames.upload, services.backend)].sort((a, b) => a.atMs - b.atMs);
  // The queue hops: upload → detection (detection_queue) and detection → analysis (analysis_queue).
  const counts = joinCounts(pipelines);
  const queueJoins = [counts['upload → detection'], counts['detection → analysis']];
  const stitchedJoins = queueJoins.reduce((n, c) => n + c.stitched, 0);
  const linkedJoins = queueJoins.reduce((n, c) => n + c.linked, 0);
  return {
    traces: traces.length,
    spans: allSpans.length,
    services: [...new Set(allSpans.map((s) => s.service))].sort(),
    arrivals,
    calls,
    pipelines,
    stitchedJoins,
    linkedJoins,
    allSpans,
  };
}
