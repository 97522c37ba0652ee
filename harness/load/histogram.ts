import { Int32Histogram } from 'hdr-histogram-js';

/**
 * A latency histogram with 3 significant digits: hdr-histogram-js (HdrHistogram's log-linear
 * buckets) on integer microseconds, plus exact count, sum, min and max.
 *
 * Percentiles follow k6's definition for trend metrics (metrics/sink.go, TrendSink.P):
 * rank i = p * (n - 1) over the sorted values, linear interpolation between the values at
 * floor(i) and ceil(i). Here the value at a rank is the middle of the HDR bucket that holds
 * it (medianEquivalentValue), clamped to [min, max].
 */
const UNITS_PER_MS = 1000;
/** initial range 1 µs .. 1 h; grows by itself past it */
const HIGHEST_INITIAL = 3_600_000_000;

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

/**
 * Values below this many units land in HDR's first bucket, one count per unit (3 significant
 * digits: 2,048 sub-buckets at 1 µs): counted here by unit and added to the HDR histogram
 * before a read, they give it the same counts without an index computation per value.
 */
const EXACT_UNITS = 2048;

export class Histogram {
  private readonly h: Int32Histogram;
  /**
   * A run of equal values not yet in `h` (recorded with one call when the value changes or
   * before a read): many request timings repeat exactly (connecting and tls are 0 on every
   * reused connection), and one add beats an HDR index computation per sample.
   */
  private runUnits = -1;
  private runCount = 0;
  /** counts of values below EXACT_UNITS not yet in `h` (made on the first such value) */
  private small: Float64Array | undefined;
  private smallPending = 0;
  count = 0;
  /** Sum of the recorded values in ms (exact). */
  sum = 0;
  private minMs = Number.POSITIVE_INFINITY;
  private maxMs = Number.NEGATIVE_INFINITY;

  constructor() {
    this.h = new Int32Histogram(1, HIGHEST_INITIAL, 3);
    this.h.autoResize = true;
  }

  /** Records a value in ms (negative values are clamped to 0). */
  record(ms: number, n = 1): void {
    if (!Number.isFinite(ms) || n <= 0) return;
    const value = ms < 0 ? 0 : ms;
    const units = Math.round(value * UNITS_PER_MS);
    if (units === this.runUnits) this.runCount += n;
    else if (units < EXACT_UNITS) {
      const small = (this.small ??= new Float64Array(EXACT_UNITS));
      small[units] = (small[units] as number) + n;
      this.smallPending += n;
    } else {
      this.flushRunOnly();
      this.runUnits = units;
      this.runCount = n;
    }
    this.count += n;
    this.sum += value * n;
    if (value < this.minMs) this.minMs = value;
    if (value > this.maxMs) this.maxMs = value;
  }

  /** the pending run and small values into the HDR histogram (before a read) */
  private flushRun(): void {
    if (this.smallPending > 0) this.flushSmall(this.small as Float64Array);
    this.flushRunOnly();
  }

  private flushRunOnly(): void {
    if (this.runCount === 0) return;
    if (this.runCount === 1) this.h.recordValue(this.runUnits);
    else this.h.recordValueWithCount(this.runUnits, this.runCount);
    this.runCount = 0;
    this.runUnits = -1;
  }

  private flushSmall(small: Float64Array): void {
    for (let units = 0; units < EXACT_UNITS; units++) {
      const n = small[units] as number;
      if (n === 0) continue;
      if (n === 1) this.h.recordValue(units);
      else this.h.recordValueWithCount(units, n);
      small[units] = 0;
    }
    this.smallPending = 0;
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

  /** Adds another histogram's values to this one. */
  merge(other: Histogram): this {
    if (other.count === 0) return this;
    this.flushRun();
    other.flushRun();
    this.h.add(other.h);
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

  /** Several percentiles (any order), in ms. */
  percentiles(ps: readonly number[]): number[] {
    const n = this.count;
    if (n === 0) return ps.map(() => 0);
    if (n === 1) return ps.map(() => this.minMs);
    this.flushRun();
    const valueAt = new Map<number, number>();
    return ps.map((p) => {
      const i = (Math.min(Math.max(p, 0), 100) / 100) * (n - 1);
      const lo = this.valueAtRank(Math.floor(i), valueAt);
      const hi = this.valueAtRank(Math.ceil(i), valueAt);
      return lo + (hi - lo) * (i - Math.floor(i));
    });
  }

  /** the value of the 0-based rank `r` among the sorted values: its bucket's middle, in ms */
  private valueAtRank(r: number, memo: Map<number, number>): number {
    let v = memo.get(r);
    if (v === undefined) {
      // getValueAtPercentile takes the (ceil(p/100 * n))-th value: (r + 0.5) / n lands on r + 1
      const units = this.h.getValueAtPercentile(((r + 0.5) / this.count) * 100);
      v = Math.min(Math.max(this.h.medianEquivalentValue(units) / UNITS_PER_MS, this.minMs), this.maxMs);
      memo.set(r, v);
    }
    return v;
  }
}
