import { anyReal } from '../config/real-ai-config.ts';
import type { StackConfig } from '../config/stack-config.ts';
import { GpuObserver } from '../gpu/gpu-observer.ts';
import type { LoadDriver } from '../load/run-with-driver.ts';
import type { RunReportModel } from '../report/report-model.ts';
import type { Scenario } from '../scenario/scenario-types.ts';
import { newRunId } from '../stack/hsi-stack.ts';
import { AiEngineObserver } from './ai-engine-observer.ts';
import type { ExperimentEvaluator } from './evaluator.ts';
import {
  applyEvaluation,
  applyLoadOutcome,
  attachTarget,
  checkSteadyState,
  decideVerdict,
  evaluatePhase,
  externalSettingsNotApplied,
  runLoadPhase,
  validateExperiment,
  type ExperimentTarget,
} from './phases.ts';
import { RunSession, type RunObserver } from './run-session.ts';

export { plannedLoadDurationMs, type ExperimentTarget } from './phases.ts';
export type { RunContext, RunObserver } from './run-session.ts';

/**
 * One experiment = a stack + load + fault timeline + expectations, in phases borrowed
 * from Chaos Toolkit: validate everything first; steady state before; load with faults
 * (every fault rolled back on every exit path); drain; trace assertions; steady state
 * after; reports. Results are written as the run goes, so a killed run keeps its data.
 * The phases are in phases.ts, the run's state in RunSession; a capacity search composes
 * the same phases differently (harness/capacity/).
 */
export interface ExperimentOptions {
  scenario: Scenario;
  config: StackConfig;
  target: ExperimentTarget;
  evaluator: ExperimentEvaluator;
  /** native (default) or k6 (when k6 is on PATH). */
  driver?: LoadDriver;
  runId?: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** Things that run beside the phases (samplers, extra report sections); see RunObserver. */
  observers?: readonly RunObserver[];
  /** GPU telemetry (harness/gpu), in every experiment unless false; pass one to read its peaks or set a knee. */
  gpu?: GpuObserver | false;
}

export interface ExperimentOutcome {
  report: RunReportModel;
  exitCode: number;
  resultsDir: string;
}

/** With a real AI engine, the report gets the engines' own figures. */
function aiEngineObservers(target: ExperimentTarget): RunObserver[] {
  return target.kind === 'embedded' && target.ai !== undefined && anyReal(target.ai) ? [new AiEngineObserver(target.ai)] : [];
}

export async function runExperiment(options: ExperimentOptions): Promise<ExperimentOutcome> {
  const { scenario, config, log } = options;
  const { plannedFaults } = validateExperiment(options);
  const session = new RunSession({
    scenario,
    target: options.target,
    resultsRoot: config.resultsDir,
    runId: options.runId ?? newRunId(scenario.name),
    plannedFaults,
    log,
    observers: [...(options.gpu === false ? [] : [options.gpu ?? new GpuObserver()]), ...aiEngineObservers(options.target), ...(options.observers ?? [])],
  });
  const { model, results, runId } = session;
  try {
    const target = await attachTarget(options.target, config, { runId, results, log });
    await session.adopt(target);
    if (target.kind === 'external') {
      const notApplied = externalSettingsNotApplied(scenario);
      if (notApplied.length > 0) log(`external stack: the scenario's stack settings cannot be applied to it and are NOT in effect: ${notApplied.join(', ')} (start the stack with them, or run without --external)`);
    }
    // Leftovers of an earlier run (a toxic, a disabled proxy, an emulator fault) would fail the steady state for the wrong reason.
    if (target.executor) {
      await target.executor.resetAll();
      log('faults reset before the steady-state check (no toxic, every proxy enabled, emulators clean)');
    }

    const before = await checkSteadyState(target.endpoints.backendUrl);
    log(`steady state before: ${before.ok ? 'ok' : 'NOT OK'} (${before.detail})`);
    if (!before.ok) model.errors.push(`steady state before the load: ${before.detail}`);

    const load = await runLoadPhase({
      scenario,
      target,
      results,
      plannedFaults,
      log,
      ...(options.driver ? { driver: options.driver } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onLoadStart: (epochMs) => session.loadStarted(epochMs),
    });
    await session.loadEnded(load.window.endEpochMs);
    applyLoadOutcome(model, load);
    session.save();
    const r = load.loadResult;
    log(`load done: ${r.requests.sent} sent, ${r.requests.accepted} accepted, ${r.requests.failed} failed${r.aborted ? ` (aborted: ${r.abortReason})` : ''}`);

    const evaluation = await evaluatePhase({ evaluator: options.evaluator, scenario, runId, results, endpoints: target.endpoints, load, log });
    if (scenario.expectations.length > 0) applyEvaluation(model, evaluation, load.windows);

    const after = await checkSteadyState(target.endpoints.backendUrl);
    log(`steady state after: ${after.ok ? 'ok' : 'NOT OK'} (${after.detail})`);
    if (!after.ok) model.errors.push(`steady state after the run: ${after.detail}`);
    decideVerdict(model, { before, after });
  } catch (error) {
    session.fail(error);
    throw error;
  } finally {
    await session.close();
  }
  return { report: model, exitCode: model.exitCode, resultsDir: results.dir };
}
