/**
 * A small log-linear (HDR-style) histogram of latencies with 3 significant digits.
 *
 * Values are recorded in milliseconds and stored as integer microseconds. Buckets: 0..2047 µs
 * are exact (width 1 µs); above, every power of two is split into 1024 equal sub-buckets, so a
 * bucket is never wider than 1/1024 of its lowest value (< 0.1 % relative error). Count, sum,
 * min and max are kept exactly. Histograms merge by adding their counts.
 *
 * Percentiles follow k6's definition for trend metrics (metrics/sink.go, TrendSink.P):
 * rank i = p * (n - 1) over the sorted values, linear interpolation between the values at
 * floor(i) and ceil(i). Here the value at a rank is the midpoint of the bucket that holds it,
 * clamped to [min, max].
 */
const SUB_BUCKET_BITS = 11; // 2^11 = 2048 >= 2 * 10^3: three significant digits
const SUB_BUCKET_COUNT = 1 << SUB_BUCKET_BITS;
const HALF = SUB_BUCKET_COUNT / 2;

/** Index of the bucket holding integer value v (>= 0). */
export function bucketIndex(v: number): number {
  if (v < SUB_BUCKET_COUNT) return v;
  let e = Math.floor(Math.log2(v));
  // Math.log2 may be off by one right at powers of two on some platforms: correct it.
  if (2 ** e > v) e -= 1;
  else if (2 ** (e + 1) <= v) e += 1;
  const b = e - (SUB_BUCKET_BITS - 1); // >= 1
  const sub = Math.floor(v / 2 ** b); // HALF..SUB_BUCKET_COUNT-1
  return SUB_BUCKET_COUNT + (b - 1) * HALF + (sub - HALF);
}

/** Lowest integer value of a bucket and its width. */
export function bucketRange(index: number): { lowest: number; width: number } {
  if (index < SUB_BUCKET_COUNT) return { lowest: index, width: 1 };
  const rest = index - SUB_BUCKET_COUNT;
  const b = Math.floor(rest / HALF) + 1;
  const sub = (rest % HALF) + HALF;
  const width = 2 ** b;
  return { lowest: sub * width, width };
}

/**
 * k6's percentile on sorted values: linear interpolation between the closest ranks
 * (p in 0..100). 0 for no values, the value itself for one.
 */
export function exactPercentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  if (n === 1) return sorted[0] ?? 0;
  const i = (p / 100) * (n - 1);
  const lo = sorted[Math.floor(i)] ?? 0;
  const hi = sorted[Math.ceil(i)] ?? 0;
  return lo + (hi - lo) * (i - Math.floor(i));
}

export interface HistogramSnapshot {
  count: number;
  sum: number;
  min: number;
  max: number;
  /** [bucket index, count] pairs of non-empty buckets. */
  buckets: [number, number][];
}

export class Histogram {
  private counts: Float64Array;
  private maxIndex = -1;
  count = 0;
  /** Sum of the recorded values in ms (exact). */
  sum = 0;
  private minMs = Number.POSITIVE_INFINITY;
  private maxMs = Number.NEGATIVE_INFINITY;
  /** Integer units per millisecond (1000: microseconds). */
  readonly unitsPerMs: number;

  constructor(unitsPerMs = 1000) {
    this.unitsPerMs = unitsPerMs;
    this.counts = new Float64Array(SUB_BUCKET_COUNT * 2);
  }

  /** Records a value in ms (negative values are clamped to 0). */
  record(ms: number, n = 1): void {
    if (!Number.isFinite(ms) || n <= 0) return;
    const value = ms < 0 ? 0 : ms;
    const index = bucketIndex(Math.round(value * this.unitsPerMs));
    this.ensure(index);
    this.counts[index] = (this.counts[index] ?? 0) + n;
    if (index > this.maxIndex) this.maxIndex = index;
    this.count += n;
    this.sum += value * n;
    if (value < this.minMs) this.minMs = value;
    if (value > this.maxMs) this.maxMs = value;
  }

