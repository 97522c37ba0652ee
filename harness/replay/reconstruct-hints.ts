import { hsiNames } from '../contract/hsi-names.ts';
import type { NormalizedSpan } from '../traces/span-model.ts';
import { numAttr, strAttr, type Incident } from './incident.ts';
import { median, percentile } from './stats.ts';

/**
 * What else the traces say about the system that produced them: the sampling rate, the
 * backend's batch, timeout, retry and circuit-breaker settings, the LLM's speed, and the
 * tracing defects they show (queue hops without context, an uninstrumented detector). Each
 * hint says where it came from; settings become `stack` entries of the replay scenario (the
 * embedded reference stack reads them), defects become defect switches.
 */

export interface Hint {
  /** e.g. `BATCH_WINDOW_SECONDS` (a backend variable), `EMULATOR_TIME_SCALE` (llm), a defect name, or `sampling` */
  key: string;
  /** where the value goes in the scenario */
  scope: 'backend' | 'detector' | 'llm' | 'defect' | 'note';
  value: string;
  /** one line: what in the traces says so */
  source: string;
}

const sec = (ms: number, step = 0.5) => String(Math.max(step, Math.round(ms / 1000 / step) * step));
/** A setting the observed lags exceed by up to one check interval: rounded down. */
const secFloor = (ms: number, step = 0.5) => String(Math.max(step, Math.floor(ms / 1000 / step + 1e-9) * step));

function spansNamed(spans: readonly NormalizedSpan[], name: string): NormalizedSpan[] {
  return spans.filter((s) => s.name === name);
}

/** The rate from `sampling.rate` on root spans (the reference stack's and HSI's samplers set it). */
export function samplingRateFromSpans(spans: readonly NormalizedSpan[]): number | undefined {
  const rates = spans.filter((s) => s.parentSpanId === undefined).map((s) => numAttr(s, 'sampling.rate')).filter((r): r is number => r !== undefined && r > 0 && r <= 1);
  return rates.length > 0 ? (median(rates) ?? undefined) : undefined;
}

function batchHints(spans: readonly NormalizedSpan[]): Hint[] {
  const names = hsiNames().spans;
  const publishes = spansNamed(spans, names.analysisPublish);
  const aggregations = spansNamed(spans, names.batchAggregation);
  const opened = new Map<string, number>();
  const lastAdd = new Map<string, number>();
  for (const a of aggregations) {
    const id = strAttr(a, 'batch_id');
    if (id === undefined) continue;
    if (a.attributes['batch.opened'] === true || !opened.has(id)) opened.set(id, Math.min(opened.get(id) ?? Infinity, a.startTimeMs));
    lastAdd.set(id, Math.max(lastAdd.get(id) ?? 0, a.startTimeMs));
  }
  // The real HSI has no publish span: then analysis_processing (carrying batch_id) marks the close,
  // and without a close_reason every close is taken as the window's (the queue wait makes it an upper bound).
  const closes = publishes.length > 0 ? publishes : spansNamed(spans, names.analysisProcessing);
  const reasonOf = (p: NormalizedSpan) => strAttr(p, 'close_reason') ?? (publishes.length > 0 ? undefined : 'timeout');
  const byReason = (reason: string) => closes.filter((p) => reasonOf(p) === reason);
  const out: Hint[] = [];
  const windowLags = byReason('timeout').map((p) => p.startTimeMs - (opened.get(strAttr(p, 'batch_id') ?? '') ?? Number.NaN)).filter(Number.isFinite);
  if (windowLags.length > 0) {
    const min = Math.min(...windowLags);
    const how = publishes.length > 0 ? 'closed on timeout' : 'analysed (no publish span, no close_reason)';
    out.push({ key: 'BATCH_WINDOW_SECONDS', scope: 'backend', value: secFloor(min), source: `${windowLags.length} batches ${how} ${(min / 1000).toFixed(1)}..${(Math.max(...windowLags) / 1000).toFixed(1)} s after they opened` });
    const spread = (percentile(windowLags, 90) ?? min) - min;
    out.push({ key: 'BATCH_CHECK_INTERVAL_SECONDS', scope: 'backend', value: sec(Math.min(5000, Math.max(500, spread))), source: `closes came up to ${(spread / 1000).toFixed(1)} s after the window (90th percentile)` });
  }
  const idleLags = byReason('idle').map((p) => p.startTimeMs - (lastAdd.get(strAttr(p, 'batch_id') ?? '') ?? Number.NaN)).filter(Number.isFinite);
  if (idleLags.length > 0) {
    const min = Math.min(...idleLags);
    out.push({ key: 'BATCH_IDLE_TIMEOUT_SECONDS', scope: 'backend', value: secFloor(min), source: `${idleLags.length} batches closed idle ${(min / 1000).toFixed(1)} s or more after their last detection` });
  }
  return out;
}

