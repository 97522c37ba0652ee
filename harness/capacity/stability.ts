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

export const DEFAULT_STABILITY: StabilityRule = { tolerance: 0.2, floorMs: 50, stableWindows: 2, minWindows: 2, maxWindows: 6 };

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
 * The slope with its standard error from the residuals, doubled for the autocorrelation of a
 * polled queue (neighbouring samples see mostly the same jobs). Right for a queue that hovers
 * around a level; too small for one that wanders (an overloaded queue is a random walk):
 * see {@link backlogDrift}.
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

/** How {@link backlogDrift} judges a step's backlog. */
export interface DriftRule {
  /** Epoch seconds of the step's load start (the queue was drained: the backlog started at 0). */
  loadStartSec: number;
  /** Growth allowed on top of the critical growth, jobs/s (the --backlog-tolerance × the load). */
  allowancePerSec: number;
  /** Standard errors between the slope and its limit for an early decision (2 ≈ 95 %). */
  z: number;
  /**
   * true near the knee: the error of a random walk (an overloaded queue), wide, so the step
   * measures until the growth is measurable; false far from it: the residuals' (decides fast).
   */
  randomWalkError: boolean;
}

/** The backlog's drift over a step and the verdict on it. */
export interface BacklogDrift {
  /** Least-squares slope of the backlog, jobs/s. */
  slope: number;
  /** Its standard error, jobs/s. */
  se: number;
  /** The slope a critically loaded queue (ρ = 1) shows from empty over the same samples, jobs/s. */
  criticalSlope: number;
  /** criticalSlope + allowance + half a job over the span (the backlog is a whole number). */
  limit: number;
  /** The backlog's diffusion, jobs/√s (the spread of its 2 s increments). */
  sigma: number;
  /** Seconds of samples the slope was fitted over. */
  spanSec: number;
  /** |slope − limit| ≥ z·se: more windows would not change the verdict. */
  decided: boolean;
  /** slope ≤ limit (at the window bound, undecided: the point estimate decides). */
  sustained: boolean;
}

/** Variance per second of the backlog's increments over non-overlapping blocks of `blockSec`. */
function diffusion(points: readonly { t: number; y: number }[], blockSec: number): number {
  const rates: number[] = [];
  let from = points[0]!;
  for (const p of points.slice(1)) {
    if (p.t - from.t < blockSec * 0.95) continue;
    rates.push((p.y - from.y) / (p.t - from.t));
    from = p;
  }
  if (rates.length < 2) return Infinity;
  const m = rates.reduce((a, r) => a + r, 0) / rates.length;
  return (rates.reduce((a, r) => a + (r - m) ** 2, 0) / (rates.length - 1)) * blockSec;
}

/**
 * Is the backlog growing, judged over the whole step, with its confidence? Three parts:
 * - the slope of the queued + running jobs (every sample of the measured windows: the
 *   throughput deficit, arrivals − completions, is exactly this growth);
 * - its limit: a queue loaded exactly at its capacity (ρ = 1) that starts empty still grows,
 *   like a reflected random walk, E[L(t)] = σ·√(2t/π); the slope of that curve over the same
 *   sample times is the boundary between sustained and not (no fixed tolerance that would let
 *   a few per cent of overload pass), plus half a job over the span (an integer backlog) and
 *   the allowance;
 * - its error: a random walk's (OLS slope of Brownian motion: Var = 6σ²/(5T)) when
 *   `randomWalkError`, else the residuals' (fast, for steps far from the knee); never below
 *   a fifth of a job over the span.
 */
export function backlogDrift(points: readonly { t: number; y: number }[], rule: DriftRule): BacklogDrift {
  const b = slope(points);
  const spanSec = points.length < 2 ? 0 : points[points.length - 1]!.t - points[0]!.t;
  if (points.length < 4 || spanSec <= 0) return { slope: b, se: Infinity, criticalSlope: 0, limit: rule.allowancePerSec, sigma: 0, spanSec, decided: false, sustained: b <= rule.allowancePerSec };
  const variance = diffusion(points, 2);
  const sigma = Number.isFinite(variance) ? Math.sqrt(variance) : 0;
  const criticalSlope = slope(points.map((p) => ({ t: p.t, y: sigma * Math.sqrt((2 * Math.max(0, p.t - rule.loadStartSec)) / Math.PI) })));
  const limit = criticalSlope + rule.allowancePerSec + 0.5 / spanSec;
  const walk = Number.isFinite(variance) ? Math.sqrt((1.2 * variance) / spanSec) : Infinity;
  const se = Math.max(rule.randomWalkError ? walk : Math.min(walk, slopeWithError(points).se), 0.2 / spanSec);
  return { slope: b, se, criticalSlope, limit, sigma, spanSec, decided: Math.abs(b - limit) >= rule.z * se, sustained: b <= limit };
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
