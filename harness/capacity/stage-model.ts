import type { AttributeValue, NormalizedSpan } from '../traces/span-model.ts';
import { HSI_TRACE_NAMES, STAGE_LABELS, STAGE_ORDER, type HsiTraceNames, type StageName } from './hsi-stages.ts';
import { mean, percentile } from './stability.ts';

/**
 * The operational model of the pipeline, from spans (Denning & Buzen's operational laws):
 * per stage the throughput X (completions/s), the mean service time S (server spans), the
 * mean waiting time W (queue spans, or the gap between a client span and its server span),
 * the slots c, the utilisation U = X·S/c (utilisation law), the visits per upload
 * V = X_stage / X_upload (forced-flow law) and the capacity c/(S·V) in uploads/s. The
 * smallest capacity is the model's prediction and its stage the bottleneck.
 */
export interface StageSlots {
  detector?: number;
  /** A detector on CPU: its CPUs and threads per inference (decode, letterbox and inference share the cores). */
  detectorCpu?: { cpus: number; threadsPerCall: number };
  /**
   * A real LLM engine on the same CPUs as the detector (llama.cpp on a CPU host): its threads.
   * Its engine time (llama.cpp's prompt + generation, overlapping calls counted once: continuous
   * batching runs them in one pass) × threads per upload takes from the detector's CPU bound.
   */
  llmCpu?: { threadsPerCall: number };
  llm?: number;
  database?: number;
}

export interface StageRow {
  stage: StageName;
  label: string;
  /** Spans that started in the window. */
  count: number;
  /** X, per second. */
  throughputPerSec: number;
  /** S, mean ms (null for a pure waiting stage). */
  serviceMs: number | null;
  /** W, mean ms (null when no source for it). */
  waitMs: number | null;
  /** p95 of W + S at this stage, ms. */
  p95Ms: number | null;
  /** c (null: not slot-limited, e.g. a queue or the upload front door). */
  slots: number | null;
  /** U = X·S/c. */
  utilisation: number | null;
  /** V = X / X_upload. */
  visitsPerUpload: number | null;
  /** c / (S·V), uploads/s: the load at which this stage saturates (the host work's bound when lower). */
  capacityUploadsPerSec: number | null;
  /**
   * The AI server's own work per call outside its slots, mean ms (a real detector's JPEG decode
   * + letterbox + output decoding, as it reports them on its inference span): one event loop
   * does it for every call, so it bounds the stage at 1/(H·V) whatever the slots. Absent when the
   * server reports none (the emulators).
   */
  hostWorkMs?: number;
  /**
   * Which figure bounds the stage's capacity: the slots (c/(S·V)), the host work (1/(H·V)) or,
   * on a CPU host, the CPUs the whole work per call shares (cpus/((H + S·threads)·V)).
   */
  capacityBasis?: 'slots' | 'host work' | 'CPU';
  /** The CPUs the stage's engine can use, when it runs on CPU (for the CPU bound). */
  cpus?: number;
  /** ONNX Runtime threads per inference (the CPU bound counts S × threads). */
  threadsPerCall?: number;
  /** CPU ms per upload of the other engine sharing these CPUs (the LLM's, for the detector's CPU bound). */
  sharedCpuMsPerUpload?: number;
}

export interface StageWindow {
  /** Epoch ms; spans are counted when they start in [startMs, endMs). */
  startMs: number;
  endMs: number;
}

function num(v: AttributeValue | undefined): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

/** Indexes a span set: by id and by parent, deduplicated by span id. */
export class SpanIndex {
  readonly spans: NormalizedSpan[];
  private readonly children = new Map<string, NormalizedSpan[]>();

  constructor(spans: readonly NormalizedSpan[]) {
    const byId = new Map<string, NormalizedSpan>();
    for (const s of spans) byId.set(`${s.traceId}/${s.spanId}`, s);
    this.spans = [...byId.values()];
    for (const s of this.spans) {
      if (s.parentSpanId === undefined) continue;
      const key = `${s.traceId}/${s.parentSpanId}`;
      const list = this.children.get(key) ?? [];
      list.push(s);
      this.children.set(key, list);
    }
  }

  childrenOf(span: NormalizedSpan): NormalizedSpan[] {
    return this.children.get(`${span.traceId}/${span.spanId}`) ?? [];
  }

  named(name: string, service?: string): NormalizedSpan[] {
    return this.spans.filter((s) => s.name === name && (service === undefined || s.service === service));
  }
}

interface Visit {
  serviceMs: number | null;
  waitMs: number | null;
  /** The server's work outside its slots (decode, preprocess, postprocess), when it reports it. */
  hostMs?: number;
}

