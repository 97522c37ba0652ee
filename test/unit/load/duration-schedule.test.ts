import { describe, expect, it } from 'vitest';
import type { Workload } from '../../../harness/scenario/scenario-types.ts';
import {
  constantArrivalCount,
  constantArrivals,
  planWorkload,
  plannedIterations,
  rampingArrivalCount,
  rampingArrivals,
  rampingVuSteps,
  vusAt,
} from '../../../harness/load/schedule.ts';
import { formatDurationMs, parseDurationMs } from '../../../harness/util/duration.ts';

describe('k6-style durations', () => {
  const cases: [string | number, number | undefined][] = [
    ['30s', 30_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1h2m3.5s', 3_723_500],
    ['1.5s', 1500],
    ['0s', 0],
    ['250', 250],
    [1000, 1000],
    ['', undefined],
    ['soon', undefined],
    ['30 s', undefined],
    ['1m30', undefined],
    ['-5s', undefined],
    [-1, undefined],
  ];
  for (const [text, ms] of cases) {
    it(`${JSON.stringify(text)} -> ${ms}`, () => expect(parseDurationMs(text)).toBe(ms));
  }
  it('formats back to strings k6 accepts', () => {
    for (const ms of [0, 500, 1500, 30_000, 90_000, 600_000, 3_723_500]) expect(parseDurationMs(formatDurationMs(ms))).toBe(ms);
  });
});

const common = { startTimeMs: 0, gracefulStopMs: 30_000, tags: {}, env: {}, cameraIndexes: [0] };

describe('arrival planning: constant-arrival-rate', () => {
  it('8/s for 60 s: 480 iterations every 125 ms from 0', () => {
    const a = constantArrivals(8, 1000, 60_000);
    expect(a.length).toBe(480);
    expect(a[0]).toBe(0);
    expect(a[1]).toBe(125);
    expect(a[479]).toBe(59_875);
  });
  it('counts i * timeUnit / rate < duration', () => {
    expect(constantArrivalCount(3, 1000, 60_000)).toBe(180);
    expect(constantArrivalCount(3, 1000, 1001)).toBe(4); // 0, 333, 667, 1000
    expect(constantArrivalCount(1, 60_000, 60_000)).toBe(1);
    expect(constantArrivalCount(30, 60_000, 60_000)).toBe(30);
    const a = constantArrivals(30, 60_000, 60_000);
    expect(a[1]).toBe(2000);
  });
});

describe('arrival planning: ramping-arrival-rate (k6 cal: iteration i when the area reaches i)', () => {
  it('a constant stage: 5/s for 2 s starts at 200 ms, the last at 2 s', () => {
    const a = rampingArrivals(5, 1000, [{ durationMs: 2000, target: 5 }]);
    expect(Array.from(a)).toEqual([200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000]);
  });
  it('a linear ramp 0 -> 10/s over 10 s: 50 iterations at sqrt(2 i / slope)', () => {
    const a = rampingArrivals(0, 1000, [{ durationMs: 10_000, target: 10 }]);
    expect(a.length).toBe(50);
    // area under r(t) = t/1000 per s: t^2/2000 s^2/ms... i = t^2 / (2 * 1000 * 1000) * 1000 -> t = sqrt(2e6 i) ms
    for (const i of [1, 2, 10, 25, 50]) expect(a[i - 1]).toBeCloseTo(Math.sqrt(2e6 * i), 6);
  });
  it('stages chain, carrying fractional iterations across stages', () => {
    const stages = [
      { durationMs: 10_000, target: 10 },
      { durationMs: 2000, target: 10 },
      { durationMs: 0, target: 1 },
      { durationMs: 3000, target: 1 },
    ];
    const a = rampingArrivals(0, 1000, stages);
    expect(rampingArrivalCount(0, 1000, stages)).toBe(50 + 20 + 3);
    expect(a.length).toBe(73);
    expect(a[50]).toBeCloseTo(10_100, 6); // first of the 10/s plateau
    expect(a[69]).toBeCloseTo(12_000, 6);
    expect(Array.from(a.subarray(70))).toEqual([13_000, 14_000, 15_000]);
    for (let i = 1; i < a.length; i++) expect(a[i]).toBeGreaterThan(a[i - 1] ?? 0);
  });
  it('ramp down 10 -> 0/s over 4 s: 20 iterations, denser first', () => {
    const a = rampingArrivals(10, 1000, [{ durationMs: 4000, target: 0 }]);
    expect(a.length).toBe(20);
    expect(a[19]).toBeCloseTo(4000, 6);
    expect((a[1] ?? 0) - (a[0] ?? 0)).toBeLessThan((a[19] ?? 0) - (a[18] ?? 0));
  });
  it('timeUnit scales the rate', () => {
    expect(rampingArrivalCount(0, 60_000, [{ durationMs: 60_000, target: 60 }])).toBe(30);
  });
});

describe('VU planning', () => {
  it('ramping-vus up: VU k starts when the line reaches k', () => {
    expect(rampingVuSteps(0, [{ durationMs: 10_000, target: 10 }])).toEqual(
      Array.from({ length: 11 }, (_, k) => ({ atMs: k * 1000, vus: k })),
    );
  });
  it('ramping-vus down: a VU stops when the line drops below it', () => {
    const steps = rampingVuSteps(10, [{ durationMs: 10_000, target: 0 }]);
    expect(steps[0]).toEqual({ atMs: 0, vus: 10 });
    expect(steps[1]).toEqual({ atMs: 1000, vus: 9 });
    expect(steps.at(-1)).toEqual({ atMs: 10_000, vus: 0 });
    expect(vusAt(steps, 500)).toBe(10);
    expect(vusAt(steps, 4500)).toBe(6);
  });
  it('ramping-vus: instant jumps and plateaus', () => {
    expect(rampingVuSteps(1, [{ durationMs: 0, target: 5 }, { durationMs: 5000, target: 5 }, { durationMs: 0, target: 2 }])).toEqual([
      { atMs: 0, vus: 5 },
      { atMs: 5000, vus: 2 },
    ]);
  });
  it('plans closed executors with their budgets', () => {
    const per: Workload = { executor: 'per-vu-iterations', vus: 3, iterations: 4, maxDurationMs: 60_000, ...common };
    expect(planWorkload('p', per)).toMatchObject({ kind: 'closed', iterationsPerVu: 4, maxVUs: 3, durationMs: 60_000 });
    expect(plannedIterations(per)).toBe(12);
    const shared: Workload = { executor: 'shared-iterations', vus: 10, iterations: 25, maxDurationMs: 60_000, ...common };
    expect(planWorkload('s', shared)).toMatchObject({ kind: 'closed', sharedIterations: 25, maxVUs: 10 });
    expect(plannedIterations(shared)).toBe(25);
    const cv: Workload = { executor: 'constant-vus', vus: 4, durationMs: 5000, ...common };
    expect(planWorkload('c', cv)).toMatchObject({ kind: 'closed', steps: [{ atMs: 0, vus: 4 }], durationMs: 5000 });
    expect(plannedIterations(cv)).toBeUndefined();
  });
  it('plans open executors with their VU pool', () => {
    const car: Workload = { executor: 'constant-arrival-rate', rate: 8, timeUnitMs: 1000, durationMs: 60_000, preAllocatedVUs: 8, maxVUs: 32, ...common, startTimeMs: 5000 };
    const plan = planWorkload('steady', car);
    expect(plan).toMatchObject({ kind: 'open', startMs: 5000, durationMs: 60_000, preAllocatedVUs: 8, maxVUs: 32 });
    expect(plan.kind === 'open' && plan.arrivals.length).toBe(480);
    expect(plannedIterations(car)).toBe(480);
  });
});
