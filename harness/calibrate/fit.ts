import type { RealAiConfig } from '../config/real-ai-config.ts';
import { exactPercentile } from '../load/histogram.ts';
import type { AiSpanSamples } from '../experiment/ai-engine-figures.ts';

/**
 * Emulator parameters from the service times of real AI engines (calibration):
 *
 * - detector: two stages, as the engine has them: its work outside the slots (decode +
 *   letterbox + output decoding, one image at a time on its event loop; a median growing with
 *   the image's megapixels and a lognormal spread: EMULATOR_HOST_WORK_*), then the inference
 *   (the lognormal through its p50 and p95, given as its mean and p95: EMULATOR_SERVICE_MEAN_MS
 *   / _P95_MS) on as many slots as the real detector's concurrency;
 * - LLM: llama.cpp's prefill and decode rates (prompt tokens counted the emulator's way,
 *   characters / 4, so its prefill time matches), a generated-token lognormal that reproduces
 *   the p50 and p95 of the engine's time beyond prefill plus the call's median overhead, as
 *   many slots as --parallel, time scale 1.
 *
 * Each fit says how well its distribution reproduces the measured one (p50, p95).
 */

export interface DistributionFit {
  samples: number;
  measured: { mean: number; p50: number; p95: number };
  /** The fitted distribution's own p50 and p95. */
  fitted: { mean: number; p50: number; p95: number };
}

export interface EngineCalibration {
  env: Record<string, string>;
  fit: Record<string, DistributionFit | number>;
}

export interface Calibration {
  /** The run whose spans were measured. */
  source: string;
  createdAt: string;
  detector?: EngineCalibration;
  llm?: EngineCalibration;
}

export class CalibrationError extends Error {
  override name = 'CalibrationError';
}

const Z95 = 1.6448536269514722;
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function stats(values: readonly number[]): { mean: number; p50: number; p95: number } {
  const v = [...values].sort((a, b) => a - b);
  return { mean: round(v.reduce((a, b) => a + b, 0) / v.length), p50: round(exactPercentile(v, 50)), p95: round(exactPercentile(v, 95)) };
}

/**
 * The lognormal through a measured p50 and p95 (mu = ln p50, sigma = ln(p95/p50) / z95), as
 * the emulator's settings: its mean and p95. Percentiles, not the mean, are what the stages
 * are judged by, so those are matched; sigma is capped where the emulator's mean/p95 form
 * has no solution.
 */
export function lognormalFor(p50: number, p95: number): { mean: number; p95: number; mu: number; sigma: number } {
  const sigma = Math.min(Math.max(Math.log(Math.max(p95, p50) / p50) / Z95, 1e-4), Z95 * 0.999);
  const mu = Math.log(p50);
  return { mean: Math.exp(mu + (sigma * sigma) / 2), p95: Math.exp(mu + Z95 * sigma), mu, sigma };
}

type DetectorSample = AiSpanSamples['detector'][number];

/** Standard normal quantiles at (k + 0.5) / n: a deterministic stand-in for draws (Acklam-free: bisection on erf). */
function normalGrid(n: number): number[] {
  const cdf = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));
  return Array.from({ length: n }, (_, k) => {
    const p = (k + 0.5) / n;
    let lo = -8;
    let hi = 8;
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (cdf(mid) < p) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  });
}

/** erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7). */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

/**
 * The detector's work outside its slots (JPEG decode + letterbox + output decoding, done one
 * image at a time on its event loop) as the emulator draws it: a median of `baseMs +
 * perMegapixelMs × megapixels` (decoding grows with the image: least squares over the
 * measured images, intercept and slope kept non-negative, scaled so that the median ratio of
 * measured to predicted is 1) times a lognormal factor of `sigma` (the p95 of that ratio).
 */
export interface HostWorkModel {
  baseMs: number;
  perMegapixelMs: number;
  sigma: number;
}

export function fitHostWork(samples: readonly { hostMs: number; megapixels?: number }[]): HostWorkModel {
  const sized = samples.filter((s): s is { hostMs: number; megapixels: number } => s.megapixels !== undefined && s.megapixels > 0);
  const mps = sized.map((s) => s.megapixels);
  let base = exactPercentile([...samples.map((s) => s.hostMs)].sort((a, b) => a - b), 50);
  let slope = 0;
  // a slope only when every sample has a size and the sizes differ (else the median is the model)
  if (sized.length === samples.length && sized.length >= 2 && Math.max(...mps) > Math.min(...mps) * 1.2) {
    const n = sized.length;
    const mx = mps.reduce((a, b) => a + b, 0) / n;
    const my = sized.reduce((a, s) => a + s.hostMs, 0) / n;
    const sxx = sized.reduce((a, s) => a + (s.megapixels - mx) ** 2, 0);
    const sxy = sized.reduce((a, s) => a + (s.megapixels - mx) * (s.hostMs - my), 0);
    slope = Math.max(0, sxy / sxx);
    base = my - slope * mx;
    if (base < 0) {
      // through the origin: all of the work grows with the pixels
      slope = sized.reduce((a, s) => a + s.megapixels * s.hostMs, 0) / sized.reduce((a, s) => a + s.megapixels ** 2, 0);
      base = 0;
    }
  }
  const predicted = (s: { megapixels?: number }) => Math.max(1e-3, base + slope * (s.megapixels ?? 0));
  const ratios = samples.map((s) => s.hostMs / predicted(s)).sort((a, b) => a - b);
  const scale = exactPercentile(ratios, 50);
  const sigma = Math.min(Math.max(Math.log(Math.max(exactPercentile(ratios, 95), scale) / scale) / Z95, 0), 1.5);
  return { baseMs: round(base * scale, 2), perMegapixelMs: round(slope * scale, 2), sigma: round(sigma, 3) };
}

