import type { FaultWindowRecord } from './toxic-timeline.ts';

/**
 * What each fault did to the pipeline as the load saw it: latency and error rate
 * before, during and after the window, and the time until the system was back within
 * the baseline's band (per second buckets, sustained).
 */
export interface RequestSample {
  /** Intended send time, ms from the load's start. */
  atMs: number;
  /** null: the request (or pipeline stage) never finished; counts in `requests`, not in percentiles. */
  latencyMs: number | null;
  ok: boolean;
}

export interface PhaseStats {
  requests: number;
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface FaultImpact {
  index: number;
  name: string;
  target: string;
  faultType: string;
  before: PhaseStats;
  during: PhaseStats;
  after: PhaseStats;
  /** Seconds from removal until back within the baseline band; null = never within the run. */
  recoverySeconds: number | null;
  applyLagMs: number | null;
  removeLagMs: number | null;
}

export interface ImpactOptions {
  /** The band: p95 may exceed the baseline's by this factor, error rate by this much. */
  latencyTolerance?: number;
  errorRateTolerance?: number;
  /** How long the system must stay inside the band to count as recovered. */
  sustainMs?: number;
  bucketMs?: number;
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  // Linear interpolation between closest ranks (the definition k6 and numpy's default use).
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

export function phaseStats(samples: readonly RequestSample[]): PhaseStats {
  const latencies = samples.flatMap((s) => (s.latencyMs === null ? [] : [s.latencyMs])).sort((a, b) => a - b);
  const errors = samples.filter((s) => !s.ok).length;
  return {
    requests: samples.length,
    errorRate: samples.length === 0 ? 0 : errors / samples.length,
    p50Ms: percentile(latencies, 50),
    p95Ms: percentile(latencies, 95),
  };
}

export function faultImpact(windows: readonly FaultWindowRecord[], samples: readonly RequestSample[], options: ImpactOptions = {}): FaultImpact[] {
  const latencyTolerance = options.latencyTolerance ?? 0.5;
  const errorTolerance = options.errorRateTolerance ?? 0.02;
  const sustainMs = options.sustainMs ?? 3_000;
  const bucketMs = options.bucketMs ?? 1_000;
  const sorted = [...samples].sort((a, b) => a.atMs - b.atMs);
  const firstFault = Math.min(...windows.map((w) => w.appliedAtMs ?? w.plannedStartMs));
  const baseline = phaseStats(sorted.filter((s) => s.atMs < firstFault));
  const lastSample = sorted.at(-1)?.atMs ?? 0;

  return windows.map((w) => {
    const start = w.appliedAtMs ?? w.plannedStartMs;
    const end = w.removedAtMs ?? w.plannedEndMs;
    const length = Math.max(1, end - start);
    const before = phaseStats(sorted.filter((s) => s.atMs >= start - length && s.atMs < start));
    const during = phaseStats(sorted.filter((s) => s.atMs >= start && s.atMs < end));
    const after = phaseStats(sorted.filter((s) => s.atMs >= end && s.atMs < end + length));
    let recoverySeconds: number | null = null;
    if (baseline.p95Ms !== null) {
      const limitLatency = baseline.p95Ms * (1 + latencyTolerance);
      const limitErrors = baseline.errorRate + errorTolerance;
      let inBandSince: number | null = null;
      for (let t = end; t <= lastSample; t += bucketMs) {
        const bucket = phaseStats(sorted.filter((s) => s.atMs >= t && s.atMs < t + bucketMs));
        if (bucket.requests === 0) continue;
        const inBand = (bucket.p95Ms ?? 0) <= limitLatency && bucket.errorRate <= limitErrors;
        if (inBand) {
          inBandSince ??= t;
          if (t + bucketMs - inBandSince >= sustainMs) {
            recoverySeconds = (inBandSince - end) / 1000;
            break;
          }
        } else {
          inBandSince = null;
        }
      }
    }
    return {
      index: w.index,
      name: w.name,
      target: w.target,
      faultType: w.faultType,
      before,
      during,
      after,
      recoverySeconds,
      applyLagMs: w.applyLagMs ?? null,
      removeLagMs: w.removeLagMs ?? null,
    };
  });
}
