/**
 * Small statistics the replay needs: percentiles (linear interpolation between closest ranks,
 * as numpy's default), median absolute deviation, and the two-sample Kolmogorov–Smirnov
 * distance (the largest gap between the two empirical distribution functions, 0..1).
 */

export function sortedCopy(values: readonly number[]): number[] {
  return values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
}

/** The p-th percentile (0..100) of sorted values; null when there are none. */
export function percentileOfSorted(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

export function percentile(values: readonly number[], p: number): number | null {
  return percentileOfSorted(sortedCopy(values), p);
}

export function median(values: readonly number[]): number | null {
  return percentile(values, 50);
}

/** Median absolute deviation from the median (0 for fewer than two values). */
export function mad(values: readonly number[]): number {
  const m = median(values);
  if (m === null || values.length < 2) return 0;
  return median(values.map((v) => Math.abs(v - m))) ?? 0;
}

/**
 * Two-sample Kolmogorov–Smirnov statistic D = sup |F1(x) − F2(x)|. Ties are handled by
 * stepping both distribution functions past every copy of a value before comparing. Null when
 * either sample is empty.
 */
export function ksDistance(a: readonly number[], b: readonly number[]): number | null {
  const x = sortedCopy(a);
  const y = sortedCopy(b);
  if (x.length === 0 || y.length === 0) return null;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i]! <= v) i++;
    while (j < y.length && y[j]! <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

/**
 * The critical KS distance at significance `alpha` for samples of sizes n and m
 * (asymptotic: c(α)·sqrt((n+m)/(n·m)), c(0.05) = 1.358, c(0.01) = 1.628).
 */
export function ksCritical(n: number, m: number, alpha: 0.05 | 0.01 = 0.05): number {
  const c = alpha === 0.01 ? 1.628 : 1.358;
  return c * Math.sqrt((n + m) / (n * m));
}

/** Relative difference (b − a) / a; null when a is 0 or either is null. */
export function relativeDiff(a: number | null, b: number | null): number | null {
  if (a === null || b === null || a === 0) return null;
  return (b - a) / a;
}