/** The p50/p95 the emulator would give over the measured images (a normal grid instead of draws). */
function modelledStats(samples: readonly DetectorSample[], host: HostWorkModel, inference: { mu: number; sigma: number } | undefined): { mean: number; p50: number; p95: number } {
  const grid = normalGrid(15);
  const out: number[] = [];
  for (const s of samples) {
    const median = host.baseMs + host.perMegapixelMs * (s.megapixels ?? 0);
    for (const z of grid) {
      const h = median * Math.exp(host.sigma * z);
      if (inference === undefined) out.push(h);
      else for (const z2 of grid) out.push(h + Math.exp(inference.mu + inference.sigma * z2));
    }
  }
  return stats(out);
}

function objectsPerImage(samples: readonly DetectorSample[]): number | undefined {
  // objects per image: they make the LLM's prompts (one line per detection), so the emulated
  // stack's prefill is only the real one's when the emulator reports as many objects
  const counts = samples.map((s) => s.detections).filter((d): d is number => d !== undefined);
  return counts.length === 0 ? undefined : Math.round(counts.reduce((a, b) => a + b, 0) / counts.length);
}

/**
 * The detector's fit. With the host-work figures on its spans (the real detector), two stages
 * like the engine's: the work outside the slots, serial (EMULATOR_HOST_WORK_*: a single event
 * loop decodes every image, so concurrent calls queue there before they reach the slots), and
 * the inference on the slots (EMULATOR_SERVICE_*: ONNX Runtime's time alone). Without them
 * (older runs), one stage: the whole per-image work on the slots.
 */
export function fitDetector(samples: AiSpanSamples['detector'], cfg: Pick<RealAiConfig, 'detectorConcurrency'>, minSamples = 10): EngineCalibration {
  if (samples.length < minSamples) throw new CalibrationError(`the detector left ${samples.length} timed inference spans, at least ${minSamples} are needed; run a longer load`);
  const perImage = objectsPerImage(samples);
  const common = { EMULATOR_GPU_SLOTS: String(cfg.detectorConcurrency), ...(perImage !== undefined ? { EMULATOR_DETECTIONS_PER_IMAGE: String(perImage) } : {}) };
  const objects: Record<string, number> = perImage !== undefined ? { detectionsPerImage: perImage } : {};
  const split = samples.filter((s): s is DetectorSample & { hostMs: number } => s.hostMs !== undefined && s.hostMs > 0);
  const serviceMeasured = stats(samples.map((s) => s.serviceMs));
  if (split.length < minSamples) {
    const ln = lognormalFor(serviceMeasured.p50, serviceMeasured.p95);
    return {
      env: { ...common, EMULATOR_SERVICE_MEAN_MS: String(round(ln.mean)), EMULATOR_SERVICE_P95_MS: String(round(ln.p95)) },
      fit: { serviceMs: { samples: samples.length, measured: serviceMeasured, fitted: { mean: round(ln.mean), p50: round(Math.exp(ln.mu)), p95: round(ln.p95) } }, ...objects },
    };
  }
  const inferenceMeasured = stats(split.map((s) => s.inferenceMs));
  const inf = lognormalFor(inferenceMeasured.p50, inferenceMeasured.p95);
  const host = fitHostWork(split);
  return {
    env: {
      ...common,
      EMULATOR_SERVICE_MEAN_MS: String(round(inf.mean)),
      EMULATOR_SERVICE_P95_MS: String(round(inf.p95)),
      EMULATOR_HOST_WORK_MS: String(host.baseMs),
      EMULATOR_HOST_WORK_MS_PER_MEGAPIXEL: String(host.perMegapixelMs),
      EMULATOR_HOST_WORK_SIGMA: String(host.sigma),
    },
    fit: {
      inferenceMs: { samples: split.length, measured: inferenceMeasured, fitted: { mean: round(inf.mean), p50: round(Math.exp(inf.mu)), p95: round(inf.p95) } },
      hostWorkMs: { samples: split.length, measured: stats(split.map((s) => s.hostMs)), fitted: modelledStats(split, host, undefined) },
      hostWorkBaseMs: host.baseMs,
      hostWorkPerMegapixelMs: host.perMegapixelMs,
      serviceMs: { samples: split.length, measured: stats(split.map((s) => s.serviceMs)), fitted: modelledStats(split, host, inf) },
      ...objects,
    },
  };
}