/** An AI server's reported work outside its slots: decode + preprocess + postprocess, if any is on the span. */
const HOST_WORK_ATTRIBUTES = ['ai.inference.decode_ms', 'ai.inference.preprocess_ms', 'ai.inference.postprocess_ms'] as const;

function hostWorkOf(inference: NormalizedSpan | undefined): number | undefined {
  if (!inference) return undefined;
  const parts = HOST_WORK_ATTRIBUTES.map((k) => num(inference.attributes[k])).filter((v): v is number => v !== undefined);
  return parts.length === 0 ? undefined : parts.reduce((a, b) => a + b, 0);
}

function inWindow(s: NormalizedSpan, w: StageWindow): boolean {
  return s.startTimeMs >= w.startMs && s.startTimeMs < w.endMs;
}

/**
 * An AI call: the client span, its server span (child, other service) and the server's own
 * inference span (queue wait and service time as attributes, as the emulators and model
 * servers report them). Without a server span the client span is the service time.
 */
function aiVisits(index: SpanIndex, w: StageWindow, client: string, server: string, inference: string): Visit[] {
  const out: Visit[] = [];
  for (const c of index.named(client)) {
    if (!inWindow(c, w)) continue;
    const semaphore = num(c.attributes['ai.semaphore.wait_ms']) ?? 0;
    const srv = index.childrenOf(c).find((s) => s.name === server && s.kind === 'server');
    if (!srv) {
      out.push({ serviceMs: c.durationMs, waitMs: semaphore });
      continue;
    }
    const inf = index.childrenOf(srv).find((s) => s.name === inference);
    const queueWait = num(inf?.attributes['ai.inference.queue_wait_ms']) ?? 0;
    const service = num(inf?.attributes['ai.inference.time_ms']) ?? Math.max(0, srv.durationMs - queueWait);
    const host = hostWorkOf(inf);
    out.push({ serviceMs: service, waitMs: semaphore + Math.max(0, c.durationMs - srv.durationMs) + queueWait, ...(host !== undefined ? { hostMs: host } : {}) });
  }
  return out;
}

function queueVisits(index: SpanIndex, w: StageWindow, name: string): Visit[] {
  return index
    .named(name)
    .filter((s) => inWindow(s, w))
    .map((s) => ({ serviceMs: null, waitMs: num(s.attributes['queue_wait_ms']) ?? null }));
}

function plainVisits(spans: readonly NormalizedSpan[], w: StageWindow): Visit[] {
  return spans.filter((s) => inWindow(s, w)).map((s) => ({ serviceMs: s.durationMs, waitMs: null }));
}

function visitsByStage(index: SpanIndex, w: StageWindow, n: HsiTraceNames): Record<StageName, Visit[]> {
  const db = index.spans.filter((s) => s.kind === 'client' && (s.attributes['db.system.name'] === 'postgresql' || s.attributes['db.system'] === 'postgresql'));
  return {
    upload: plainVisits(index.named(n.upload, n.backendService).filter((s) => s.kind === 'server'), w),
    'detection-queue': queueVisits(index, w, n.detectionProcessing),
    detector: aiVisits(index, w, n.detectorRequest, n.detectorServer, n.detectorInference),
    batching: plainVisits(index.named(n.batchAggregation), w),
    'analysis-queue': queueVisits(index, w, n.analysisProcessing),
    llm: aiVisits(index, w, n.llmRequest, n.llmServer, n.llmGenerate),
    database: plainVisits(db, w),
  };
}

function slotsOf(stage: StageName, slots: StageSlots): number | null {
  if (stage === 'detector') return slots.detector ?? null;
  if (stage === 'llm') return slots.llm ?? null;
  if (stage === 'database') return slots.database ?? null;
  return null;
}

/** The per-stage table for the spans that started in the window (`sampledFraction`: the head-sampling rate of the load). */
export function stageTable(spans: readonly NormalizedSpan[], window: StageWindow, slots: StageSlots, names: HsiTraceNames = HSI_TRACE_NAMES, sampledFraction = 1): StageRow[] {
  const index = new SpanIndex(spans);
  // with head sampling below 1 the traces hold that fraction of the work: X scales back up
  const seconds = Math.max(1e-9, ((window.endMs - window.startMs) / 1000) * sampledFraction);
  const visits = visitsByStage(index, window, names);
  const uploadX = visits.upload.length / seconds;
  const cpu = slots.detectorCpu ? { ...slots.detectorCpu, sharedMsPerUpload: slots.llmCpu ? llmCpuMsPerUpload(index, window, names, slots.llmCpu.threadsPerCall, visits.upload.length) : 0 } : undefined;
  return STAGE_ORDER.map((stage) => stageRow(stage, visits[stage], seconds, uploadX, slotsOf(stage, slots), stage === 'detector' ? cpu : undefined));
}

