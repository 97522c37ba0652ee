import { describe, expect, it } from 'vitest';
import { faultImpact, percentile, type RequestSample } from '../../../harness/chaos/fault-impact.ts';

describe('fault impact', () => {
  it('interpolates percentiles between closest ranks', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10], 95)).toBe(10);
    expect(percentile([], 95)).toBeNull();
    expect(percentile([0, 100], 95)).toBe(95);
  });

  it('measures before/during/after and the time to recover', () => {
    // 10 req/s for 60 s: 20 ms normally, 500 ms and 30 % errors during 20..30 s, slow tail until 34 s.
    const samples: RequestSample[] = [];
    for (let t = 0; t < 60_000; t += 100) {
      const during = t >= 20_000 && t < 30_000;
      const tail = t >= 30_000 && t < 34_000;
      samples.push({ atMs: t, latencyMs: during ? 500 : tail ? 200 : 20, ok: !(during && t % 1000 < 300) });
    }
    const [impact] = faultImpact(
      [{ index: 0, name: 'slow', target: 'detector', faultType: 'latency', plannedStartMs: 20_000, plannedEndMs: 30_000, appliedAtMs: 20_000, removedAtMs: 30_000, applyLagMs: 3, removeLagMs: 4 }],
      samples,
    );
    expect(impact!.before).toMatchObject({ requests: 100, errorRate: 0, p95Ms: 20 });
    expect(impact!.during.p95Ms).toBe(500);
    expect(impact!.during.errorRate).toBeCloseTo(0.3, 5);
    expect(impact!.recoverySeconds).toBe(4);
    expect(impact!.applyLagMs).toBe(3);
  });

  it('says null when the system never recovers within the run', () => {
    const samples: RequestSample[] = [];
    for (let t = 0; t < 20_000; t += 100) samples.push({ atMs: t, latencyMs: t < 5_000 ? 10 : 1_000, ok: true });
    const [impact] = faultImpact([{ index: 0, name: 'x', target: 'redis', faultType: 'down', plannedStartMs: 5_000, plannedEndMs: 10_000 }], samples);
    expect(impact!.recoverySeconds).toBeNull();
  });
});