export function fitLlm(samples: AiSpanSamples['llm'], cfg: Pick<RealAiConfig, 'llmParallel' | 'llmCtxSize'>, minSamples = 5): EngineCalibration {
  const timed = samples.filter((s) => s.promptMs !== undefined && s.promptChars !== undefined && s.generatedTokens !== undefined && s.generationMs !== undefined && s.generatedTokens > 0);
  if (timed.length < minSamples) throw new CalibrationError(`the LLM left ${timed.length} llm_inference spans with llama.cpp timings, at least ${minSamples} are needed; run a longer load`);
  let promptTokens = 0;
  let promptSec = 0;
  let generated = 0;
  let generationSec = 0;
  for (const s of timed) {
    promptTokens += Math.max(1, Math.ceil((s.promptChars ?? 0) / 4));
    promptSec += (s.promptMs ?? 0) / 1000;
    generated += s.generatedTokens ?? 0;
    generationSec += (s.generationMs ?? 0) / 1000;
  }
  const prefill = promptTokens / Math.max(promptSec, 1e-6);
  const decode = generated / Math.max(generationSec, 1e-6);
  const tokens = stats(timed.map((s) => s.generatedTokens ?? 0));
  // The engine's time beyond the fitted prefill, plus the call's median overhead outside the
  // engine's timings (HTTP, tokenizing, grammar set-up: llm_inference minus prompt + generation;
  // the median, since the call's tail is also waiting for a slot, which the emulator does
  // itself). The spread is more than the token counts' (contention, batching with the other
  // slot): the emulator's only random term is the generated-token count, so that count's
  // lognormal carries the measured p50 and p95 at the measured decode rate.
  const overheads = timed.map((s) => s.callMs - ((s.promptMs ?? 0) + (s.generationMs ?? 0))).sort((a, b) => a - b);
  const overhead = Math.max(0, exactPercentile(overheads, 50));
  const beyondPrefill = timed.map((s) => Math.max(1, (s.promptMs ?? 0) + (s.generationMs ?? 0) + overhead - (Math.max(1, Math.ceil((s.promptChars ?? 0) / 4)) / prefill) * 1000));
  const g = stats(beyondPrefill);
  const gLn = lognormalFor(g.p50, g.p95);
  const sigma = Math.min(gLn.sigma, 2);
  const meanTokens = (g.p50 / 1000) * decode * Math.exp((sigma * sigma) / 2);
  return {
    env: {
      EMULATOR_LLM_SLOTS: String(cfg.llmParallel),
      EMULATOR_CTX_SIZE: String(Math.max(256, Math.floor(cfg.llmCtxSize / cfg.llmParallel))),
      EMULATOR_PREFILL_TOKENS_PER_S: String(round(prefill)),
      EMULATOR_DECODE_TOKENS_PER_S: String(round(decode)),
      EMULATOR_COMPLETION_TOKENS_MEAN: String(Math.max(1, Math.round(meanTokens))),
      EMULATOR_COMPLETION_TOKENS_SIGMA: String(round(sigma, 3)),
      EMULATOR_TIME_SCALE: '1',
    },
    fit: {
      prefillTokensPerSecond: round(prefill),
      callOverheadMs: round(overhead),
      decodeTokensPerSecond: round(decode),
      generatedTokens: { samples: timed.length, measured: tokens, fitted: { mean: round(meanTokens), p50: round((g.p50 / 1000) * decode), p95: round((gLn.p95 / 1000) * decode) } },
      callBeyondPrefillMs: { samples: timed.length, measured: g, fitted: { mean: round(gLn.mean), p50: round(Math.exp(gLn.mu)), p95: round(gLn.p95) } },
    },
  };
}

/** Stages compared between the real run and the emulated one (the backend's spans). */
export const CALIBRATED_STAGES = ['yolo26_detection_request', 'detection_processing', 'llm_inference', 'analysis_processing'] as const;

export interface StageComparison {
  stage: string;
  real: { p50: number; p95: number } | null;
  emulated: { p50: number; p95: number } | null;
  /** (emulated - real) / real. */
  p50Diff: number | null;
  p95Diff: number | null;
  within: boolean;
}

export function compareStages(
  real: readonly { name: string; p50Ms: number; p95Ms: number }[],
  emulated: readonly { name: string; p50Ms: number; p95Ms: number }[],
  tolerance = 0.15,
): StageComparison[] {
  return CALIBRATED_STAGES.map((stage) => {
    const r = real.find((o) => o.name === stage);
    const e = emulated.find((o) => o.name === stage);
    if (r === undefined || e === undefined) return { stage, real: r ? { p50: r.p50Ms, p95: r.p95Ms } : null, emulated: e ? { p50: e.p50Ms, p95: e.p95Ms } : null, p50Diff: null, p95Diff: null, within: false };
    const p50Diff = (e.p50Ms - r.p50Ms) / r.p50Ms;
    const p95Diff = (e.p95Ms - r.p95Ms) / r.p95Ms;
    return { stage, real: { p50: r.p50Ms, p95: r.p95Ms }, emulated: { p50: e.p50Ms, p95: e.p95Ms }, p50Diff, p95Diff, within: Math.abs(p50Diff) <= tolerance && Math.abs(p95Diff) <= tolerance };
  });
}
