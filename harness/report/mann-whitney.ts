/**
 * Mann–Whitney U test (Wilcoxon rank-sum), normal approximation with tie correction and
 * continuity correction, two-sided. Same definitions as
 * `scipy.stats.mannwhitneyu(x, y, alternative='two-sided', method='asymptotic', use_continuity=True)`.
 *
 *   ranks      average ranks of the pooled samples (ties share their mean rank)
 *   U1         R1 − n1(n1+1)/2, R1 = sum of x's ranks  (= #pairs x>y + ½ #pairs x=y)
 *   U2         n1·n2 − U1
 *   mean       n1·n2 / 2
 *   σ²         n1·n2/12 · ((n+1) − Σ(t³−t) / (n(n−1)))   t = size of each tie group, n = n1+n2
 *   z          (U1 − mean − ½·sign(U1 − mean)) / σ       (0 when |U1 − mean| ≤ ½)
 *   p          2·(1 − Φ(|z|)) = erfc(|z|/√2)
 *
 * z > 0 means values of x tend to be larger than values of y.
 */
export interface MannWhitneyResult {
  n1: number;
  n2: number;
  /** U of the first sample (x). */
  u1: number;
  u2: number;
  meanU: number;
  /** Tie-corrected standard deviation of U under H0. */
  sigmaU: number;
  /** Signed, continuity-corrected; > 0: x tends to be larger. */
  z: number;
  /** Two-sided. */
  pValue: number;
  /** U1/(n1·n2): P(X > Y) + ½ P(X = Y); 0.5 = no shift. */
  probabilityOfSuperiority: number;
  /** Σ(t³ − t) over tie groups (0: no ties). */
  tieTerm: number;
}

/** erfc with fractional error < 1.2e-7 everywhere (Numerical Recipes' erfcc, Chebyshev fit). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Standard normal CDF. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

export function mannWhitneyU(x: readonly number[], y: readonly number[], options: { continuityCorrection?: boolean } = {}): MannWhitneyResult {
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) throw new Error('mannWhitneyU: both samples need at least one value');
  for (const v of [...x, ...y]) if (!Number.isFinite(v)) throw new Error(`mannWhitneyU: not a finite number: ${v}`);
  const n = n1 + n2;
  // Pool with a group flag, sort by value; assign average ranks per tie group.
  const pooled: { v: number; fromX: boolean }[] = [];
  for (const v of x) pooled.push({ v, fromX: true });
  for (const v of y) pooled.push({ v, fromX: false });
  pooled.sort((a, b) => a.v - b.v);
  let r1 = 0;
  let tieTerm = 0;
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && pooled[j]!.v === pooled[i]!.v) j += 1;
    const t = j - i;
    const avgRank = (i + 1 + j) / 2; // ranks i+1..j
    for (let k = i; k < j; k += 1) if (pooled[k]!.fromX) r1 += avgRank;
    if (t > 1) tieTerm += t * t * t - t;
    i = j;
  }
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  const meanU = (n1 * n2) / 2;
  const variance = n > 1 ? ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))) : 0;
  const sigmaU = Math.sqrt(Math.max(0, variance));
  const diff = u1 - meanU;
  const cc = options.continuityCorrection === false ? 0 : 0.5;
  let z = 0;
  if (sigmaU > 0) {
    const magnitude = Math.max(0, Math.abs(diff) - cc);
    z = (Math.sign(diff) * magnitude) / sigmaU;
  }
  const pValue = sigmaU > 0 ? Math.min(1, erfc(Math.abs(z) / Math.SQRT2)) : 1;
  return { n1, n2, u1, u2, meanU, sigmaU, z, pValue, probabilityOfSuperiority: u1 / (n1 * n2), tieTerm };
}
