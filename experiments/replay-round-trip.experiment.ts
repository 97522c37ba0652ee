/**
 * Nightly: the replay round trip over every built-in chaos scenario (long: two runs each).
 * Run a scenario, export its traces to a file, rebuild a scenario from that file alone, run
 * it; then every fault window within ±1 s of the original's applied window (an edge no call
 * crossed, which the traces only bracket, must lie in that bracket, and the symptom windows
 * read from both sides' traces must then agree within ±1 s), every judged
 * operation's p95 within ±20 %, error spans per window within ±10 % (or 1), the same
 * expectation verdicts per family. `test/integration/replay.test.ts` is the fast one-scenario
 * representative in `npm test`.
 */
import { describe, expect, it } from 'vitest';
import { hsiExperimentEvaluator } from '../assertions/hsi/experiment-evaluator.ts';
import { loadStackConfig } from '../harness/config/stack-config.ts';
import { describeRoundTrip, roundTrip, sameVerdicts, strictHopFailures, symptomWindowFailures, windowFailures } from '../harness/replay/round-trip.ts';

const config = loadStackConfig({ projectRoot: new URL('..', import.meta.url).pathname });
const CHAOS = ['chaos-detector-latency', 'chaos-detector-down', 'chaos-llm-timeout', 'chaos-redis-reset', 'chaos-postgres-bandwidth', 'chaos-llm-503-burst'];

describe.each(CHAOS)('nightly replay round trip: %s', (name) => {
  it('replays from its exported traces within the tolerances', { timeout: 900_000 }, async () => {
    // HSI_CHAOS_REPLAY_AA=1: rerun each original once more (A/A) and print each p95 miss beside that noise
    const aa = process.env['HSI_CHAOS_REPLAY_AA'] === '1';
    const r = await roundTrip(name, { config, evaluator: hsiExperimentEvaluator(), log: (line) => process.stdout.write(`[${name}] ${line}\n`), aa });
    process.stdout.write(`${describeRoundTrip(r).join('\n')}\n`);
    for (const w of r.windows) expect(w.replayed, `${w.name}: no replayed fault on ${w.target}`).not.toBeNull();
    // Every edge within ±1 s of the applied one, or hidden (no call crossed the hop near it: the
    // traces bracket it more widely and the applied edge lies in that bracket) ...
    expect(windowFailures(r)).toEqual([]);
    // ... and then the replay is judged by what the traces do show: its symptom windows within ±1 s of the incident's.
    expect(symptomWindowFailures(r)).toEqual([]);
    expect(strictHopFailures(r)).toEqual([]);
    expect(r.fidelity.operations.filter((o) => !o.ok).map((o) => `${o.name} ${o.p95Diff}`)).toEqual([]);
    expect(r.fidelity.errors.filter((e) => !e.ok)).toEqual([]);
    expect(sameVerdicts(r), JSON.stringify(r.verdicts)).toBe(true);
    expect(r.replay.report.verdict).toBe(r.original.report.verdict);
  });
});

describe('nightly replay: a trace file in the real HSI shape', () => {
  it('replays into a scenario that runs on the embedded stack, with a fidelity section', { timeout: 600_000 }, async () => {
    const { runCli } = await import('../test/integration/stack-helpers.ts');
    const res = await runCli(['replay', 'test/fixtures/replay/hsi-real-shape.json', '--name', 'replay-real-shape', '--out', 'results/round-trips/replay-real-shape.ts', '--run'], undefined, 590_000);
    process.stdout.write(res.stdout);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect([0, 1], res.stderr).toContain(res.code);
    expect(res.stdout).toMatch(/replay fidelity {2}(FAITHFUL|UNFAITHFUL)/);
  });
});
