import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareRunDirs } from '../../harness/report/compare.ts';
import { loadScenario } from '../../harness/scenario/load-scenario.ts';
import { expectSamplingChecksHold, SAMPLING_SHORT, SharedExperimentStack } from './experiment-runs.ts';
import { PROJECT_ROOT, testConfig } from './stack-helpers.ts';

describe('sampling (400 requests; the 2,000-request run is in the nightly suite: experiments/sampling.experiment.ts)', () => {
  it('rate 0.1 passes the Wilson check, parent-based consistency and no partial traces; the sampler defect fails them', () => expectSamplingChecksHold(SAMPLING_SHORT, 400));
});

describe('baseline comparison', () => {
  it('flags a deliberately slowed detector, and two normal runs show no regression', async () => {
    const scenario = await loadScenario(join(PROJECT_ROOT, 'test/fixtures/scenarios/compare-short.ts'), { fixturesDir: testConfig().fixturesDir });
    // All three runs on one stack; the slowed run gets 400 ± 200 ms more per detector request
    // through the emulator's per-request fault knob (the emulated inference time stays as is).
    const shared = await SharedExperimentStack.start(scenario, 'compare');
    const [a, b, slow] = await shared.use(async () => {
      const healthy = [await shared.experiment(scenario), await shared.experiment(scenario)] as const;
      await shared.setDetectorFaults({ delay_ms: 400, delay_jitter_ms: 200 });
      return [...healthy, await shared.experiment(scenario)] as const;
    });
    const normal = compareRunDirs(b.resultsDir, a.resultsDir);
    expect(normal.regressions, JSON.stringify(normal.operations.filter((m) => m.verdict === 'regressed'))).toBe(0);
    const regressed = compareRunDirs(slow.resultsDir, a.resultsDir);
    expect(regressed.regressions).toBeGreaterThan(0);
    expect(regressed.operations.filter((m) => m.verdict === 'regressed').map((m) => m.metric).join(' ')).toMatch(/detect/);
  });
});
