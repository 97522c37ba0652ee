import { describe, expect, it } from 'vitest';
import { ksCritical, ksDistance, mad, percentile } from '../../../harness/replay/stats.ts';

describe('replay statistics', () => {
  it('percentiles interpolate between closest ranks (numpy default)', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10, 20, 30, 40, 50], 95)).toBeCloseTo(48);
    expect(percentile([], 95)).toBeNull();
  });

  it('MAD is the median distance from the median', () => {
    expect(mad([1, 1, 2, 2, 4, 6, 9])).toBe(1);
  });

  it('KS distance: 0 for the same sample, 1 for disjoint ones, the largest CDF gap otherwise', () => {
    expect(ksDistance([1, 2, 3], [3, 2, 1])).toBe(0);
    expect(ksDistance([1, 2, 3], [10, 11])).toBe(1);
    // F1 jumps to 0.5 at 1 while F2 is still 0; after 2 both... gap 0.5 at x = 1.
    expect(ksDistance([1, 2], [2, 3])).toBe(0.5);
    // ties: both step past every copy before comparing
    expect(ksDistance([1, 1, 2, 2], [1, 2])).toBe(0);
    expect(ksDistance([], [1])).toBeNull();
  });

  it('KS distance matches a value computed by hand on shifted samples', () => {
    const a = Array.from({ length: 100 }, (_, i) => i);
    const b = a.map((x) => x + 20);
    expect(ksDistance(a, b)).toBeCloseTo(0.2, 10);
    expect(ksCritical(100, 100)).toBeCloseTo(0.192, 3);
  });
});
