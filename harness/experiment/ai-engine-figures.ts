import type { AiModes } from '../config/real-ai-config.ts';
import { HSI_AI_SPANS } from '../contract/hsi-contract.ts';
import { exactPercentile } from '../load/histogram.ts';
import type { AiEnginePoint, AiEnginesView, Percentiles } from '../report/report-model.ts';
import { JaegerQueryClient } from '../traces/jaeger-client.ts';
import type { NormalizedSpan } from '../traces/span-model.ts';

/**
 * The AI engines' own figures, read from spans: llama.cpp's timings on the backend's
 * `llm_inference` spans (tokens/s, prompt time, tokens) and the detector's measured inference
 * time on `yolo26_inference`, as percentiles and as a series over the run.
 */

export interface AiSpanSamples {
  /** One per successful llm_inference span that carried timings. */
  llm: {
    atMs: number;
    callMs: number;
    tokensPerSecond: number | undefined;
    promptMs: number | undefined;
    promptTokens: number | undefined;
    promptChars: number | undefined;
    generatedTokens: number | undefined;
    generationMs: number | undefined;
  }[];
  /**
   * serviceMs: the detector's own work per image (decode + preprocess + inference + postprocess),
   * queueing left out; hostMs: the part of it outside the inference slots (decode + preprocess +
   * postprocess: a real detector does it on its one event loop), when the span reports it;
   * megapixels: the image's size (decoding time grows with it).
   */
  detector: { atMs: number; inferenceMs: number; serviceMs: number; weights: string | undefined; device: string | undefined; detections?: number; hostMs?: number; megapixels?: number }[];
  detectorCalls: { atMs: number; callMs: number }[];
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The host-work attributes of a detector's inference span (decode, letterbox, output decoding). */
const HOST_WORK_KEYS = ['ai.inference.decode_ms', 'ai.inference.preprocess_ms', 'ai.inference.postprocess_ms'] as const;

/** The image's megapixels, from the inference span or its parent (the detector's server span). */
function megapixelsOf(span: NormalizedSpan, byId: ReadonlyMap<string, NormalizedSpan>): number | undefined {
  const parent = span.parentSpanId === undefined ? undefined : byId.get(`${span.traceId}/${span.parentSpanId}`);
  for (const a of [span.attributes, parent?.attributes ?? {}]) {
    const w = num(a['ai.inference.image_width']);
    const h = num(a['ai.inference.image_height']);
    if (w !== undefined && h !== undefined) return (w * h) / 1e6;
  }
  return undefined;
}

function detectorSample(s: NormalizedSpan, atMs: number, byId: ReadonlyMap<string, NormalizedSpan>): AiSpanSamples['detector'][number] | undefined {
  const a = s.attributes;
  const ms = num(a['ai.inference.time_ms']);
  if (ms === undefined) return undefined;
  // The detector's own work per image: decode, letterbox, inference, output decoding. (The
  // emulator's host stage reports its time as preprocess_ms; without one its hold time is its
  // inference time.) On a CPU the event loop's stages and ONNX Runtime compete for the same
  // cores, so they add up.
  const parts = HOST_WORK_KEYS.map((k) => num(a[k])).filter((v): v is number => v !== undefined);
  const hostMs = parts.length === 0 ? undefined : parts.reduce((x, y) => x + y, 0);
  const detections = num(a['ai.inference.detections']);
  const megapixels = megapixelsOf(s, byId);
  return {
    atMs,
    inferenceMs: ms,
    serviceMs: ms + (hostMs ?? 0),
    weights: str(a['ai.weights']) ?? str(s.resource['ai.weights']),
    device: str(a['ai.inference.device']),
    ...(detections !== undefined ? { detections } : {}),
    ...(hostMs !== undefined ? { hostMs } : {}),
    ...(megapixels !== undefined ? { megapixels } : {}),
  };
}

/** Samples from spans (deduplicated by span id), times relative to `originEpochMs`. */
export function aiSpanSamples(spans: Iterable<NormalizedSpan>, originEpochMs: number): AiSpanSamples {
  const out: AiSpanSamples = { llm: [], detector: [], detectorCalls: [] };
  const byId = new Map<string, NormalizedSpan>();
  for (const s of spans) if (!byId.has(`${s.traceId}/${s.spanId}`)) byId.set(`${s.traceId}/${s.spanId}`, s);
  const seen = new Set<string>();
  for (const s of byId.values()) {
    if (seen.has(s.spanId)) continue;
    seen.add(s.spanId);
    const atMs = s.startTimeMs - originEpochMs;
    const a = s.attributes;
    if (s.name === HSI_AI_SPANS.llmRequest && s.status.code !== 'error') {
      out.llm.push({
        atMs,
        callMs: s.durationMs,
        tokensPerSecond: num(a['ai.llm.timings.tokens_per_second']),
        promptMs: num(a['ai.llm.timings.prompt_ms']),
        promptTokens: num(a['ai.llm.timings.prompt_tokens']),
        promptChars: num(a['ai.llm.prompt_chars']),
        generatedTokens: num(a['ai.llm.timings.generated_tokens']),
        generationMs: num(a['ai.llm.timings.generation_ms']),
      });
    } else if (s.name === HSI_AI_SPANS.detectorInference) {
      const sample = detectorSample(s, atMs, byId);
      if (sample) out.detector.push(sample);
    } else if (s.name === HSI_AI_SPANS.detectorRequest && s.status.code !== 'error') {
      out.detectorCalls.push({ atMs, callMs: s.durationMs });
    }
  }
  return out;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

export function percentiles(values: readonly (number | undefined)[]): Percentiles {
  const v = values.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return { count: 0, mean: null, p50: null, p95: null };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { count: v.length, mean: round1(mean), p50: round1(exactPercentile(v, 50)), p95: round1(exactPercentile(v, 95)) };
}

function series<T extends { atMs: number }>(items: readonly T[], bucketSec: number, value: (t: T) => number | undefined, prompt?: (t: T) => number | undefined): AiEnginePoint[] {
  const buckets = new Map<number, T[]>();
  for (const item of items) {
    const b = Math.max(0, Math.floor(item.atMs / 1000 / bucketSec));
    buckets.set(b, [...(buckets.get(b) ?? []), item]);
  }
  return [...buckets.entries()]
    .sort((x, y) => x[0] - y[0])
    .map(([b, list]) => {
      const point: AiEnginePoint = { tSec: b * bucketSec, count: list.length, value: percentiles(list.map(value)).p50 };
      if (prompt) point.promptMs = percentiles(list.map(prompt)).p50;
      return point;
    });
}

export function aiEnginesView(samples: AiSpanSamples, modes: AiModes, bucketSec = 5): AiEnginesView {
  const view: AiEnginesView = { bucketSec };
  if (samples.llm.length > 0) {
    view.llm = {
      mode: modes.llm,
      tokensPerSecond: percentiles(samples.llm.map((s) => s.tokensPerSecond)),
      promptMs: percentiles(samples.llm.map((s) => s.promptMs)),
      promptTokens: percentiles(samples.llm.map((s) => s.promptTokens)),
      generatedTokens: percentiles(samples.llm.map((s) => s.generatedTokens)),
      callMs: percentiles(samples.llm.map((s) => s.callMs)),
      series: series(samples.llm, bucketSec, (s) => s.tokensPerSecond, (s) => s.promptMs),
    };
  }
  if (samples.detector.length > 0) {
    view.detector = {
      mode: modes.detector,
      weights: samples.detector.find((s) => s.weights !== undefined)?.weights ?? null,
      device: samples.detector.find((s) => s.device !== undefined)?.device ?? null,
      inferenceMs: percentiles(samples.detector.map((s) => s.inferenceMs)),
      callMs: percentiles(samples.detectorCalls.map((s) => s.callMs)),
      series: series(samples.detector, bucketSec, (s) => s.inferenceMs),
    };
  }
  return view;
}

/** Every span of the traces holding AI spans in the window (Jaeger searches by service and operation). */
export async function fetchAiSpans(jaegerUrl: string, detectorService: string, window: { startEpochMs: number; endEpochMs: number }, limit = 1500): Promise<NormalizedSpan[]> {
  const jaeger = new JaegerQueryClient({ baseUrl: jaegerUrl, requestTimeoutMs: 30_000 });
  const startMin = new Date(window.startEpochMs);
  const startMax = new Date(window.endEpochMs);
  const queries = [
    { service: HSI_AI_SPANS.backendService, operation: HSI_AI_SPANS.llmRequest },
    { service: HSI_AI_SPANS.backendService, operation: HSI_AI_SPANS.detectorRequest },
    { service: detectorService, operation: HSI_AI_SPANS.detectorInference },
  ];
  const spans: NormalizedSpan[] = [];
  for (const q of queries) {
    const traces = await jaeger.findTraces({ ...q, startMin, startMax, limit }).catch(() => []);
    for (const t of traces) spans.push(...t.spans);
  }
  return spans;
}