function timeoutHints(incident: Incident): Hint[] {
  const out: Hint[] = [];
  const pairs: [keyof Incident['calls'], string][] = [
    ['detector', 'YOLO26_READ_TIMEOUT'],
    ['llm', 'NEMOTRON_READ_TIMEOUT'],
  ];
  for (const [hop, key] of pairs) {
    const timedOut = incident.calls[hop].filter((c) => c.errorKind === 'timeout').map((c) => c.durationMs);
    if (timedOut.length === 0) continue;
    const m = median(timedOut) ?? 0;
    out.push({ key, scope: 'backend', value: sec(m, 1), source: `${timedOut.length} ${hop} calls timed out after a median ${(m / 1000).toFixed(2)} s` });
  }
  return out;
}

function retryHints(spans: readonly NormalizedSpan[]): Hint[] {
  const names = hsiNames().spans;
  const out: Hint[] = [];
  const pairs: [string, string, string][] = [
    [names.detectionProcessing, 'detector_attempts', 'DETECTOR_MAX_RETRIES'],
    [names.analysisProcessing, 'llm_attempts', 'NEMOTRON_MAX_RETRIES'],
  ];
  for (const [name, attribute, key] of pairs) {
    const exhausted = spansNamed(spans, name)
      .filter((s) => s.status.code === 'error' || s.events.some((e) => e.name === 'llm.fallback'))
      .map((s) => numAttr(s, attribute))
      .filter((n): n is number => n !== undefined);
    if (exhausted.length === 0) continue;
    const max = Math.max(...exhausted);
    out.push({ key, scope: 'backend', value: String(max), source: `${exhausted.length} ${name} spans gave up after ${max} attempt(s) (${attribute})` });
  }
  return out;
}

/**
 * The detector breaker's recovery time. A breaker turns half-open lazily, on the first call after
 * its recovery time, so the gap from an opening to the next trial call is an upper bound (the
 * recovery plus the wait for that call: 5.8 s for a 5 s setting in chaos-detector-down), and a
 * call it still refused in between is a lower bound. The hint is the roundest value inside
 * (latest refusal, earliest trial]; taking the gap itself made every replayed trial ~1 s late.
 */
function breakerHints(spans: readonly NormalizedSpan[]): Hint[] {
  const at = (name: string) =>
    spans
      .flatMap((s) => s.events.filter((e) => e.name === name).map((e) => s.startTimeMs + e.timeMs))
      .sort((a, b) => a - b);
  const opened = at('circuit_breaker.opened');
  const halfOpened = at('circuit_breaker.half_opened');
  const rejected = at('circuit_breaker.rejected');
  let lo = 0;
  let hi = Number.POSITIVE_INFINITY;
  for (const o of opened) {
    const trial = halfOpened.find((h) => h > o);
    if (trial === undefined) continue;
    hi = Math.min(hi, trial - o);
    const refused = rejected.filter((r) => r > o && r < trial).at(-1);
    if (refused !== undefined) lo = Math.max(lo, refused - o);
  }
  if (!Number.isFinite(hi)) return [];
  const value = roundestWithin(lo, hi);
  const bound = lo > 0 && lo < hi ? `, a call refused ${(lo / 1000).toFixed(1)} s after an opening` : '';
  return [{ key: 'DETECTOR_CB_RECOVERY_SECONDS', scope: 'backend', value, source: `the detector's breaker opened ${opened.length} time(s); first trial call ${(hi / 1000).toFixed(1)} s later${bound}` }];
}

