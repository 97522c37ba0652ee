/** Experiment runs shared by the integration tests and the nightly suite (experiments/). */
import { expect } from 'vitest';
import { hsiExperimentEvaluator } from '../../assertions/experiment-evaluator.ts';
import { runExperiment, type ExperimentOutcome } from '../../harness/experiment/experiment-runner.ts';
import { loadScenario } from '../../harness/scenario/load-scenario.ts';
import type { Scenario } from '../../harness/scenario/scenario-types.ts';
import type { DefectName } from '../../harness/stack/defects.ts';
import type { StackProfile } from '../../harness/contract/profiles.ts';
import { dockerResourcesOfRun, testConfig } from './stack-helpers.ts';

/** The 400-upload cut of scenarios/sampling-rate.ts that `npm test` runs. */
export const SAMPLING_SHORT = new URL('../fixtures/scenarios/sampling-short.ts', import.meta.url).pathname;

/** One experiment on its own embedded stack, with the scenario's stack settings, defects and detector overrides. */
export async function experiment(scenario: Scenario, extra: { defects?: DefectName[]; detectorEnv?: Record<string, string>; profile?: StackProfile } = {}): Promise<ExperimentOutcome> {
  return runExperiment({
    scenario,
    config: testConfig(),
    target: {
      kind: 'embedded',
      defects: extra.defects ?? [],
      backendEnv: scenario.stack?.backend ?? {},
      detectorEnv: { ...(scenario.stack?.detector ?? {}), ...(extra.detectorEnv ?? {}) },
      llmEnv: scenario.stack?.llm ?? {},
      ...(extra.profile !== undefined ? { profile: extra.profile } : {}),
    },
    evaluator: hsiExperimentEvaluator(),
    log: () => {},
  });
}

/**
 * A sampling scenario (a built-in name or a scenario file) healthy and
 * with `sampler-ignores-parent`: the healthy run passes rate, parent-based and no-partial
 * checks over at least `minRequests`; the defect fails the sampling family naming sampled=0.
 */
export async function expectSamplingChecksHold(scenarioRef: string, minRequests: number): Promise<void> {
  const scenario = await loadScenario(scenarioRef, { fixturesDir: testConfig().fixturesDir });
  const healthy = await experiment(scenario);
  expect(healthy.report.load?.httpReqs).toBeGreaterThanOrEqual(minRequests);
  expect(healthy.report.assertions.filter((a) => !a.passed).map((a) => a.message)).toEqual([]);
  expect(healthy.report.assertions.find((a) => a.name.includes('rate'))?.measured).toMatch(/0\.0|0\.1/);

  const broken = await experiment(scenario, { defects: ['sampler-ignores-parent'] });
  const failed = broken.report.assertions.filter((a) => !a.passed);
  expect(failed.map((a) => a.family)).toContain('sampling');
  expect(failed.some((a) => /sampled=0/.test(a.message)), failed.map((a) => a.message).join('\n')).toBe(true);
  expect(broken.exitCode).toBe(1);
}

/** Every built-in chaos scenario: one runs in `npm test`, all of them nightly. */
export const CHAOS_SCENARIOS = ['chaos-detector-latency', 'chaos-detector-down', 'chaos-llm-timeout', 'chaos-redis-reset', 'chaos-postgres-bandwidth', 'chaos-llm-503-burst'];

/** Runs a built-in chaos scenario on its own embedded stack and checks faults, expectations and teardown. */
export async function expectChaosScenarioHolds(name: string): Promise<void> {
  const outcome = await experiment(await loadScenario(name, { fixturesDir: testConfig().fixturesDir }));
  const failures = outcome.report.assertions.filter((a) => !a.passed).map((a) => a.message);
  expect(failures).toEqual([]);
  expect(outcome.report.errors).toEqual([]);
  for (const f of outcome.report.faults) {
    expect(f.startSec, `${f.name} applied`).not.toBeNull();
    expect(f.endSec, `${f.name} removed`).not.toBeNull();
    expect(Math.abs(f.applyLagMs!)).toBeLessThan(50);
    expect(Math.abs(f.removeLagMs!)).toBeLessThan(50);
  }
  expect(await dockerResourcesOfRun(outcome.report.runId)).toEqual([]);
}

/**
 * A built-in chaos scenario on the reference stack in `profile`: the run completes (passed or
 * failed, never a harness error), the faults are applied and removed on plan, the results name
 * the profile, nothing is left behind. On `hsi-current` an expectation written for the reference
 * behaviour may fail: that is a finding about the real HSI, returned for the log.
 */
export async function runChaosScenarioOnProfile(name: string, profile: StackProfile): Promise<string[]> {
  const outcome = await experiment(await loadScenario(name, { fixturesDir: testConfig().fixturesDir }), { profile });
  expect(outcome.report.stack.profile).toBe(profile);
  expect(outcome.report.errors).toEqual([]);
  expect([0, 1]).toContain(outcome.exitCode);
  for (const f of outcome.report.faults) {
    expect(f.startSec, `${f.name} applied`).not.toBeNull();
    expect(f.endSec, `${f.name} removed`).not.toBeNull();
  }
  expect(await dockerResourcesOfRun(outcome.report.runId)).toEqual([]);
  return outcome.report.assertions.filter((a) => !a.passed).map((a) => `${a.family}: ${a.name}: ${a.message}`);
}
