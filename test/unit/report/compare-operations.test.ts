import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../harness/errors.ts';
import { compareOperation, compareRunDirs, compareRuns, DEFAULT_TOLERANCE, shiftMarginMs } from '../../../harness/report/compare.ts';
import { exactUDistribution, mannWhitneyU, uShiftTest, uUpperTail } from '../../../harness/report/mann-whitney.ts';
import { OPERATION_SAMPLES_FILE, operationDurations, readOperationSamples, sampleDurations, writeOperationSamples } from '../../../harness/report/operation-samples.ts';
import type { OperationLatency } from '../../../harness/report/report-model.ts';
import { RunResults } from '../../../harness/util/run-results.ts';
import { writeSummaryJson } from '../../../harness/report/summary-json.ts';
import { seededRandom } from '../../../harness/util/random.ts';
import { makeModel } from './fixture-model.ts';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Lognormal-ish durations around `medianMs` (Box–Muller), seeded. */
function durations(seed: string, n: number, medianMs: number, sigma = 0.35, addMs = 0): number[] {
  const rand = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const z = Math.sqrt(-2 * Math.log(Math.max(1e-12, rand()))) * Math.cos(2 * Math.PI * rand());
    return medianMs * Math.exp(sigma * z) + addMs;
  });
}

function op(values: readonly number[], name = 'llm_inference'): OperationLatency {
  const sorted = [...values].sort((a, b) => a - b);
  const q = (p: number) => {
    const r = (p / 100) * (sorted.length - 1);
    const lo = Math.floor(r);
    return sorted[lo]! + (sorted[Math.min(lo + 1, sorted.length - 1)]! - sorted[lo]!) * (r - lo);
  };
  return { service: 'nemotron-backend', name, count: values.length, p50Ms: q(50), p90Ms: q(90), p95Ms: q(95), p99Ms: q(99) };
}

describe('exact Mann–Whitney U', () => {
  it('counts orderings: n1 = n2 = 2 has U distribution 1,1,2,1,1 (C(4,2) = 6)', () => {
    expect([...exactUDistribution(2, 2)]).toEqual([1, 1, 2, 1, 1]);
    expect([...exactUDistribution(1, 3)]).toEqual([1, 1, 1, 1]);
    const d = exactUDistribution(10, 10);
    expect(d.reduce((a, b) => a + b, 0)).toBe(184756); // C(20, 10)
  });

  it('one-sided exact tail: complete separation of 3 vs 3 is p = 1/20; 20 vs 20 is 1/C(40,20)', () => {
    expect(uUpperTail([4, 5, 6], [1, 2, 3])).toMatchObject({ method: 'exact', pValue: 1 / 20 });
    const high = Array.from({ length: 20 }, (_, i) => 1000 + i);
    const low = Array.from({ length: 20 }, (_, i) => i);
    expect(uUpperTail(high, low).pValue).toBeCloseTo(1 / 137846528820, 20);
    // Ties or large samples: the normal approximation, close to the exact tail at moderate n.
    expect(uUpperTail([1, 1, 2], [1, 2, 3]).method).toBe('normal');
    const x = durations('x', 40, 100);
    const y = durations('y', 40, 110);
    const exact = uUpperTail(x, y).pValue;
    const normal = 1 - 0.5 * mannWhitneyU(x, y).pValue;
    expect(Math.abs(exact - (mannWhitneyU(x, y).z > 0 ? 0.5 * mannWhitneyU(x, y).pValue : normal))).toBeLessThan(0.01);
  });

  it('the shift test asks for more than the margin: +300 ms on 20 spans is confirmed, +30 ms is not', () => {
    const base = durations('base', 20, 180);
    expect(uShiftTest(durations('slow', 20, 180, 0.35, 300), base, 50, 'regressed').pValue).toBeLessThan(0.001);
    expect(uShiftTest(durations('bit', 20, 180, 0.35, 30), base, 50, 'regressed').pValue).toBeGreaterThan(0.01);
    expect(uShiftTest(base, durations('slow', 20, 180, 0.35, 300), 50, 'improved').pValue).toBeLessThan(0.001);
  });
});