/** The roundest number of seconds in (loMs, hiMs] (whole, then halves, then tenths); hiMs to a tenth when none fits. */
export function roundestWithin(loMs: number, hiMs: number): string {
  for (const step of [1, 0.5, 0.1]) {
    const candidate = Math.max(step, Math.floor(hiMs / 1000 / step + 1e-9) * step);
    if (candidate * 1000 > loMs && candidate * 1000 <= hiMs + 1e-6) return String(Number(candidate.toFixed(1)));
  }
  return String(Math.max(0.1, Number((hiMs / 1000).toFixed(1))));
}

/**
 * The engine's own time for one LLM answer: llama.cpp's prompt + generation time as the
 * backend records it (`ai.inference.time_ms`, or the two `ai.llm.timings.*` parts), else the
 * callee's server span, else the call. The call's duration also holds the HTTP round trip and
 * any wait for a slot, which the emulator adds by itself: fitting the time scale to it made
 * every replayed answer ~20 % slower than the incident's (0.06 for 0.05 in the chaos scenarios).
 */
export function llmEngineMs(span: NormalizedSpan | undefined, call: { serverMs?: number; durationMs: number }): { ms: number; from: string } {
  const engine = span ? numAttr(span, 'ai.inference.time_ms') : undefined;
  if (engine !== undefined && engine > 0) return { ms: engine, from: 'ai.inference.time_ms' };
  const prompt = span ? numAttr(span, 'ai.llm.timings.prompt_ms') : undefined;
  const generation = span ? numAttr(span, 'ai.llm.timings.generation_ms') : undefined;
  if (prompt !== undefined && generation !== undefined && prompt + generation > 0) return { ms: prompt + generation, from: 'llama.cpp timings' };
  return call.serverMs !== undefined ? { ms: call.serverMs, from: 'the LLM server span' } : { ms: call.durationMs, from: 'the call duration' };
}

/** The LLM emulator's time scale that makes its generation as fast as the incident's LLM. */
function llmSpeedHint(incident: Incident): Hint[] {
  const fits = incident.calls.llm
    .filter((c) => !c.error)
    .map((c) => {
      const span = incident.allSpans.find((s) => s.spanId === c.spanId && s.traceId === c.traceId);
      const prompt = span ? numAttr(span, 'ai.llm.prompt_tokens') : undefined;
      const completion = span ? numAttr(span, 'ai.llm.completion_tokens') : undefined;
      if (prompt === undefined || completion === undefined) return undefined;
      const modelMs = (prompt / 2000 + completion / 60) * 1000; // the emulator's defaults at scale 1
      const engine = llmEngineMs(span, c);
      return { ratio: engine.ms / modelMs, from: engine.from };
    })
    .filter((r): r is { ratio: number; from: string } => r !== undefined && Number.isFinite(r.ratio) && r.ratio > 0);
  if (fits.length < 3) return [];
  const scale = Math.min(10, Math.max(0.01, Math.round((median(fits.map((f) => f.ratio)) ?? 1) * 1000) / 1000));
  const from = [...new Set(fits.map((f) => f.from))].join(', ');
  return [{ key: 'EMULATOR_TIME_SCALE', scope: 'llm', value: String(scale), source: `${fits.length} LLM answers took ${scale}× the emulator's default generation time for their token counts (engine time from ${from})` }];
}

/** More engine times than this are fitted (mean and p95) rather than listed: an environment variable holds at most 128 KiB. */
export const MAX_REPLAYED_SERVICE_TIMES = 5000;

/**
 * The detector's speed, call by call: the engine time each successful detector call reports
 * (`ai.inference.time_ms` on the backend's call span, the answer's `inference_time_ms`), in call
 * order, for the emulator to replay (`EMULATOR_SERVICE_TIMES_MS`). Left to its own lognormal
 * draws (a new random seed per stack), the replayed detector's p95 over 80 calls differed from
 * the incident's by up to +28 % (chaos-llm-timeout: 63.5 → 82.7 ms, queue wait 0 on both sides).
 * Past MAX_REPLAYED_SERVICE_TIMES calls, the lognormal is fitted to their mean and p95 instead.
 */
