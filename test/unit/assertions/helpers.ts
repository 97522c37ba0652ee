import { buildTraceTree, type Attributes, type NormalizedSpan, type SpanEvent, type SpanKind, type SpanLink, type SpanStatus, type TraceTree } from '../../../harness/traces/span-model.ts';

/** Epoch ms of every hand-made trace's t = 0 (2026-11-24T08:00:00Z). */
export const T0 = Date.UTC(2026, 10, 24, 8, 0, 0);

export interface SpanSpec {
  id: string;
  parent?: string | undefined;
  service?: string;
  name: string;
  kind?: SpanKind;
  /** ms after T0. */
  start: number;
  dur: number;
  attrs?: Attributes;
  events?: SpanEvent[];
  links?: SpanLink[];
  status?: SpanStatus;
}

export const hex16 = (id: string) => id.padStart(16, '0');
export const hex32 = (id: string) => id.padStart(32, '0');

/** A span from a compact spec (ids padded to 16 hex, times in ms after T0). */
export function mkSpan(traceId: string, spec: SpanSpec): NormalizedSpan {
  const startMs = T0 + spec.start;
  const s: NormalizedSpan = {
    traceId: hex32(traceId),
    spanId: hex16(spec.id),
    service: spec.service ?? 'nemotron-backend',
    name: spec.name,
    kind: spec.kind ?? 'internal',
    startTimeUnixNano: BigInt(Math.round(startMs * 1000)) * 1000n,
    startTimeMs: startMs,
    durationMs: spec.dur,
    attributes: spec.attrs ?? {},
    resource: {},
    events: spec.events ?? [],
    links: spec.links ?? [],
    status: spec.status ?? { code: 'unset' },
  };
  if (spec.parent !== undefined) s.parentSpanId = hex16(spec.parent);
  return s;
}

export function mkTree(traceId: string, specs: readonly SpanSpec[]): TraceTree {
  return buildTraceTree(specs.map((s) => mkSpan(traceId, s)), hex32(traceId));
}

// ------------------------------------------------------------------ HSI traces

export const BACKEND = 'nemotron-backend';
export const DETECTOR = 'ai-yolo26-emulator';
export const LLM = 'ai-llm-emulator';

export interface HsiDefects {
  /** Queue messages carry no trace context: detection_processing and analysis_processing root new traces. */
  queueNoContext?: boolean;
  /** No detector spans at all. */
  detectorNotInstrumented?: boolean;
  /** The LLM client sends no baggage: the LLM server span lacks camera.id / batch.id. */
  llmBaggageDropped?: boolean;
}

export interface HsiUploadSpec {
  /** 1-based upload number: ids and times derive from it. */
  n: number;
  cameraId?: string;
  batchId?: string;
  /** The batch's opening upload carries the analysis part; the others are linked. */
  opener?: boolean;
  /** This detection opened its batch (`batch.opened`; default: `opener`). */
  opensBatch?: boolean;
  /** Span ids (as `hsiSpanId(n, code)`) of the other detections' batch_aggregation spans, with their trace ids. */
  linkedDetections?: { traceId: string; spanId: string }[];
  /** detection_processing duration, default 300 ms. */
  detectMs?: number;
  /** analysis_processing duration, default 2000 ms. */
  analyzeMs?: number;
  /** Start of the upload, ms after T0; default (n − 1) × 1000. */
  at?: number;
  /** Start of the analysis part (batch close), ms after T0; default at + 30 000. */
  closeAt?: number;
  defects?: HsiDefects;
}

export const uploadTraceId = (n: number) => `a${n.toString(16).padStart(31, '0')}`;
export const workerTraceId = (n: number) => `b${n.toString(16).padStart(31, '0')}`;
export const analysisTraceId = (n: number) => `c${n.toString(16).padStart(31, '0')}`;
export const hsiSpanId = (n: number, code: number) => `${n.toString(16).padStart(8, '0')}${code.toString(16).padStart(8, '0')}`;
export const clientSpanId = (n: number) => `d${n.toString(16).padStart(15, '0')}`;
export const filePathOf = (n: number, camera = 'front_door') => `/data/uploads/${camera}/upload-${n}.jpg`;

export const UPLOAD_ROUTE = 'POST /api/cameras/{camera_id}/uploads';

/**
 * The traces one upload leaves: one tree when propagation works; with `queueNoContext`, the
 * upload's trace, the worker's trace (detection_processing as root) and, for the opener, the
 * analysis worker's trace (analysis_processing as root).
 */
