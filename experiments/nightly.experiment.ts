/**
 * A team's nightly suite as vitest experiments: `npm run experiments`
 * (vitest run --config vitest.experiments.config.ts). Each experiment runs a scenario on
 * the embedded stack through the harness API and asserts with the custom matchers; the
 * run's reports land in results/<run-id>/ as with the CLI.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { hsiExperimentEvaluator } from '../assertions/hsi/experiment-evaluator.ts';
import { setup as setupMatchers } from '../assertions/vitest-matchers.ts';
import { loadStackConfig } from '../harness/config/stack-config.ts';
import { runExperiment, type ExperimentOutcome } from '../harness/experiment/experiment-runner.ts';
import { loadScenario } from '../harness/scenario/load-scenario.ts';

const config = loadStackConfig({ projectRoot: new URL('..', import.meta.url).pathname });

async function experiment(name: string): Promise<ExperimentOutcome> {
  const scenario = await loadScenario(name, { fixturesDir: config.fixturesDir });
  return runExperiment({
    scenario,
    config,
    target: { kind: 'embedded', backendEnv: scenario.stack?.backend ?? {}, detectorEnv: scenario.stack?.detector ?? {}, llmEnv: scenario.stack?.llm ?? {} },
    evaluator: hsiExperimentEvaluator(),
    log: (line) => process.stdout.write(`[${name}] ${line}\n`),
  });
}

beforeAll(() => setupMatchers());

describe.each(['steady-detector-fault', 'chaos-detector-down', 'chaos-llm-timeout'])('nightly: %s', (name) => {
  it('meets every expectation and threshold', async () => {
    const outcome = await experiment(name);
    // toPass prints each failing assertion's message (broken hop, span or bound).
    expect(outcome.report.assertions).toPass();
    expect(outcome.report.thresholds.filter((t) => !t.ok)).toEqual([]);
    expect(outcome.exitCode).toBe(0);
  });
});
