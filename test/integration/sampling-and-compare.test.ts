import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareRunDirs } from '../../harness/report/compare.ts';
import { loadScenario } from '../../harness/scenario/load-scenario.ts';
import { expectSamplingChecksHold, SAMPLING_SHORT, SharedExperimentStack } from './experiment-runs.ts';
import { PROJECT_ROOT, testConfig } from './stack-helpers.ts';

/**
 * The sampling check and the baseline comparison share one stack, started with the sampling
 * scenario's settings (a fast detector: 4 slots of 20 ms): both run their experiments on it as on
 * an external stack, each judging its own uploads. The comparison's own stack settings are the
 * backend's batch timings, applied at run time; what they leave out (the LLM's time scale) is the
 * same for the three compared runs.
 */
describe('sampling and baseline comparison, one stack', () => {
  let shared: SharedExperimentStack | undefined;
  beforeAll(async () => {
    shared = await SharedExperimentStack.start(await loadScenario(SAMPLING_SHORT, { fixturesDir: testConfig().fixturesDir }), 'sampling-compare');
  });
  afterAll(async () => {
    await shared?.stop();
  });

  it('sampling (400 requests; the 2,000-request run is in the nightly suite: experiments/sampling.experiment.ts): rate 0.1 passes the Wilson check, parent-based consistency and no partial traces; the sampler defect fails them', () =>
    expectSamplingChecksHold(SAMPLING_SHORT, 400, shared!));

  it('baseline comparison: flags a deliberately slowed detector, and two normal runs show no regression', async () => {
    const scenario = await loadScenario(join(PROJECT_ROOT, 'test/fixtures/scenarios/compare-short.ts'), { fixturesDir: testConfig().fixturesDir });
    const s = shared!;
    // The slowed run gets 400 ± 200 ms more per detector request through the emulator's
    // per-request fault knob (the emulated inference time stays as is).
    const a = await s.experiment(scenario);
    const b = await s.experiment(scenario);
    await s.setDetectorFaults({ delay_ms: 400, delay_jitter_ms: 200 });
    let slow;
    try {
      slow = await s.experiment(scenario);
    } finally {
      await s.setDetectorFaults(undefined);
    }
    const normal = compareRunDirs(b.resultsDir, a.resultsDir);
    expect(normal.regressions, JSON.stringify(normal.operations.filter((m) => m.verdict === 'regressed'))).toBe(0);
    const regressed = compareRunDirs(slow.resultsDir, a.resultsDir);
    expect(regressed.regressions).toBeGreaterThan(0);
    expect(regressed.operations.filter((m) => m.verdict === 'regressed').map((m) => m.metric).join(' ')).toMatch(/detect/);
  });
});
