import { describe, expect, it } from 'vitest';
import { FaultInjector, parseFaultSettings } from '../../../reference-stack/common/fault-knobs.ts';
import { LLM_FAULTABLE_ROUTES } from '../../../reference-stack/llm-emulator/settings.ts';
import { expectedTries, seedForPattern, seedReproduces, TRAILING_PASSES } from '../../../harness/replay/emulator-seed.ts';
import type { HopCall } from '../../../harness/replay/incident.ts';
import { reconstructHopFaults } from '../../../harness/replay/reconstruct-faults.ts';
import { requiredErrors } from '../../../harness/replay/reconstruct.ts';

/**
 * A partial error window replays the incident's failures call for call: the emulator's seeded
 * draws (in arrival order) are searched for a seed that fails the calls the incident's failed.
 */

/** What the real LLM emulator answers to `n` requests in a row with these fault settings (the PUT the harness sends). */
function emulatorAnswers(errorRate: number, seed: number, n: number): boolean[] {
  const injector = new FaultInjector({ faultableRoutes: LLM_FAULTABLE_ROUTES, errorBody: () => ({}) });
  injector.set(parseFaultSettings({ error_rate: errorRate, status_code: 503, seed }, LLM_FAULTABLE_ROUTES));
  return Array.from({ length: n }, () => injector.decide('/completion')?.error === true);
}

const http503: Partial<HopCall> = { error: true, errorKind: 'http', statusCode: 503 };
function llmCalls(spec: [number, number, Partial<HopCall>?][]): HopCall[] {
  return spec.map(([startMs, durationMs, extra], i) => ({ hop: 'llm', traceId: `t${i}`, spanId: `s${i}`, name: 'llm_inference', startMs, durationMs, error: false, ...extra }));
}

describe('replay: the emulator seed that fails the incident\'s calls', () => {
  // chaos-llm-503-burst, a quiet run: the LLM's calls from 10.55 s, 3 answered 503 (two of them a retry chain)
  const pattern = [false, true, true, false, true, false, false];

  it('finds a seed whose draws the real emulator turns into exactly that pattern, then passes', () => {
    const seed = seedForPattern(pattern, 0.43);
    expect(seed).toBeDefined();
    expect(emulatorAnswers(0.43, seed!, pattern.length + TRAILING_PASSES)).toEqual([...pattern, ...Array<boolean>(TRAILING_PASSES).fill(false)]);
  });

  it('can fail: another seed, or the same seed at another rate, gives another pattern (counter-example)', () => {
    const seed = seedForPattern(pattern, 0.43)!;
    expect(seedReproduces(seed + 1, 0.43, pattern) && seedReproduces(seed + 2, 0.43, pattern)).toBe(false);
    expect(seedReproduces(seed, 0.43, pattern.map((f) => !f))).toBe(false);
  });

  it('gives up at once on a pattern a search would take too long for (failure counts of long windows vary less anyway)', () => {
    const long = Array.from({ length: 25 }, (_, i) => i % 5 === 0);
    expect(expectedTries(long, 0.2)).toBeGreaterThan(100_000);
    const t = performance.now();
    expect(seedForPattern(long, 0.2)).toBeUndefined();
    expect(performance.now() - t).toBeLessThan(50);
    expect(seedForPattern(pattern, 1)).toBeUndefined();
  });
});

describe('replay: one 503 among an LLM\'s few calls', () => {
  // the LLM called at 10.2, 10.7 (503), 11.8 (its retry, good) and 14.1 s: one failure, no rate between failures
  const spec: [number, number, Partial<HopCall>?][] = [[10_200, 270], [10_700, 8, http503], [11_800, 270], [14_100, 250], [21_400, 140]];

  it('becomes a window spanning its good neighbours at the observed rate (1 of 3), seeded to fail the middle call', () => {
    const [f, ...rest] = reconstructHopFaults('llm', llmCalls(spec), { startMs: 0, endMs: 30_000 });
    expect(rest).toEqual([]);
    expect(f!.fromMs).toBeLessThan(10_200);
    expect(f!.toMs).toBeGreaterThan(11_800);
    expect(f!.toMs).toBeLessThan(14_100);
    expect(f!.fault).toMatchObject({ type: 'emulator', error_rate: 0.33, status_code: 503 });
    const seed = f!.fault.type === 'emulator' ? f!.fault.seed : undefined;
    expect(emulatorAnswers(0.33, seed!, 3)).toEqual([false, true, false]);
    // no good call bounds a partial window's edges: only the failure does
    expect(f!.evidence.start).toEqual({ lo: 0, hi: 10_700 });
    expect(f!.evidence.end).toEqual({ lo: 10_708, hi: 30_000 });
    expect(f!.evidence.basis).toMatch(/seed \d+: .*\(\.x\.,/);
  });

  it('counter-example: without good calls on both sides it stays a full-rate window around the failure', () => {
    const [f] = reconstructHopFaults('llm', llmCalls([[10_700, 8, http503], [11_800, 270], [14_100, 250]]), { startMs: 0, endMs: 30_000 });
    expect(f!.fault).toMatchObject({ type: 'emulator', error_rate: 1 });
  });

  it('is not required to fail in the replay (0 or 1 are both within ±1 of the incident\'s 1); three failures are', () => {
    const one = reconstructHopFaults('llm', llmCalls(spec), { startMs: 0, endMs: 30_000 });
    expect(requiredErrors(one)).toEqual([]);
    const three: typeof spec = [[10_200, 270], [10_700, 8, http503], [11_800, 8, http503], [13_700, 340], [14_100, 3, http503], [15_400, 260], [21_400, 140]];
    expect(requiredErrors(reconstructHopFaults('llm', llmCalls(three), { startMs: 0, endMs: 30_000 }))).toEqual([{ window: 'llm-errors', service: 'nemotron-backend', name: 'llm_inference', min: 1 }]);
  });
});
