import { Int32Histogram } from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';
import { exactPercentile, Histogram } from '../../../harness/load/histogram.ts';
import { ExactTrend } from '../../../harness/load/metrics.ts';
import { seededRandom } from '../../../harness/util/random.ts';

function lognormal(random: () => number, median: number, sigma: number): number {
  const u = Math.max(random(), 1e-12);
  const v = random();
  return median * Math.exp(sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
}

describe('k6 percentile definition', () => {
  it('reproduces k6 (internal/js/summary_test.go: samples 10, 15, 20 -> p(90)=19, p(95)=19.5, p(99)=19.9, med 15)', () => {
    const sorted = [10, 15, 20];
    expect(exactPercentile(sorted, 90)).toBeCloseTo(19, 12);
    expect(exactPercentile(sorted, 95)).toBeCloseTo(19.5, 12);
    expect(exactPercentile(sorted, 99)).toBeCloseTo(19.9, 12);
    expect(exactPercentile(sorted, 50)).toBe(15);
    const t = new ExactTrend();
    for (const v of [20, 10, 15]) t.record(v);
    expect(t.percentiles([50, 90, 95, 99])).toEqual([15, 19, 19.5, expect.closeTo(19.9, 12)]);
    const h = new Histogram();
    for (const v of [20, 10, 15]) h.record(v);
    // the histogram: same definition on bucket midpoints, within 3 significant digits
    expect(h.percentile(90)).toBeCloseTo(19, 2);
    expect(h.percentile(95)).toBeCloseTo(19.5, 2);
    expect(h.percentile(99)).toBeCloseTo(19.9, 2);
    expect(h.percentile(50)).toBeCloseTo(15, 2);
  });
  it('handles 0 and 1 values like k6', () => {
    expect(exactPercentile([], 95)).toBe(0);
    expect(exactPercentile([7], 95)).toBe(7);
    const h = new Histogram();
    expect(h.percentile(95)).toBe(0);
    h.record(7.25);
    expect(h.percentile(95)).toBe(7.25);
    expect([h.min, h.max, h.mean]).toEqual([7.25, 7.25, 7.25]);
  });
});

describe('HDR histogram (hdr-histogram-js)', () => {
  it('keeps 3 significant digits: a single value comes back within 1/1000 of itself, at any scale', () => {
    for (const ms of [0.001, 0.5, 2.047, 2.049, 4.096, 123.456, 2147.483, 3.6e6, 1e8]) {
      const h = new Histogram();
      h.record(ms);
      h.record(ms * 1.5);
      // the lower of two values: its bucket's middle, not the exact value (clamping only hides it at the ends)
      const got = h.percentile(0);
      expect(Math.abs(got - ms)).toBeLessThanOrEqual(ms * 1e-3 + 1e-3);
    }
  });

  it('matches exact k6 percentiles within 3 significant digits', () => {
    const random = seededRandom('hist');
    for (const [median, sigma] of [[5, 0.5], [120, 1.2], [2000, 0.8]] as const) {
      const values: number[] = [];
      const h = new Histogram();
      for (let i = 0; i < 20_000; i++) {
        const v = lognormal(random, median, sigma);
        values.push(v);
        h.record(v);
      }
      const sorted = Float64Array.from(values).sort();
      for (const p of [0, 1, 10, 50, 90, 95, 99, 99.9, 100]) {
        const exact = exactPercentile(sorted, p);
        expect(Math.abs(h.percentile(p) - exact)).toBeLessThanOrEqual(exact * 1e-3 + 1e-3);
      }
      expect(h.count).toBe(20_000);
      expect(h.min).toBe(sorted[0]);
      expect(h.max).toBe(sorted[sorted.length - 1]);
      expect(h.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 6);
    }
  });

  it('merges: two halves give the histogram of the whole', () => {
    const random = seededRandom('merge');
    const a = new Histogram();
    const b = new Histogram();
    const all = new Histogram();
    for (let i = 0; i < 5000; i++) {
      const v = lognormal(random, 50, 1);
      (i % 2 === 0 ? a : b).record(v);
      all.record(v);
    }
    const merged = new Histogram().merge(a).merge(b);
    expect(merged.count).toBe(all.count);
    expect(merged.min).toBe(all.min);
    expect(merged.max).toBe(all.max);
    expect(merged.sum).toBeCloseTo(all.sum, 6);
    expect(merged.percentiles([50, 95, 99])).toEqual(all.percentiles([50, 95, 99]));
  });

  it('gives the same percentiles as recording every value into hdr-histogram-js directly (values below 2.048 ms are counted apart first)', () => {
    const random = seededRandom('small-values');
    const h = new Histogram();
    const direct = new Int32Histogram(1, 3_600_000_000, 3);
    direct.autoResize = true;
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    const ps = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100];
    for (let i = 1; i <= 30_000; i++) {
      // half below 2.048 ms (runs of zeros among them), half above; reads in between
      const v = i % 7 === 0 ? 0 : lognormal(random, 2, 1);
      h.record(v);
      direct.recordValue(Math.round(v * 1000));
      min = Math.min(min, v);
      max = Math.max(max, v);
      if (i % 10_000 !== 0) continue;
      const at = (r: number) => Math.min(Math.max(direct.medianEquivalentValue(direct.getValueAtPercentile(((r + 0.5) / i) * 100)) / 1000, min), max);
      const expected = ps.map((p) => {
        const rank = (p / 100) * (i - 1);
        return at(Math.floor(rank)) + (at(Math.ceil(rank)) - at(Math.floor(rank))) * (rank - Math.floor(rank));
      });
      expect(h.percentiles(ps)).toEqual(expected);
    }
  });

  it('counts from the intended time: big outliers keep their weight', () => {
    const h = new Histogram();
    for (let i = 0; i < 99; i++) h.record(1);
    h.record(300);
    expect(h.percentile(50)).toBe(1);
    expect(h.max).toBe(300);
    // rank 98.01 interpolates between 1 and 300 as k6 does
    expect(h.percentile(99)).toBeCloseTo(1 + 299 * 0.01, 2);
  });
});
