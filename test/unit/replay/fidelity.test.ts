import { describe, expect, it } from 'vitest';
import { noiseLines } from '../../../harness/cli/replay-command.ts';
import { compareOperations, noiseReference } from '../../../harness/replay/fidelity.ts';
import { beyondNoise, DEFAULT_FIDELITY_TOLERANCES, replayFidelitySection, ReplayFidelitySchema, type ReplayFidelityView } from '../../../harness/report/replay-fidelity.ts';
import type { TraceTree } from '../../../harness/traces/span-model.ts';
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

describe('replay fidelity: the A/A noise reference', () => {
  const tree = (list: NormalizedSpan[]) => list.map((s) => ({ traceId: s.traceId, spans: [s] }) as unknown as TraceTree);
  const base = range(60, (i) => 100 + (i % 20));

  it('holds, per operation judged on both runs, how far two runs of one scenario lie apart; a replay miss is beyond it only when larger', () => {
    const noise = noiseReference(tree(spans('op', base)), tree(spans('op', base.map((d) => d * 1.3))), 'scenario x');
    expect(noise.operations).toHaveLength(1);
    expect(noise.operations[0]!.p95Diff).toBeCloseTo(0.3, 2);
    const view = { noise };
    expect(beyondNoise(view, { service: 'svc', name: 'op', p95Diff: 0.25 })).toBe(false);
    expect(beyondNoise(view, { service: 'svc', name: 'op', p95Diff: -0.45 })).toBe(true);
    expect(beyondNoise(view, { service: 'svc', name: 'other', p95Diff: 0.9 })).toBeNull();
    expect(beyondNoise({}, { service: 'svc', name: 'op', p95Diff: 0.9 })).toBeNull();
  });

  it('shows as a column of the report section, and summary.json keeps it', () => {
    const operations = compareOperations(spans('op', base), spans('op', base.map((d) => d * 1.5)), DEFAULT_FIDELITY_TOLERANCES);
    const view: ReplayFidelityView = {
      incident: 'incident.json', verdict: 'unfaithful', failures: [], tolerances: DEFAULT_FIDELITY_TOLERANCES, operations, windows: [], errors: [],
      load: { incidentUploads: 60, replayUploads: 60, ks: 0, incidentPerSecond: [], replayPerSecond: [], ok: true },
      noise: noiseReference(tree(spans('op', base)), tree(spans('op', base.map((d) => d * 1.1))), 'scenario x'),
    };
    const html = replayFidelitySection(view);
    expect(html).toContain('A/A p95 Δ');
    expect(html).toMatch(/\+10 % <b class="bad">beyond<\/b>/);
    expect(ReplayFidelitySchema.parse(JSON.parse(JSON.stringify(view))).noise?.reference).toBe('scenario x');
    expect(replayFidelitySection({ ...view, noise: undefined } as unknown as ReplayFidelityView)).not.toContain('A/A');
    // replay --run --aa prints each p95 miss beside its A/A difference
    expect(noiseLines(view)).toEqual(['    A/A noise        1 operations; p95 outside the band: op +50 % (A/A +10 %, beyond)']);
    expect(noiseLines({ ...view, noise: { ...view.noise!, operations: view.noise!.operations.map((o) => ({ ...o, p95Diff: 0.8 })) } })[0]).toMatch(/op \+50 % \(A\/A \+80 %\)$/);
    expect(noiseLines({ ...view, noise: undefined } as unknown as ReplayFidelityView)).toEqual([]);
  });
});