export function hsiUploadTraces(spec: HsiUploadSpec): TraceTree[] {
  const n = spec.n;
  const d = spec.defects ?? {};
  const camera = spec.cameraId ?? 'front_door';
  const batchId = spec.batchId ?? 'batch-0000abcd';
  const at = spec.at ?? (n - 1) * 1000;
  const closeAt = spec.closeAt ?? at + 30_000;
  const detectMs = spec.detectMs ?? 300;
  const analyzeMs = spec.analyzeMs ?? 2000;
  const id = (code: number) => hsiSpanId(n, code);
  const filePath = filePathOf(n, camera);
  const baggage = { 'camera.id': camera, 'request.source': 'hsi-chaos' };
  const uploadTrace = uploadTraceId(n);
  const detectTrace = d.queueNoContext ? workerTraceId(n) : uploadTrace;
  const analysisTrace = d.queueNoContext ? analysisTraceId(n) : detectTrace;

  const upload: SpanSpec[] = [
    { id: id(1), parent: clientSpanId(n), name: UPLOAD_ROUTE, kind: 'server', start: at, dur: 20, attrs: { ...baggage, file_path: filePath, 'upload.id': `upload-${n}`, 'http.response.status_code': 202 } },
    { id: id(2), parent: id(1), name: 'detection_queue publish', kind: 'producer', start: at + 10, dur: 5, attrs: { 'messaging.system': 'redis' } },
  ];
  const workerBaggage = d.queueNoContext ? {} : baggage;
  const detection: SpanSpec[] = [
    {
      id: id(3),
      parent: d.queueNoContext ? undefined : id(2),
      name: 'detection_processing',
      kind: 'consumer',
      start: at + 50,
      dur: detectMs,
      attrs: { ...workerBaggage, camera_id: camera, file_path: filePath, media_type: 'image', detection_count: 2 },
    },
    { id: id(4), parent: id(3), name: 'yolo26_detection_request', kind: 'client', start: at + 60, dur: 150, attrs: { retry_attempt: 0, 'ai.model.name': 'yolo26' } },
    ...(d.detectorNotInstrumented
      ? []
      : [
          { id: id(5), parent: id(4), service: DETECTOR, name: 'POST /detect', kind: 'server' as const, start: at + 65, dur: 140, attrs: { ...workerBaggage, 'ai.emulated': true } },
          { id: id(6), parent: id(5), service: DETECTOR, name: 'yolo26_inference', start: at + 70, dur: 130, attrs: { 'ai.emulated': true } },
        ]),
    { id: id(7), parent: id(3), name: 'INSERT detections', kind: 'client', start: at + 220, dur: 10, attrs: { 'db.system.name': 'postgresql' } },
    { id: id(8), parent: id(3), name: 'batch_aggregation', start: at + 240, dur: 20, attrs: { batch_id: batchId, 'batch.id': batchId, camera_id: camera, file_path: filePath, 'batch.opened': spec.opensBatch ?? spec.opener === true } },
  ];
  const analysis: SpanSpec[] = [];
  if (spec.opener) {
    analysis.push({
      id: id(9),
      parent: id(8),
      name: 'analysis_queue publish',
      kind: 'producer',
      start: closeAt,
      dur: 5,
      attrs: { 'batch.id': batchId },
      links: (spec.linkedDetections ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: { 'link.type': 'batched_detection' } })),
    });
    const analysisBaggage = d.queueNoContext ? {} : { ...baggage, 'batch.id': batchId };
    const llmBaggage = d.llmBaggageDropped ? {} : analysisBaggage;
    analysis.push(
      {
        id: id(10),
        parent: d.queueNoContext ? undefined : id(9),
        name: 'analysis_processing',
        kind: 'consumer',
        start: closeAt + 50,
        dur: analyzeMs,
        attrs: { ...analysisBaggage, batch_id: batchId, detection_count: 2, camera_id: camera },
      },
      { id: id(11), parent: id(10), name: 'llm_inference', kind: 'client', start: closeAt + 100, dur: analyzeMs - 300 },
      { id: id(12), parent: id(11), service: LLM, name: 'POST /completion', kind: 'server', start: closeAt + 110, dur: analyzeMs - 320, attrs: { ...llmBaggage, 'ai.emulated': true } },
      { id: id(13), parent: id(12), service: LLM, name: 'llm_generate', start: closeAt + 120, dur: analyzeMs - 340 },
      { id: id(14), parent: id(10), name: 'event_creation', start: closeAt + analyzeMs - 150, dur: 50, attrs: { batch_id: batchId } },
    );
  }

  if (!d.queueNoContext) return [mkTree(uploadTrace, [...upload, ...detection, ...analysis])];
  const trees = [mkTree(uploadTrace, upload)];
  const publish = analysis.filter((s) => s.name === 'analysis_queue publish');
  trees.push(mkTree(detectTrace, [...detection, ...publish]));
  const rest = analysis.filter((s) => s.name !== 'analysis_queue publish');
  if (rest.length > 0) trees.push(mkTree(analysisTrace, rest));
  return trees;
}

export interface HsiRunOptions {
  uploads: number;
  /** Uploads per batch (the first of each batch opens it); default every upload in one batch. */
  batchSize?: number;
  defects?: HsiDefects;
  analysis?: boolean;
  detectMs?: (n: number) => number;
}

/** Many uploads, batched, as one run's traces plus the load driver's records. */
export function hsiRun(options: HsiRunOptions): { traces: TraceTree[]; uploads: { traceId: string; clientSpanId: string; sampled: boolean; status: number; uploadId: string; filePath: string; cameraId: string }[] } {
  const batchSize = options.batchSize ?? options.uploads;
  const traces: TraceTree[] = [];
  const uploads = [];
  for (let first = 1; first <= options.uploads; first += batchSize) {
    const members = Array.from({ length: Math.min(batchSize, options.uploads - first + 1) }, (_, i) => first + i);
    const batchId = `batch-${first.toString(16).padStart(8, '0')}`;
    const lastAt = (members.at(-1)! - 1) * 1000;
    for (const n of members) {
      const opener = options.analysis === true && n === first;
      const linked = opener
        ? members.slice(1).map((m) => ({ traceId: (options.defects?.queueNoContext ? workerTraceId(m) : uploadTraceId(m)).padStart(32, '0'), spanId: hsiSpanId(m, 8) }))
        : [];
      traces.push(
        ...hsiUploadTraces({ n, batchId, opener, opensBatch: n === first, linkedDetections: linked, closeAt: lastAt + 30_000, ...(options.defects ? { defects: options.defects } : {}), ...(options.detectMs ? { detectMs: options.detectMs(n) } : {}) }),
      );
      uploads.push({ traceId: uploadTraceId(n), clientSpanId: clientSpanId(n), sampled: true, status: 202, uploadId: `upload-${n}`, filePath: filePathOf(n), cameraId: 'front_door' });
    }
  }
  return { traces, uploads };
}
