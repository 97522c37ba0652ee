import { describe, expect, it } from 'vitest';
import { compareOperations } from '../../../harness/replay/fidelity.ts';
import { DEFAULT_FIDELITY_TOLERANCES } from '../../../harness/report/replay-fidelity.ts';
import type { NormalizedSpan } from '../../../harness/traces/span-model.ts';

function spans(name: string, durations: number[]): NormalizedSpan[] {
  return durations.map((durationMs, i) => ({
    traceId: `${i}`.padStart(32, '0'),
    spanId: `${i + 1}`.padStart(16, '0'),
    service: 'svc',
    name,
    kind: 'internal',
    startTimeUnixNano: BigInt(i) * 1_000_000n,
    startTimeMs: i,
    durationMs,
    attributes: {},
    resource: {},
    events: [],
    links: [],
    status: { code: 'unset' },
  }));
}

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

describe('replay fidelity per operation', () => {
  it('a p95 within ±20 % passes; a 2× slower operation with many spans fails (KS significant)', () => {
    const base = range(80, (i) => 100 + (i % 20));
    const [same] = compareOperations(spans('op', base), spans('op', base.map((d) => d * 1.1)), DEFAULT_FIDELITY_TOLERANCES);
    expect(same).toMatchObject({ judged: true, p95Ok: true, ok: true });
    const [slow] = compareOperations(spans('op', base), spans('op', base.map((d) => d * 2)), DEFAULT_FIDELITY_TOLERANCES);
    expect(slow).toMatchObject({ judged: true, p95Ok: false, ok: false });
    expect(slow!.ks).toBe(1);
  });

  it('one outlier in a dozen spans moves the p95 far, but the samples are not told apart: passes, unless --strict-p95', () => {
    const a = range(14, (i) => 10 + (i % 3));
    const b = [...a.slice(0, 13), 90];
    const [guarded] = compareOperations(spans('op', a), spans('op', b), DEFAULT_FIDELITY_TOLERANCES);
    expect(guarded!.p95Ok).toBe(false);
    expect(guarded!.ks!).toBeLessThan(guarded!.ksCritical!);
    expect(guarded!.ok).toBe(true);
    const [strict] = compareOperations(spans('op', a), spans('op', b), { ...DEFAULT_FIDELITY_TOLERANCES, ksAlpha: 0 });
    expect(strict).toMatchObject({ ksCritical: null, ok: false });
  });

  it('operations with fewer spans than minSpans are shown, not judged', () => {
    const [few] = compareOperations(spans('op', [1, 2, 3]), spans('op', [30, 40, 50]), DEFAULT_FIDELITY_TOLERANCES);
    expect(few).toMatchObject({ judged: false, ok: true });
  });
});