/** Total length of the union of [start, end) intervals. */
export function unionMs(intervals: readonly (readonly [number, number])[]): number {
  const sorted = [...intervals].filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of sorted) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

/**
 * The LLM engine's CPU ms per upload in the window: the time llama.cpp computed (prompt +
 * generation, at the end of each llm_inference call; overlapping calls once, as continuous
 * batching runs them together) × its threads, over the window's uploads.
 */
function llmCpuMsPerUpload(index: SpanIndex, w: StageWindow, n: HsiTraceNames, threads: number, uploads: number): number {
  if (uploads === 0) return 0;
  const busy: [number, number][] = [];
  for (const c of index.named(n.llmRequest)) {
    if (!inWindow(c, w)) continue;
    const engineMs = (num(c.attributes['ai.llm.timings.prompt_ms']) ?? 0) + (num(c.attributes['ai.llm.timings.generation_ms']) ?? 0);
    const end = c.startTimeMs + c.durationMs;
    if (engineMs > 0) busy.push([end - Math.min(engineMs, c.durationMs), end]);
  }
  return (unionMs(busy) * threads) / uploads;
}

type Bound = { basis: NonNullable<StageRow['capacityBasis']>; uploadsPerSec: number };
/** A CPU engine's CPUs, threads per call, and the CPU ms per upload another engine on the same CPUs takes. */
type CpuShare = { cpus: number; threadsPerCall: number; sharedMsPerUpload: number };

/** The stage's capacity: the lowest of its bounds (slots; host work; CPUs shared by all of the work). */
function lowestBound(s: number | null, host: number | null, c: number | null, v: number | null, cpu: CpuShare | undefined): Bound | null {
  if (v === null || v <= 0) return null;
  const bounds: Bound[] = [];
  if (s !== null && s > 0 && c !== null) bounds.push({ basis: 'slots', uploadsPerSec: c / ((s / 1000) * v) });
  if (host !== null && host > 0) bounds.push({ basis: 'host work', uploadsPerSec: 1 / ((host / 1000) * v) });
  // cpus / CPU-s per upload: the detector's work per image × its visits, plus the other engine's per upload
  if (host !== null && s !== null && cpu) bounds.push({ basis: 'CPU', uploadsPerSec: cpu.cpus / (((host + s * cpu.threadsPerCall) * v + cpu.sharedMsPerUpload) / 1000) });
  return bounds.reduce<Bound | null>((low, b) => (low === null || b.uploadsPerSec < low.uploadsPerSec ? b : low), null);
}

function stageRow(stage: StageName, v: readonly Visit[], seconds: number, uploadX: number, c: number | null, cpu?: CpuShare): StageRow {
  const x = v.length / seconds;
  const services = v.map((e) => e.serviceMs).filter((e): e is number => e !== null);
  const waits = v.map((e) => e.waitMs).filter((e): e is number => e !== null);
  const s = mean(services);
  const host = mean(v.map((e) => e.hostMs).filter((e): e is number => e !== undefined));
  const visitsPerUpload = uploadX > 0 ? x / uploadX : null;
  const utilisation = s !== null && c !== null ? (x * s) / 1000 / c : null;
  const bound = lowestBound(s, host, c, visitsPerUpload, host !== null ? cpu : undefined);
  return {
    stage,
    label: STAGE_LABELS[stage],
    count: v.length,
    throughputPerSec: x,
    serviceMs: s,
    waitMs: mean(waits),
    p95Ms: percentile(
      v.map((e) => (e.serviceMs ?? 0) + (e.waitMs ?? 0)),
      95,
    ),
    slots: c,
    utilisation,
    visitsPerUpload,
    capacityUploadsPerSec: bound?.uploadsPerSec ?? null,
    ...(host !== null ? { hostWorkMs: host, ...(bound ? { capacityBasis: bound.basis } : {}), ...(cpu ? { cpus: cpu.cpus, threadsPerCall: cpu.threadsPerCall, ...(cpu.sharedMsPerUpload > 0 ? { sharedCpuMsPerUpload: cpu.sharedMsPerUpload } : {}) } : {}) } : {}),
  };
}

export interface ModelPrediction {
  /** Uploads/s at which the first stage saturates. */
  uploadsPerSec: number;
  bottleneck: StageName;
  /** How the number was obtained (for the terminal and the report). */
  basis: string;
}

