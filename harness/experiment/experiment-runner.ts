import { anyReal } from '../config/real-ai-config.ts';
import type { StackConfig } from '../config/stack-config.ts';
import { errorMessage } from '../errors.ts';
import { GpuObserver } from './gpu-observer.ts';
import { loadDoneLine } from '../load/load-result.ts';
import type { LoadDriver } from '../load/run-with-driver.ts';
import type { RunReportModel } from '../report/report-model.ts';
import type { Scenario } from '../scenario/scenario-types.ts';
import { newRunId } from '../stack/hsi-stack.ts';
import { registerTeardown } from '../stack/teardown.ts';
import type { EventStreamRecorder } from '../events/event-stream-recorder.ts';
import { AiEngineObserver } from './ai-engine-observer.ts';
import type { ExperimentEvaluator } from './evaluator.ts';
import { applyExternalSettings, settingsInEffect, type ExternalSettingsRollback } from './external-settings.ts';
import type { SettingsInEffect } from './evaluator.ts';
import {
  accessOf,
  applyEvaluation,
  applyLoadOutcome,
  attachTarget,
  checkSteadyState,
  decideVerdict,
  evaluatePhase,
  recordRateLimit,
  runLoadPhase,
  subscribeToEvents,
  validateExperiment,
  type AttachedTarget,
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

/** The external stack's settings as they were, put back on every exit path (the finally, or the teardown on Ctrl-C). */
class SettingsUndo {
  private readonly rollback: ExternalSettingsRollback;
  private readonly unregister: () => void;
  constructor(rollback: ExternalSettingsRollback, log: (line: string) => void) {
    this.rollback = rollback;
    this.unregister = registerTeardown('settings rollback', () => this.undo(log));
  }

  async undo(log: (line: string) => void): Promise<void> {
    this.unregister();
    try {
      const line = await this.rollback.restore();
      if (line) log(line);
    } catch (error) {
      log(errorMessage(error));
    }
  }
}

/** A scenario's stack settings on an external stack: what was applied, and one line per setting that was not, before the load. */
async function applySettingsToExternal(target: AttachedTarget, scenario: Scenario, log: (line: string) => void): Promise<SettingsUndo | undefined> {
  const result = await applyExternalSettings(target.endpoints.backendUrl, scenario);
  const applied = Object.entries(result.applied);
  if (applied.length > 0) log(`external stack: settings applied for this run: ${applied.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  for (const line of result.notApplied) log(`external stack: NOT applied (not in effect for this run): ${line}`);
  return result.rollback.needed ? new SettingsUndo(result.rollback, log) : undefined;
}

/** The settings the checks are judged against; a stack not built here is asked for them, and what it cannot tell is named. */
async function readSettingsInEffect(target: AttachedTarget, scenario: Scenario, log: (line: string) => void): Promise<SettingsInEffect> {
  const inEffect = await settingsInEffect(target.kind, target.endpoints.backendUrl, scenario);
  if (target.kind === 'embedded') return inEffect;
  const values = Object.entries(inEffect.values).map(([k, v]) => `${k}=${v}`);
  if (values.length > 0) log(`${target.kind} stack: settings in effect${inEffect.origin !== undefined ? ` (${inEffect.origin})` : ''}: ${values.join(', ')}`);
  if (inEffect.othersUnknown !== undefined) log(`${target.kind} stack: any other setting is unknown (${inEffect.othersUnknown}): a check that needs one is not judged`);
  return inEffect;
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
  let settings: SettingsUndo | undefined;
  let events: EventStreamRecorder | undefined;
  let attached: AttachedTarget | undefined;
  try {
    const target = await attachTarget(options.target, config, { runId, results, log });
    attached = target;
    if (target.dialect) model.stack.dialect = { name: target.dialect.dialect.name, detected: target.dialect.detected, reason: target.dialect.reason };
    await session.adopt(target);
    if (target.kind === 'external') settings = await applySettingsToExternal(target, scenario, log);
    const inEffect = await readSettingsInEffect(target, scenario, log);
    // Leftovers of an earlier run (a toxic, a disabled proxy, an emulator fault) would fail the steady state for the wrong reason.
    if (target.executor) {
      await target.executor.resetAll();
      log('faults reset before the steady-state check (no toxic, every proxy enabled, emulators clean)');
    }

    const before = await checkSteadyState(target.endpoints.backendUrl, target.http);
    log(`steady state before: ${before.ok ? 'ok' : 'NOT OK'} (${before.detail})`);
    if (!before.ok) model.errors.push(`steady state before the load: ${before.detail}`);
    events = await subscribeToEvents(target, results, log);

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
    log(loadDoneLine(r));

    const evaluation = await evaluatePhase({ evaluator: options.evaluator, scenario, runId, results, endpoints: target.endpoints, load, broadcasts: events, log, settings: inEffect, ...accessOf(target) });
    events.close();
    if (scenario.expectations.length > 0) applyEvaluation(model, evaluation, load.windows);

    const after = await checkSteadyState(target.endpoints.backendUrl, target.http);
    log(`steady state after: ${after.ok ? 'ok' : 'NOT OK'} (${after.detail})`);
    if (!after.ok) model.errors.push(`steady state after the run: ${after.detail}`);
    decideVerdict(model, { before, after });
  } catch (error) {
    session.fail(error);
    throw error;
  } finally {
    events?.close();
    await settings?.undo(log);
    if (attached?.http) recordRateLimit(model, attached.http, log);
    await session.close();
  }
  return { report: model, exitCode: model.exitCode, resultsDir: results.dir };
}