  private ensure(index: number): void {
    if (index < this.counts.length) return;
    let size = this.counts.length;
    while (size <= index) size *= 2;
    const grown = new Float64Array(size);
    grown.set(this.counts);
    this.counts = grown;
  }

  get min(): number {
    return this.count === 0 ? 0 : this.minMs;
  }

  get max(): number {
    return this.count === 0 ? 0 : this.maxMs;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** Adds another histogram's values to this one (same unitsPerMs). */
  merge(other: Histogram): this {
    if (other.unitsPerMs !== this.unitsPerMs) throw new Error('cannot merge histograms of different units');
    if (other.count === 0) return this;
    this.ensure(other.maxIndex);
    for (let i = 0; i <= other.maxIndex; i++) {
      const c = other.counts[i] ?? 0;
      if (c !== 0) this.counts[i] = (this.counts[i] ?? 0) + c;
    }
    if (other.maxIndex > this.maxIndex) this.maxIndex = other.maxIndex;
    this.count += other.count;
    this.sum += other.sum;
    if (other.minMs < this.minMs) this.minMs = other.minMs;
    if (other.maxMs > this.maxMs) this.maxMs = other.maxMs;
    return this;
  }

  /** The k6 percentile (p in 0..100) in ms. */
  percentile(p: number): number {
    return this.percentiles([p])[0] ?? 0;
  }

  /** Several percentiles in one pass (any order), in ms. */
  percentiles(ps: readonly number[]): number[] {
    const n = this.count;
    if (n === 0) return ps.map(() => 0);
    if (n === 1) return ps.map(() => this.minMs);
    // ranks needed, sorted, each resolved to its bucket's representative value
    const wanted = new Set<number>();
    for (const p of ps) {
      const i = (Math.min(Math.max(p, 0), 100) / 100) * (n - 1);
      wanted.add(Math.floor(i));
      wanted.add(Math.ceil(i));
    }
    const ranks = [...wanted].sort((a, b) => a - b);
    const valueAt = new Map<number, number>();
    let seen = 0;
    let r = 0;
    for (let index = 0; index <= this.maxIndex && r < ranks.length; index++) {
      const c = this.counts[index] ?? 0;
      if (c === 0) continue;
      seen += c;
      while (r < ranks.length && (ranks[r] ?? 0) < seen) {
        valueAt.set(ranks[r] ?? 0, this.representative(index));
        r++;
      }
    }
    return ps.map((p) => {
      const i = (Math.min(Math.max(p, 0), 100) / 100) * (n - 1);
      const lo = valueAt.get(Math.floor(i)) ?? this.maxMs;
      const hi = valueAt.get(Math.ceil(i)) ?? this.maxMs;
      return lo + (hi - lo) * (i - Math.floor(i));
    });
  }

  private representative(index: number): number {
    const { lowest, width } = bucketRange(index);
    const mid = (lowest + (width - 1) / 2) / this.unitsPerMs;
    return Math.min(Math.max(mid, this.minMs), this.maxMs);
  }

  snapshot(): HistogramSnapshot {
    const buckets: [number, number][] = [];
    for (let i = 0; i <= this.maxIndex; i++) {
      const c = this.counts[i] ?? 0;
      if (c !== 0) buckets.push([i, c]);
    }
    return { count: this.count, sum: this.sum, min: this.min, max: this.max, buckets };
  }

  static fromSnapshot(s: HistogramSnapshot, unitsPerMs = 1000): Histogram {
    const h = new Histogram(unitsPerMs);
    for (const [index, c] of s.buckets) {
      h.ensure(index);
      h.counts[index] = c;
      if (index > h.maxIndex) h.maxIndex = index;
    }
    h.count = s.count;
    h.sum = s.sum;
    if (s.count > 0) {
      h.minMs = s.min;
      h.maxMs = s.max;
    }
    return h;
  }
}
