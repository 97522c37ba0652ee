/**
 * Wilson score interval for a binomial proportion: for `successes` out of `n` with two-sided
 * confidence c and z = Φ⁻¹(1 − (1 − c)/2),
 *
 *     center = (p̂ + z²/2n) / (1 + z²/n)
 *     half   = z / (1 + z²/n) · √( p̂(1 − p̂)/n + z²/4n² )
 *
 * It stays inside [0, 1] and behaves at p̂ = 0 or 1, unlike the normal (Wald) interval.
 */

/** z for a two-sided 99 % interval (Φ⁻¹(0.995)). */
export const Z_99 = 2.5758293035489004;

// Acklam's rational approximation of the normal quantile (relative error < 1.2e-9).
const A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

/** Φ⁻¹(p) for 0 < p < 1. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  const [a0, a1, a2, a3, a4, a5] = A as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = B as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = C as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = D as [number, number, number, number];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
}

/** z of a two-sided interval with this confidence (0.99 → 2.5758…). */
export function zForConfidence(confidence: number): number {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
  if (confidence === 0.99) return Z_99;
  return normalQuantile(1 - (1 - confidence) / 2);
}

export interface WilsonInterval {
  successes: number;
  n: number;
  /** successes / n. */
  observed: number;
  low: number;
  high: number;
  center: number;
  confidence: number;
  z: number;
}

export function wilsonInterval(successes: number, n: number, confidence = 0.99): WilsonInterval {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`wilsonInterval: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(successes) || successes < 0 || successes > n) throw new RangeError(`wilsonInterval: successes must be an integer in [0, ${n}], got ${successes}`);
  const z = zForConfidence(confidence);
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At p̂ = 0 (or 1) the bound is exactly 0 (or 1); avoid rounding just past it.
  const low = successes === 0 ? 0 : Math.max(0, center - half);
  const high = successes === n ? 1 : Math.min(1, center + half);
  return { successes, n, observed: p, low, high, center, confidence, z };
}

/** `0.1000 (99 % Wilson 0.0460–0.2038, 10/100)`. */
export function describeInterval(w: WilsonInterval): string {
  return `${w.observed.toFixed(4)} (${Math.round(w.confidence * 1000) / 10} % Wilson ${w.low.toFixed(4)}–${w.high.toFixed(4)}, ${w.successes}/${w.n})`;
}