describe('compareOperation with per-span samples', () => {
  const t = DEFAULT_TOLERANCE;

  it('flags +300 ms on an operation with 20 spans (the floor used to hide it)', () => {
    const base = durations('llm-a', 20, 196);
    const slow = durations('llm-b', 20, 196, 0.35, 300);
    const m = compareOperation('operation nemotron-backend llm_inference p95', op(base), op(slow), t, { current: slow, baseline: base });
    expect(m.verdict, m.reason).toBe('regressed');
    expect(m.shiftTest).toMatchObject({ method: 'exact', n1: 20, n2: 20, direction: 'regressed' });
    expect(m.reason).toMatch(/beyond tolerance and U test of the spans shifted by 50\.0 ms: p = .* < 0\.01 \(n = 20 \/ 20, exact\)/);
    // Swapped, the same change is an improvement.
    expect(compareOperation('op', op(slow), op(base), t, { current: base, baseline: slow }).verdict).toBe('improved');
  });

  it('keeps healthy runs unchanged: 200 pairs of 20-span runs from one distribution, none flagged', () => {
    let beyondTolerance = 0;
    let flagged = 0;
    for (let i = 0; i < 200; i += 1) {
      const a = durations(`h-a${i}`, 20, 196, 0.5);
      const b = durations(`h-b${i}`, 20, 196, 0.5);
      const m = compareOperation('op', op(a), op(b), t, { current: b, baseline: a });
      if (m.beyondTolerance !== 'unchanged') beyondTolerance += 1;
      if (m.verdict !== 'unchanged') flagged += 1;
    }
    expect(beyondTolerance).toBeGreaterThan(40); // the p95 alone would have called these
    expect(flagged).toBe(0);
  });

  it('detects +300 ms in nearly every one of 100 such pairs, and 3 spans are too few to say much', () => {
    let detected = 0;
    for (let i = 0; i < 100; i += 1) {
      const a = durations(`d-a${i}`, 20, 196, 0.5);
      const b = durations(`d-b${i}`, 20, 196, 0.5, 300);
      if (compareOperation('op', op(a), op(b), t, { current: b, baseline: a }).verdict === 'regressed') detected += 1;
    }
    expect(detected).toBeGreaterThanOrEqual(95); // 97 with these seeds: a wide spread (σ 0.5) hides a few
    const a = durations('few-a', 3, 196);
    const b = durations('few-b', 3, 196, 0.35, 300);
    // 3 vs 3: the smallest one-sided exact p is 1/20 = 0.05 ≥ α, so it cannot be called.
    expect(compareOperation('op', op(a), op(b), t, { current: b, baseline: a })).toMatchObject({ beyondTolerance: 'regressed', verdict: 'unchanged' });
  });

  it('the margin is the tolerance as a shift: max(50 ms, 20 % of the baseline median)', () => {
    expect(shiftMarginMs([100, 200, 300], t)).toBe(50);
    expect(shiftMarginMs([1000, 2000, 3000], t)).toBe(400);
  });
});

