import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../harness/errors.ts';
import { KneeSearch } from '../../../harness/capacity/search.ts';
import { assessStability, DEFAULT_STABILITY, percentile, slope, slopeWithError } from '../../../harness/capacity/stability.ts';

/** Runs a search against a stack that sustains every load up to `capacity`. */
function searchAgainst(capacity: number, bounds = { min: 2, max: 40, factor: 1.5, resolution: 0.03 }) {
  const search = new KneeSearch(bounds);
  const measured: number[] = [];
  for (let load = search.next(); load !== undefined; load = search.next()) {
    measured.push(load);
    search.record(load, load <= capacity);
  }
  return { outcome: search.outcome(), measured };
}

describe('the knee search', () => {
  it('steps up by the factor, then bisects until the bracket is within the resolution', () => {
    const { outcome, measured } = searchAgainst(12.5);
    expect(measured.slice(0, 6)).toEqual([2, 3, 4.5, 6.75, 10.125, 15.1875]);
    expect(outcome.kind).toBe('knee');
    if (outcome.kind !== 'knee') return;
    expect(outcome.sustained).toBeLessThanOrEqual(12.5);
    expect(outcome.failed).toBeGreaterThan(12.5);
    expect((outcome.failed - outcome.sustained) / outcome.sustained).toBeLessThanOrEqual(0.03);
    expect(12.5 / outcome.sustained - 1).toBeLessThan(0.03);
    expect(measured.length).toBeLessThan(12);
  });

  it('reports a knee below the lowest load and above the highest without measuring further', () => {
    expect(searchAgainst(1).outcome).toEqual({ kind: 'below-min', failed: 2 });
    const high = searchAgainst(100);
    expect(high.outcome).toEqual({ kind: 'above-max', sustained: 40 });
    expect(high.measured[high.measured.length - 1]).toBe(40);
  });

  it('refuses bounds upside down and a factor that never grows', () => {
    expect(() => new KneeSearch({ min: 10, max: 5, factor: 1.5, resolution: 0.03 })).toThrow(ConfigError);
    expect(() => new KneeSearch({ min: 10, max: 5, factor: 1.5, resolution: 0.03 })).toThrow(/upside down/);
    expect(() => new KneeSearch({ min: 1, max: 5, factor: 1, resolution: 0.03 })).toThrow(/step-factor/);
    expect(() => new KneeSearch({ min: 0, max: 5, factor: 2, resolution: 0.03 })).toThrow(/--min/);
  });

  it('takes the verdict for the load it asked for only', () => {
    const search = new KneeSearch({ min: 1, max: 4, factor: 2, resolution: 0.1 });
    expect(() => search.record(3, true)).toThrow(/expected 1/);
  });
});

describe('the stability rule', () => {
  const rule = { ...DEFAULT_STABILITY, tolerance: 0.1, floorMs: 10, stableWindows: 2, minWindows: 2, maxWindows: 4 };

  it('is stable when the last windows agree within the band, measuring before that', () => {
    expect(assessStability([500], rule).state).toBe('measuring');
    expect(assessStability([500, 520], rule)).toEqual({ state: 'stable', p95Ms: 520 });
    expect(assessStability([500, 700], rule).state).toBe('measuring');
    expect(assessStability([500, 700, 690], rule)).toEqual({ state: 'stable', p95Ms: 690 });
  });

  it('a millisecond jitter at low latency is within the absolute floor', () => {
    expect(assessStability([40, 55], rule).state).toBe('stable');
    expect(assessStability([40, 65], rule).state).toBe('measuring');
  });

  it('gives up at the window bound: rising when the last window is above the first', () => {
    expect(assessStability([500, 800, 1100, 1400], rule)).toEqual({ state: 'unstable', rising: true, p95Ms: 1400 });
    expect(assessStability([500, 700, 500, 700], rule)).toEqual({ state: 'unstable', rising: false, p95Ms: 700 });
    expect(assessStability([null, null, null, null], rule).state).toBe('unstable');
  });

  it('a window without samples is never stable', () => {
    expect(assessStability([500, null], rule).state).toBe('measuring');
  });
});

describe('slope and percentile', () => {
  it('least-squares slope of a growing and of a flat series', () => {
    const growing = Array.from({ length: 20 }, (_, i) => ({ t: i * 0.5, y: 3 + 0.4 * i * 0.5 + (i % 2 === 0 ? 1 : -1) }));
    expect(slope(growing)).toBeCloseTo(0.4, 1);
    expect(slope([{ t: 0, y: 5 }, { t: 1, y: 5 }, { t: 2, y: 5 }])).toBe(0);
    expect(slope([{ t: 1, y: 5 }])).toBe(0);
  });

  it('the residual error: a churning flat backlog needs more samples than a clear growth', () => {
    // a churning backlog (workers picking jobs up) around a flat level: noisy, no growth
    const churn = Array.from({ length: 24 }, (_, i) => ({ t: i * 0.5, y: 2 + ((i * 7) % 5) - 2 }));
    const flat = slopeWithError(churn);
    expect(Math.abs(flat.slope)).toBeLessThan(0.15);
    const longer = slopeWithError(Array.from({ length: 96 }, (_, i) => ({ t: i * 0.5, y: 2 + ((i * 7) % 5) - 2 })));
    expect(longer.se).toBeLessThan(flat.se / 4); // 4× the span: a slope error 8× smaller
    expect(slopeWithError(churn.map((p) => ({ t: p.t, y: p.y + p.t }))).slope).toBeGreaterThan(0.8);
    expect(slopeWithError([{ t: 0, y: 1 }, { t: 1, y: 2 }]).se).toBe(Infinity);
  });

  it('nearest-rank percentile', () => {
    expect(percentile([], 95)).toBeNull();
    expect(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 95)).toBe(95);
    expect(percentile([3, 1, 2], 50)).toBe(2);
  });
});
