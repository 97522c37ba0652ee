import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareRunDirs } from '../../harness/report/compare.ts';
import { loadScenario } from '../../harness/scenario/load-scenario.ts';
import { experiment, expectSamplingChecksHold, SAMPLING_SHORT } from './experiment-runs.ts';
import { PROJECT_ROOT, testConfig } from './stack-helpers.ts';

describe('sampling (400 requests; the 2,000-request run is in the nightly suite: experiments/sampling.experiment.ts)', () => {
  it('rate 0.1 passes the Wilson check, parent-based consistency and no partial traces; the sampler defect fails them', () => expectSamplingChecksHold(SAMPLING_SHORT, 400));
});

describe('baseline comparison', () => {
  it('flags a deliberately slowed detector, and two normal runs show no regression', async () => {
    const scenario = await loadScenario(join(PROJECT_ROOT, 'test/fixtures/scenarios/compare-short.ts'), { fixturesDir: testConfig().fixturesDir });
    const a = await experiment(scenario);
    const b = await experiment(scenario);
    const slow = await experiment(scenario, { detectorEnv: { EMULATOR_SERVICE_MEAN_MS: '400', EMULATOR_SERVICE_P95_MS: '600' } });
    const normal = compareRunDirs(b.resultsDir, a.resultsDir);
    expect(normal.regressions, JSON.stringify(normal.operations.filter((m) => m.verdict === 'regressed'))).toBe(0);
    const regressed = compareRunDirs(slow.resultsDir, a.resultsDir);
    expect(regressed.regressions).toBeGreaterThan(0);
    expect(regressed.operations.filter((m) => m.verdict === 'regressed').map((m) => m.metric).join(' ')).toMatch(/detect/);
  });
});
