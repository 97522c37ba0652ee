import type { RealAiConfig } from '../config/real-ai-config.ts';
import { exactPercentile } from '../load/histogram.ts';
import type { AiSpanSamples } from '../experiment/ai-engine-figures.ts';

/**
 * Emulator parameters from the service times of real AI engines (calibration):
 *
 * - detector: the per-image work (decode + preprocess + inference + postprocess, queueing left
 *   out) fitted by the lognormal through its p50 and p95, given to the emulator as its mean and
 *   p95 (EMULATOR_SERVICE_MEAN_MS / _P95_MS), on as many slots as the real detector's concurrency;
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

export function fitDetector(samples: AiSpanSamples['detector'], cfg: Pick<RealAiConfig, 'detectorConcurrency'>, minSamples = 10): EngineCalibration {
  if (samples.length < minSamples) throw new CalibrationError(`the detector left ${samples.length} timed inference spans, at least ${minSamples} are needed; run a longer load`);
  const measured = stats(samples.map((s) => s.serviceMs));
  const ln = lognormalFor(measured.p50, measured.p95);
  // objects per image: they make the LLM's prompts (one line per detection), so the emulated
  // stack's prefill is only the real one's when the emulator reports as many objects
  const counts = samples.map((s) => s.detections).filter((d): d is number => d !== undefined);
  const perImage = counts.length === 0 ? undefined : Math.round(counts.reduce((a, b) => a + b, 0) / counts.length);
  return {
    env: {
      EMULATOR_GPU_SLOTS: String(cfg.detectorConcurrency),
      EMULATOR_SERVICE_MEAN_MS: String(round(ln.mean)),
      EMULATOR_SERVICE_P95_MS: String(round(ln.p95)),
      ...(perImage !== undefined ? { EMULATOR_DETECTIONS_PER_IMAGE: String(perImage) } : {}),
    },
    fit: {
      serviceMs: { samples: samples.length, measured, fitted: { mean: round(ln.mean), p50: round(Math.exp(ln.mu)), p95: round(ln.p95) } },
      ...(perImage !== undefined ? { detectionsPerImage: perImage } : {}),
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
