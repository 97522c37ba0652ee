import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hsiExperimentEvaluator } from '../../assertions/experiment-evaluator.ts';
import { runExperiment } from '../../harness/experiment/experiment-runner.ts';
import { compareRunDirs } from '../../harness/report/compare.ts';
import { loadScenario } from '../../harness/scenario/load-scenario.ts';
import type { Scenario } from '../../harness/scenario/scenario-types.ts';
import type { DefectName } from '../../harness/stack/defects.ts';
import { PROJECT_ROOT, testConfig } from './stack-helpers.ts';

async function experiment(scenario: Scenario, extra: { defects?: DefectName[]; detectorEnv?: Record<string, string> } = {}) {
  return runExperiment({
    scenario,
    config: testConfig(),
    target: {
      kind: 'embedded',
      defects: extra.defects ?? [],
      backendEnv: scenario.stack?.backend ?? {},
      detectorEnv: { ...(scenario.stack?.detector ?? {}), ...(extra.detectorEnv ?? {}) },
      llmEnv: scenario.stack?.llm ?? {},
    },
    evaluator: hsiExperimentEvaluator(),
    log: () => {},
  });
}

describe('sampling over 2,000 requests', () => {
  it('rate 0.1 passes the Wilson check, parent-based consistency and no partial traces; the sampler defect fails them', async () => {
    const scenario = await loadScenario('sampling-rate', { fixturesDir: testConfig().fixturesDir });
    const healthy = await experiment(scenario);
    expect(healthy.report.load?.httpReqs).toBeGreaterThanOrEqual(2000);
    expect(healthy.report.assertions.filter((a) => !a.passed).map((a) => a.message)).toEqual([]);
    expect(healthy.report.assertions.find((a) => a.name.includes('rate'))?.measured).toMatch(/0\.0|0\.1/);

    const broken = await experiment(scenario, { defects: ['sampler-ignores-parent'] });
    const failed = broken.report.assertions.filter((a) => !a.passed);
    expect(failed.map((a) => a.family)).toContain('sampling');
    expect(failed.some((a) => /sampled=0/.test(a.message)), failed.map((a) => a.message).join('\n')).toBe(true);
    expect(broken.exitCode).toBe(1);
  });
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
