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

/** Largest n1·n2 for which `uUpperTail` computes the exact null distribution (else the normal approximation). */
export const EXACT_U_MAX_PAIRS = 2500;

/**
 * Exact null distribution of U1 for samples of n1 and n2 values without ties: counts[u] =
 * number of orderings of the pooled sample with U1 = u (every ordering equally likely under
 * H0). Recurrence f(a, b, u) = f(a−1, b, u−b) + f(a, b−1, u): the largest pooled value is
 * either an x (above all b y's: adds b) or a y (adds nothing). Counts reach C(n1+n2, n1),
 * far inside float64 for n1·n2 ≤ EXACT_U_MAX_PAIRS.
 */
export function exactUDistribution(n1: number, n2: number): Float64Array {
  // rows[b] = distribution for (a, b) at the current a; start with a = 0: U = 0 in one way.
  let rows: Float64Array[] = Array.from({ length: n2 + 1 }, () => Float64Array.of(1));
  for (let a = 1; a <= n1; a += 1) {
    const next: Float64Array[] = [];
    next[0] = Float64Array.of(1);
    for (let b = 1; b <= n2; b += 1) {
      const out = new Float64Array(a * b + 1);
      const lastX = rows[b]!; // (a−1, b), shifted by b
      for (let u = 0; u < lastX.length; u += 1) out[u + b]! += lastX[u]!;
      const lastY = next[b - 1]!; // (a, b−1)
      for (let u = 0; u < lastY.length; u += 1) out[u]! += lastY[u]!;
      next[b] = out;
    }
    rows = next;
  }
  return rows[n2]!;
}

/**
 * One-sided p-value P(U1 ≥ observed) under H0 "same distribution": exact when there are no
 * ties and n1·n2 ≤ EXACT_U_MAX_PAIRS (honest at 5 or 20 values), otherwise the tie-corrected
 * normal approximation with continuity correction.
 */
export function uUpperTail(x: readonly number[], y: readonly number[]): { pValue: number; method: 'exact' | 'normal'; result: MannWhitneyResult } {
  const result = mannWhitneyU(x, y);
  if (result.tieTerm === 0 && result.n1 * result.n2 <= EXACT_U_MAX_PAIRS) {
    const counts = exactUDistribution(result.n1, result.n2);
    let total = 0;
    let tail = 0;
    // U1 is an integer without ties; round guards against float sums of ranks.
    const observed = Math.round(result.u1);
    for (let u = 0; u < counts.length; u += 1) {
      total += counts[u]!;
      if (u >= observed) tail += counts[u]!;
    }
    return { pValue: Math.min(1, tail / total), method: 'exact', result };
  }
  if (result.sigmaU === 0) return { pValue: 1, method: 'normal', result };
  const zUpper = (result.u1 - result.meanU - 0.5) / result.sigmaU;
  return { pValue: Math.min(1, normalCdf(-zUpper)), method: 'normal', result };
}

export interface ShiftTestResult {
  /** 'regressed': H1 "current exceeds baseline by more than margin"; 'improved': "is lower by more than margin". */
  direction: 'regressed' | 'improved';
  /** The tolerance the change must exceed, ms (the values are shifted by it before ranking). */
  marginMs: number;
  n1: number;
  n2: number;
  /** One-sided. */
  pValue: number;
  method: 'exact' | 'normal';
  /** P(current − margin > baseline) (+ ½ ties) for 'regressed'; P(current + margin < baseline) for 'improved'. */
  probabilityOfSuperiority: number;
}

/**
 * Mann–Whitney U with a tolerance (a non-inferiority style shift test): is the current sample
 * larger than the baseline by more than `marginMs`? Ranks current − margin against the
 * baseline and asks the one-sided U test; 'improved' mirrors it (baseline − margin against
 * current). Rank based, so a single slow span cannot carry it, and exact for small samples.
 */
export function uShiftTest(current: readonly number[], baseline: readonly number[], marginMs: number, direction: ShiftTestResult['direction']): ShiftTestResult {
  const [x, y] = direction === 'regressed' ? [current.map((v) => v - marginMs), baseline] : [baseline.map((v) => v - marginMs), current];
  const { pValue, method, result } = uUpperTail(x, y);
  return { direction, marginMs, n1: current.length, n2: baseline.length, pValue, method, probabilityOfSuperiority: result.probabilityOfSuperiority };
}
