/** Experiment runs shared by the integration tests and the nightly suite (experiments/). */
import { expect } from 'vitest';
import { hsiExperimentEvaluator } from '../../assertions/hsi/experiment-evaluator.ts';
import { runExperiment, type ExperimentOutcome } from '../../harness/experiment/experiment-runner.ts';
import type { RunReportModel } from '../../harness/report/report-model.ts';
import { loadScenario } from '../../harness/scenario/load-scenario.ts';
import type { Scenario } from '../../harness/scenario/scenario-types.ts';
import type { DefectName } from '../../harness/stack/defects.ts';
import type { StackProfile } from '../../harness/contract/profiles.ts';
import { HsiStack, newRunId, type StartedHsiStack } from '../../harness/stack/hsi-stack.ts';
import { dockerResourcesOfRun, switchBackendDefects, testConfig } from './stack-helpers.ts';

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
 * One embedded stack started with a scenario's stack settings, on which several experiments run
 * one after another as on an external stack: a test that compares runs, or a healthy run and a
 * defect run, pays for one stack start instead of one per run. No fault executor is attached,
 * so what the test sets on the stack (an emulator fault knob, a defect switch) is not reset by
 * the run; each run evaluates its own uploads (trace ids and file paths).
 */
export class SharedExperimentStack {
  readonly stack: StartedHsiStack;
  private constructor(stack: StartedHsiStack) {
    this.stack = stack;
  }

  static async start(scenario: Scenario, label: string): Promise<SharedExperimentStack> {
    const stack = await new HsiStack(testConfig())
      .withRunId(newRunId(`test-${label}`))
      .withBackendEnvironment(scenario.stack?.backend ?? {})
      .withDetectorEnvironment(scenario.stack?.detector ?? {})
      .withLlmEnvironment(scenario.stack?.llm ?? {})
      .start();
    return new SharedExperimentStack(stack);
  }

  experiment(scenario: Scenario): Promise<ExperimentOutcome> {
    const s = this.stack;
    return runExperiment({
      scenario,
      config: testConfig(),
      target: {
        kind: 'external',
        endpoints: { backendUrl: s.getBackendUrl(), jaegerUrl: s.getJaegerQueryUrl(), postgresUrl: s.getPostgresConnectionUri(), redisUrl: s.getRedisUrl() },
        // Started by the harness: its services export spans every otelBatchDelayMs.
        spanExportDelayMs: testConfig().otelBatchDelayMs,
      },
      evaluator: hsiExperimentEvaluator(),
      log: () => {},
    });
  }

  /** Sets the detector emulator's per-request fault knobs (PUT /admin/faults), or clears them (undefined). */
  async setDetectorFaults(knobs: Record<string, unknown> | undefined): Promise<void> {
    const url = new URL('/admin/faults', this.stack.getDetectorUrl());
    const res = await fetch(url, knobs === undefined ? { method: 'DELETE' } : { method: 'PUT', body: JSON.stringify(knobs), headers: { 'content-type': 'application/json' } });
    expect(res.status, `${knobs === undefined ? 'DELETE' : 'PUT'} ${url.href}: ${await res.text()}`).toBe(200);
  }

  /** Runs `body`, then stops the stack whatever happened. */
  async use<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } finally {
      await this.stop();
    }
  }

  /** Stops the stack and checks that nothing of it is left. */
  async stop(): Promise<void> {
    await this.stack.stop();
    expect(await dockerResourcesOfRun(this.stack.runId)).toEqual([]);
  }
}

/**
 * The defect run of the sampling check needs no long load: at the sampling scenarios' 40
 * uploads/s, 3 s send ~108 requests with sampled=0, each of which leaves spans when the sampler
 * ignores the parent (and none when it does not).
 */
const DEFECT_RUN_MS = 3_000;

/** The scenario with each constant-arrival-rate workload cut to at most `ms` of load. */
export function withLoadCut(scenario: Scenario, ms: number): Scenario {
  const scenarios = Object.fromEntries(Object.entries(scenario.scenarios).map(([name, w]) => [name, w.executor === 'constant-arrival-rate' ? { ...w, durationMs: Math.min(w.durationMs, ms) } : w]));
  return { ...scenario, scenarios };
}

/**
 * A sampling scenario (a built-in name or a scenario file) healthy and with
 * `sampler-ignores-parent`, both on one stack (the backend's switch is live; turned off again
 * after): the healthy run passes rate, parent-based and no-partial checks over at least
 * `minRequests`; the defect, over the first 3 s of the same load, fails the sampling family
 * naming sampled=0. On `on` when given (a
 * stack the caller shares with other tests), else on a stack of its own.
 */
export async function expectSamplingChecksHold(scenarioRef: string, minRequests: number, on?: SharedExperimentStack): Promise<void> {
  const scenario = await loadScenario(scenarioRef, { fixturesDir: testConfig().fixturesDir });
  const both = async (shared: SharedExperimentStack) => {
    const ok = await shared.experiment(scenario);
    await switchBackendDefects(shared.stack.getBackendUrl(), ['sampler-ignores-parent']);
    try {
      return [ok, await shared.experiment(withLoadCut(scenario, DEFECT_RUN_MS))] as const;
    } finally {
      await switchBackendDefects(shared.stack.getBackendUrl(), []);
    }
  };
  let healthy: ExperimentOutcome;
  let broken: ExperimentOutcome;
  if (on) [healthy, broken] = await both(on);
  else {
    const own = await SharedExperimentStack.start(scenario, 'sampling');
    [healthy, broken] = await own.use(() => both(own));
  }
  expect(healthy.report.load?.httpReqs).toBeGreaterThanOrEqual(minRequests);
  expect(healthy.report.assertions.filter((a) => !a.passed).map((a) => a.message)).toEqual([]);
  expect(healthy.report.assertions.find((a) => a.name.includes('rate'))?.measured).toMatch(/0\.0|0\.1/);

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
  expectChaosSummaryHolds(outcome.report);
  expect(await dockerResourcesOfRun(outcome.report.runId)).toEqual([]);
}

/** A chaos run's report: every expectation passed, no error, each fault applied and removed within 50 ms of plan. */
export function expectChaosSummaryHolds(report: RunReportModel): void {
  const failures = report.assertions.filter((a) => !a.passed).map((a) => a.message);
  expect(failures).toEqual([]);
  expect(report.errors).toEqual([]);
  expect(report.faults.length).toBeGreaterThan(0);
  for (const f of report.faults) {
    expect(f.startSec, `${f.name} applied`).not.toBeNull();
    expect(f.endSec, `${f.name} removed`).not.toBeNull();
    expect(Math.abs(f.applyLagMs!)).toBeLessThan(50);
    expect(Math.abs(f.removeLagMs!)).toBeLessThan(50);
  }
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
