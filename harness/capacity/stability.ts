/**
 * The stability rule of a measurement step (as Triton's perf_analyzer): a step's windows are
 * repeated until the last `stableWindows` p95 values all lie within ±tolerance of their mean
 * (an absolute floor keeps millisecond noise at low latency from counting as instability),
 * bounded by `maxWindows`. Also the least-squares slope used for "queue depth not growing".
 */
export interface StabilityRule {
  /** Relative band around the mean of the last windows, e.g. 0.15 = ±15 %. */
  tolerance: number;
  /** Differences under this many ms are stable whatever the ratio. */
  floorMs: number;
  /** How many consecutive windows must agree (≥ 2). */
  stableWindows: number;
  /** At least this many windows per step (≥ stableWindows). */
  minWindows: number;
  /** At most this many windows per step. */
  maxWindows: number;
}

export const DEFAULT_STABILITY: StabilityRule = { tolerance: 0.2, floorMs: 50, stableWindows: 2, minWindows: 2, maxWindows: 4 };

export type StabilityVerdict =
  | { state: 'stable'; p95Ms: number }
  | { state: 'measuring' }
  /** maxWindows reached without agreement; `rising` when the later windows sit above the earlier ones. */
  | { state: 'unstable'; rising: boolean; p95Ms: number };

/** Windows whose p95 is null (no samples) count as not stable. */
export function assessStability(p95s: readonly (number | null)[], rule: StabilityRule): StabilityVerdict {
  const n = p95s.length;
  const last = p95s.slice(-rule.stableWindows);
  if (n >= rule.minWindows && last.length === rule.stableWindows && last.every((p) => p !== null)) {
    const values = last as number[];
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const band = Math.max(rule.tolerance * mean, rule.floorMs);
    if (values.every((v) => Math.abs(v - mean) <= band)) return { state: 'stable', p95Ms: values[values.length - 1]! };
  }
  if (n < rule.maxWindows) return { state: 'measuring' };
  const known = p95s.filter((p): p is number => p !== null);
  const half = Math.floor(known.length / 2);
  const early = known.slice(0, half);
  const late = known.slice(known.length - half);
  const avg = (v: number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
  // rising: the later half of the windows sits above the earlier half by more than the band
  const rising = half > 0 && avg(late) > avg(early) * (1 + rule.tolerance) + rule.floorMs;
  return { state: 'unstable', rising, p95Ms: known[known.length - 1] ?? 0 };
}

/** Least-squares slope of y over t (per unit of t); 0 with fewer than two distinct times. */
export function slope(points: readonly { t: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * The slope with its standard error: residual spread over the spread of t, doubled for the
 * autocorrelation of a polled queue (neighbouring samples see mostly the same jobs).
 */
export function slopeWithError(points: readonly { t: number; y: number }[]): { slope: number; se: number } {
  const n = points.length;
  const b = slope(points);
  if (n < 3) return { slope: b, se: Infinity };
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const stt = points.reduce((a, p) => a + (p.t - mt) ** 2, 0);
  if (stt === 0) return { slope: b, se: Infinity };
  const rss = points.reduce((a, p) => a + (p.y - (my + b * (p.t - mt))) ** 2, 0);
  return { slope: b, se: 2 * Math.sqrt(rss / (n - 2) / stt) };
}

/**
 * Sequential test of "the backlog is growing faster than `limit`": decided when the slope is
 * more than two standard errors from the limit; ambiguous otherwise (measure another window).
 */
export function backlogDecided(estimate: { slope: number; se: number }, limit: number): boolean {
  return Math.abs(estimate.slope - limit) >= 2 * estimate.se;
}

/** The p-th percentile (0..100) by nearest rank; null for no values. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}