describe('operation-samples.json', () => {
  it('groups spans per operation, thins long lists evenly, round-trips through compareRunDirs', () => {
    const groups = operationDurations([
      { service: 's', name: 'a', durationMs: 3.14159 },
      { service: 's', name: 'b', durationMs: 1 },
      { service: 's', name: 'a', durationMs: 1 },
    ]);
    expect(groups).toEqual([{ service: 's', name: 'a', durationsMs: [3.14159, 1] }, { service: 's', name: 'b', durationsMs: [1] }]);
    const thinned = sampleDurations(Array.from({ length: 10_000 }, (_, i) => i), 100);
    expect(thinned).toHaveLength(100);
    expect(thinned[0]).toBe(50);
    expect(thinned[99]).toBe(9950);

    const root = mkdtempSync(join(tmpdir(), 'hsi-opsamples-'));
    roots.push(root);
    const base = durations('disk-a', 20, 196);
    const slow = durations('disk-b', 20, 196, 0.35, 300);
    const write = (runId: string, values: number[]) => {
      const results = new RunResults(root, runId);
      writeSummaryJson(results, makeModel({ runId, operations: [op(values)] }));
      writeOperationSamples(results, [{ service: 'nemotron-backend', name: 'llm_inference', durationsMs: values }]);
      return results.dir;
    };
    const c = compareRunDirs(write('run-slow', slow), write('run-base', base));
    expect(c.operations[0]).toMatchObject({ verdict: 'regressed', metric: 'operation nemotron-backend llm_inference p95' });
    expect(readOperationSamples(join(root, 'run-base'))!.get('nemotron-backend llm_inference')).toHaveLength(20);
    expect(readOperationSamples(join(root, 'nowhere'))).toBeNull();
    // Without the file (a run from before it existed): the p95 and the tolerance alone (20 spans each).
    rmSync(join(root, 'run-slow', OPERATION_SAMPLES_FILE));
    expect(compareRunDirs(join(root, 'run-slow'), join(root, 'run-base')).operations[0]!.reason).toMatch(/no per-span samples \(operation-samples\.json\), p95 and tolerance alone$/);
    expect(JSON.parse(readFileSync(join(root, 'run-base', OPERATION_SAMPLES_FILE), 'utf8')).schemaVersion).toBe(1);
  });

  it('a broken file is one line naming it', () => {
    const root = mkdtempSync(join(tmpdir(), 'hsi-opsamples-'));
    roots.push(root);
    writeFileSync(join(root, OPERATION_SAMPLES_FILE), '{"schemaVersion":1,"operations":[{"service":"s"}]}');
    expect(() => readOperationSamples(root)).toThrow(ConfigError);
    expect(() => readOperationSamples(root)).toThrow(/operation-samples\.json: operations\.0\.name/);
    writeFileSync(join(root, OPERATION_SAMPLES_FILE), '{');
    expect(() => readOperationSamples(root)).toThrow(/operation-samples\.json: not valid JSON/);
  });

  it('compareRuns without sample maps keeps the old behaviour for sample-less runs', () => {
    const a = makeModel({ runId: 'a' });
    expect(compareRuns(makeModel({ runId: 'b' }), a).operations.every((m) => m.shiftTest === undefined)).toBe(true);
  });
});

describe('recorded main-job runs (test/fixtures/compare/main-job-operation-samples.json)', () => {
  const recorded = JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/compare/main-job-operation-samples.json'), 'utf8')) as { runs: Record<string, Record<string, number[]>> };
  const names = Object.keys(recorded.runs);
  const healthy = names.filter((n) => n.startsWith('healthy'));
  const slowed = names.filter((n) => n.startsWith('slow'));
  const verdict = (current: string, baseline: string, key: string) => {
    const c = recorded.runs[current]![key]!;
    const b = recorded.runs[baseline]![key]!;
    const [service, ...rest] = key.split(' ');
    const view = (v: number[]) => ({ ...op(v, rest.join(' ')), service: service! });
    return compareOperation(`operation ${key} p95`, view(b), view(c), DEFAULT_TOLERANCE, { current: c, baseline: b });
  };

  it('five healthy runs compared pairwise: no operation regressed or improved, though p95s crossed the tolerance', () => {
    let crossed = 0;
    for (const a of healthy) {
      for (const b of healthy) {
        if (a === b) continue;
        for (const key of Object.keys(recorded.runs[a]!)) {
          const m = verdict(a, b, key);
          if (m.beyondTolerance !== 'unchanged') crossed += 1;
          expect(m.verdict, `${a} vs ${b} ${key}: ${m.reason}`).toBe('unchanged');
        }
      }
    }
    expect(crossed).toBeGreaterThan(10); // what the p95 alone would have called
  });

  it('every slowed run (+300 ms per LLM request, 17-24 spans) against every healthy one: llm_inference regressed', () => {
    for (const s of slowed) {
      for (const h of healthy) {
        const m = verdict(s, h, 'nemotron-backend llm_inference');
        expect(m.verdict, `${s} vs ${h}: ${m.reason}`).toBe('regressed');
        expect(m.shiftTest!.n1).toBeLessThanOrEqual(24);
      }
    }
  });
});