export function detectorSpeedHints(incident: Pick<Incident, 'allSpans' | 'calls'>): Hint[] {
  const times = successfulCallAttribute(incident, 'detector', 'ai.inference.time_ms').filter((t) => t > 0 && t <= 600_000);
  if (times.length < 3) return [];
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const p95 = percentile(times, 95) ?? mean;
  const seen = `${times.length} detector calls reported their engine time (ai.inference.time_ms): mean ${mean.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`;
  if (times.length <= MAX_REPLAYED_SERVICE_TIMES) {
    return [{ key: 'EMULATOR_SERVICE_TIMES_MS', scope: 'detector', value: times.map((t) => String(Math.round(t * 10) / 10)).join(','), source: `${seen}; replayed call by call, in call order` }];
  }
  // the emulator's lognormal needs mean <= p95 <= 3.87 x mean
  const fittedP95 = Math.min(Math.max(p95, mean * 1.001), mean * 3.8);
  return [
    { key: 'EMULATOR_SERVICE_MEAN_MS', scope: 'detector', value: mean.toFixed(1), source: `${seen} (fitted: more than ${MAX_REPLAYED_SERVICE_TIMES} to list)` },
    { key: 'EMULATOR_SERVICE_P95_MS', scope: 'detector', value: fittedP95.toFixed(1), source: 'the same calls\' 95th percentile' },
  ];
}

/** A numeric attribute of each successful call to one engine, in call order (calls whose span lacks it are left out). */
function successfulCallAttribute(incident: Pick<Incident, 'allSpans' | 'calls'>, engine: 'detector' | 'llm', attribute: string): number[] {
  const byId = new Map(incident.allSpans.map((s) => [`${s.traceId}/${s.spanId}`, s]));
  const out: number[] = [];
  for (const c of incident.calls[engine].filter((call) => !call.error).sort((a, b) => a.startMs - b.startMs)) {
    const span = byId.get(`${c.traceId}/${c.spanId}`);
    const value = span === undefined ? undefined : numAttr(span, attribute);
    if (value !== undefined) out.push(value);
  }
  return out;
}

/**
 * The LLM's completion lengths, call by call (`ai.llm.completion_tokens` of each successful LLM
 * call, in call order), for the emulator to replay (`EMULATOR_COMPLETION_TOKENS`): its
 * generation time follows the length, and left to its own draws under a fresh random seed the
 * replayed analysis calls' p95 moved by −28 % where the A/A run moved −17 % (chaos-detector-latency,
 * 13 calls). Nothing past MAX_REPLAYED_SERVICE_TIMES calls (the emulator keeps its lognormal).
 */
export function llmLengthHints(incident: Pick<Incident, 'allSpans' | 'calls'>): Hint[] {
  const lengths = successfulCallAttribute(incident, 'llm', 'ai.llm.completion_tokens').filter((t) => Number.isInteger(t) && t >= 1 && t <= 131_072);
  if (lengths.length < 3 || lengths.length > MAX_REPLAYED_SERVICE_TIMES) return [];
  return [{ key: 'EMULATOR_COMPLETION_TOKENS', scope: 'llm', value: lengths.join(','), source: `${lengths.length} LLM answers' completion lengths (ai.llm.completion_tokens, median ${median(lengths)}), replayed call by call, in call order` }];
}

function defectHints(incident: Incident): Hint[] {
  const out: Hint[] = [];
  if (incident.stitchedJoins > 0 && incident.linkedJoins === 0) {
    out.push({ key: 'queue-no-trace-context', scope: 'defect', value: 'on', source: `${incident.stitchedJoins} queue hops joined only by file_path/batch_id: the queue messages carry no trace context` });
  }
  const detectorCalls = incident.calls.detector.filter((c) => !c.error);
  if (detectorCalls.length > 0 && detectorCalls.every((c) => c.serverMs === undefined)) {
    out.push({ key: 'detector-not-instrumented', scope: 'defect', value: 'on', source: `${detectorCalls.length} detector calls without a server span: the detector is not instrumented` });
  }
  return out;
}

export function reconstructHints(incident: Incident): Hint[] {
  const spans = incident.allSpans;
  return [...batchHints(spans), ...timeoutHints(incident), ...retryHints(spans), ...breakerHints(spans), ...detectorSpeedHints(incident), ...llmSpeedHint(incident), ...llmLengthHints(incident), ...defectHints(incident)];
}
