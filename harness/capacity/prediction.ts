import type { PreRunPrediction } from './capacity-types.ts';
import type { StageName } from './hsi-stages.ts';
import type { AiServiceInfo } from './probes.ts';

/**
 * The model's prediction before any load: each AI service's c/S from its /health (the
 * emulators print slots, mean service time and their analytic capacity), divided by the
 * visits per upload the configuration implies (one detector call per upload; one LLM call
 * per batch, and a batch holds the uploads of one camera until it closes).
 */
export const MEAN_DETECTIONS_PER_UPLOAD = 2; // the emulator draws 1..3 objects per image

export interface BatchConfig {
  windowSeconds: number;
  idleSeconds: number;
  maxDetections: number;
}

export function batchConfigOf(backendEnv: Readonly<Record<string, string>>): BatchConfig {
  const n = (key: string, fallback: number) => (backendEnv[key] !== undefined && Number.isFinite(Number(backendEnv[key])) ? Number(backendEnv[key]) : fallback);
  return { windowSeconds: n('BATCH_WINDOW_SECONDS', 90), idleSeconds: n('BATCH_IDLE_TIMEOUT_SECONDS', 30), maxDetections: n('BATCH_MAX_DETECTIONS', 500) };
}

/** Uploads per batch for one camera at `fps`: a batch closes at its size, its window, or when the camera idles. */
export function uploadsPerBatch(fps: number, batch: BatchConfig): number {
  if (1 / fps >= batch.idleSeconds) return 1;
  const bySize = Math.ceil(batch.maxDetections / MEAN_DETECTIONS_PER_UPLOAD);
  return Math.max(1, Math.min(fps * batch.windowSeconds, bySize));
}

function serviceCapacity(info: AiServiceInfo): { rps: number; basis: string } | null {
  if (info.slots !== undefined && info.serviceMs !== undefined) return { rps: info.slots / (info.serviceMs / 1000), basis: `c=${info.slots} / S=${info.serviceMs.toFixed(1)} ms` };
  if (info.analyticCapacityRps !== undefined) return { rps: info.analyticCapacityRps, basis: `analytic ${info.analyticCapacityRps.toFixed(2)}/s` };
  return null;
}

export function preRunPrediction(input: { detector: AiServiceInfo; llm: AiServiceInfo; backendEnv: Readonly<Record<string, string>>; fps: number }): PreRunPrediction | null {
  const perStage: PreRunPrediction['perStage'] = [];
  const detector = serviceCapacity(input.detector);
  if (detector) perStage.push({ stage: 'detector', uploadsPerSec: detector.rps, basis: `${detector.basis}, 1 call per upload` });
  const llm = serviceCapacity(input.llm);
  if (llm) {
    const perBatch = uploadsPerBatch(input.fps, batchConfigOf(input.backendEnv));
    perStage.push({ stage: 'llm', uploadsPerSec: llm.rps * perBatch, basis: `${llm.basis}, 1 call per batch of ~${perBatch.toFixed(perBatch % 1 === 0 ? 0 : 1)} upload(s)` });
  }
  if (perStage.length === 0) return null;
  const best = perStage.reduce((a, b) => (b.uploadsPerSec < a.uploadsPerSec ? b : a));
  return { uploadsPerSec: best.uploadsPerSec, cameras: Math.floor(best.uploadsPerSec / input.fps + 1e-9), bottleneck: best.stage as StageName, basis: best.basis, perStage };
}