/** Which of the stage's figures its capacity rests on, in words. */
function boundText(r: StageRow, slots: string): string {
  if (r.hostWorkMs === undefined) return slots;
  const h = `H=${r.hostWorkMs.toFixed(1)} ms decode+preprocess+postprocess`;
  const v = `V=${r.visitsPerUpload!.toFixed(2)}`;
  if (r.capacityBasis === 'CPU') {
    const threads = `${r.threadsPerCall ?? 1} thread${(r.threadsPerCall ?? 1) === 1 ? '' : 's'}`;
    const llm = r.sharedCpuMsPerUpload === undefined ? '' : ` + L=${r.sharedCpuMsPerUpload.toFixed(1)} ms LLM engine CPU per upload`;
    return `the CPU its work shares, ${r.cpus} CPUs / ((${h} + S=${r.serviceMs!.toFixed(1)} ms inference × ${threads}) × ${v}${llm}), below the slots' ${slots} and its work outside the slots 1/H`;
  }
  if (r.capacityBasis === 'host work') return `its work outside the slots, 1 / (${h} × ${v}), below the slots' ${slots}`;
  return `${slots} (its work outside the slots, ${h}, bounds it higher)`;
}

/** The smallest c/(S·V) over the slot-limited stages, or null when none has the data. */
export function predictFromStages(rows: readonly StageRow[]): ModelPrediction | null {
  let best: StageRow | undefined;
  for (const r of rows) if (r.capacityUploadsPerSec !== null && (best === undefined || r.capacityUploadsPerSec < best.capacityUploadsPerSec!)) best = r;
  if (!best) return null;
  const slots = best.slots === null ? 'slots unknown' : `c=${best.slots} / (S=${best.serviceMs?.toFixed(1)} ms × V=${best.visitsPerUpload!.toFixed(2)})`;
  const basis = `${best.label}: ${boundText(best, slots)}`;
  return { uploadsPerSec: best.capacityUploadsPerSec!, bottleneck: best.stage, basis };
}

export interface LittleCheck {
  /** Mean number in the system, measured directly (e.g. polled queue depth + busy workers). */
  observedL: number;
  /** X·R from the traces. */
  predictedL: number;
  /** |observed − predicted| / max(observed, predicted, floor). */
  relativeError: number;
  ok: boolean;
}

/** Little's law L = X·R between two independent sources; `floor` keeps near-empty systems from failing on noise. */
export function littlesLaw(observedL: number, throughputPerSec: number, residenceMs: number, tolerance = 0.25, floor = 0.5): LittleCheck {
  const predictedL = (throughputPerSec * residenceMs) / 1000;
  const relativeError = Math.abs(observedL - predictedL) / Math.max(observedL, predictedL, floor);
  return { observedL, predictedL, relativeError, ok: relativeError <= tolerance };
}

export interface PipelineLatency {
  traceId: string;
  /** Epoch ms the stage started (upload start / batch publish). */
  atMs: number;
  ms: number;
}

/**
 * The contract's span budgets: detect = upload (server span start) → detection_processing end,
 * analyze = analysis_queue publish start → event_creation end (batching's window is the
 * configuration's choice, not the analysis stage's latency), each within one trace.
 */
export function pipelineLatencies(spans: readonly NormalizedSpan[], names: HsiTraceNames = HSI_TRACE_NAMES): { detect: PipelineLatency[]; analyze: PipelineLatency[] } {
  const byTrace = new Map<string, NormalizedSpan[]>();
  for (const s of new SpanIndex(spans).spans) {
    const list = byTrace.get(s.traceId) ?? [];
    list.push(s);
    byTrace.set(s.traceId, list);
  }
  const detect: PipelineLatency[] = [];
  const analyze: PipelineLatency[] = [];
  const end = (s: NormalizedSpan) => s.startTimeMs + s.durationMs;
  for (const trace of byTrace.values()) {
    const upload = trace.find((s) => s.name === names.upload && s.kind === 'server');
    const processing = trace.filter((s) => s.name === names.detectionProcessing);
    if (upload && processing.length > 0) detect.push({ traceId: upload.traceId, atMs: upload.startTimeMs, ms: Math.max(...processing.map(end)) - upload.startTimeMs });
    const publish = trace.find((s) => s.name === names.analysisPublish);
    const event = trace.filter((s) => s.name === names.eventCreation);
    if (publish && event.length > 0) analyze.push({ traceId: publish.traceId, atMs: publish.startTimeMs, ms: Math.max(...event.map(end)) - publish.startTimeMs });
  }
  return { detect, analyze };
}
