import type { PlannedFault } from '../chaos/fault-schema.ts';
import { EMULATED } from '../config/real-ai-config.ts';
import { ExitCode, errorMessage, exitCodeOf } from '../errors.ts';
import type { FaultWindowRecord } from '../chaos/toxic-timeline.ts';
import { faultViews } from './report-builder.ts';
import { REPORT_SCHEMA_VERSION, type FaultWindowView, type RunReportModel } from '../report/report-model.ts';
import { RunResults } from '../util/run-results.ts';
import { writeReports } from '../report/write-reports.ts';
import type { Scenario } from '../scenario/scenario-types.ts';
import { registerTeardown } from '../stack/teardown.ts';
import type { AttachedTarget, ExperimentTarget } from './phases.ts';

/**
 * What an observer sees of a run. Observers are the extension point for things that run
 * beside the phases (a GPU sampler, a fidelity section, …) without editing the runner:
 * each hook is optional, awaited, and a failing hook is logged, never fatal.
 */
export interface RunContext {
  runId: string;
  results: RunResults;
  model: RunReportModel;
  target: AttachedTarget;
  log: (line: string) => void;
}

export interface RunObserver {
  readonly name: string;
  /** The stack is up (or attached): start sampling. */
  onTargetReady?(ctx: RunContext): Promise<void> | void;
  /** The load driver's clock started (epoch ms); called once per load (a capacity search has many). */
  onLoadStart?(ctx: RunContext, startEpochMs: number): Promise<void> | void;
  /** The load ended (epoch ms). */
  onLoadEnd?(ctx: RunContext, endEpochMs: number): Promise<void> | void;
  /**
   * Always called once, on every exit path (pass, failure, error, Ctrl-C), before the reports
   * are written and the stack stops: stop sampling, add sections to `ctx.model`.
   * `ctx.target` is undefined when the stack never came up.
   */
  onFinish?(ctx: Omit<RunContext, 'target'> & { target?: AttachedTarget }): Promise<void> | void;
}

export interface RunSessionOptions {
  scenario: Scenario;
  target: ExperimentTarget;
  resultsRoot: string;
  runId: string;
  plannedFaults: readonly PlannedFault[];
  log: (line: string) => void;
  observers?: readonly RunObserver[];
}

/** The report's initial fault rows: planned, not yet applied. */
function plannedFaultViews(planned: readonly PlannedFault[]): FaultWindowView[] {
  return planned.map((f) => ({
    name: f.name,
    target: f.target,
    faultType: f.fault.type,
    plannedStartSec: f.atMs / 1000,
    plannedEndSec: (f.atMs + f.durationMs) / 1000,
    startSec: null,
    endSec: null,
    applyLagMs: null,
    removeLagMs: null,
  }));
}

/**
 * The state of one run from its first result file to its teardown: the results folder,
 * the report model (saved as summary.json as the run goes), the Ctrl-C handler that marks
 * it "interrupted", the observers and the attached stack. `close()` is the one teardown:
 * observers finish, the reports are written, the stack stops; call it in a `finally`.
 */
export class RunSession {
  readonly runId: string;
  readonly results: RunResults;
  readonly model: RunReportModel;
  readonly log: (line: string) => void;
  private readonly observers: readonly RunObserver[];
  private target: AttachedTarget | undefined;
  private interruptedFlag = false;
  private unregisterSummary: () => void;

  constructor(options: RunSessionOptions) {
    this.runId = options.runId;
    this.log = options.log;
    this.observers = options.observers ?? [];
    this.results = new RunResults(options.resultsRoot, options.runId);
    const kind = options.target.kind;
    this.model = {
      schemaVersion: REPORT_SCHEMA_VERSION,
      runId: options.runId,
      scenario: { name: options.scenario.name, description: options.scenario.description },
      startedAt: new Date().toISOString(),
      verdict: 'interrupted',
      exitCode: 1,
      stack: {
        kind,
        defects: options.target.kind === 'external' ? [] : [...(options.target.defects ?? [])],
        ...(options.target.kind === 'compose' ? { composeFile: options.target.file } : {}),
        ...(options.target.kind === 'embedded' ? { ai: { ...(options.target.ai ?? EMULATED) } } : {}),
        ...(options.target.profile !== undefined ? { profile: options.target.profile } : {}),
      },
      timeSeries: [],
      thresholds: [],
      faults: plannedFaultViews(options.plannedFaults),
      assertions: [],
      operations: [],
      exampleTraces: [],
      serviceMap: [],
      errors: [],
    };
    this.save();
    this.log(`run ${this.runId}: results in ${this.results.dir}`);
    // A Ctrl-C keeps what was collected: the summary says "interrupted" with the process's own
    // exit code (130 SIGINT, 143 SIGTERM), and the faults as applied (registered first, runs
    // last: after the fault rollback has written faults.json).
    this.unregisterSummary = registerTeardown('results', async (reason) => {
      this.interruptedFlag = true;
      this.model.finishedAt = new Date().toISOString();
      this.model.verdict = 'interrupted';
      this.model.exitCode = reason.exitCode ?? ExitCode.interrupted;
      this.keepAppliedFaults();
      this.save();
    });
  }

  /** faults.json (written at every apply and removal) into the report's fault rows, when the load did not get to it. */
  private keepAppliedFaults(): void {
    const records = this.results.readJsonIfExists<FaultWindowRecord[]>('faults.json');
    if (!records || records.length === 0) return;
    const applied = faultViews(records, []);
    this.model.faults = this.model.faults.map((row, i) => {
      const seen = applied[i];
      if (!seen || row.startSec !== null || seen.name !== row.name) return row;
      return { ...row, startSec: seen.startSec, endSec: seen.endSec, applyLagMs: seen.applyLagMs, removeLagMs: seen.removeLagMs, ...(seen.error ? { error: seen.error } : {}) };
    });
  }

  /** Rewrites summary.json (atomic). */
  save(): void {
    this.results.writeJson('summary.json', this.model);
  }

  get interrupted(): boolean {
    return this.interruptedFlag;
  }

  /** Takes ownership of the attached stack (close() stops it), records its URLs, tells the observers. */
  async adopt(target: AttachedTarget): Promise<void> {
    this.target = target;
    if (target.stack) this.model.stack.startSeconds = target.stack.timings.totalSeconds;
    this.model.stack.backendUrl = target.endpoints.backendUrl;
    this.model.stack.jaegerUrl = target.endpoints.jaegerUrl;
    this.save();
    await this.notify('onTargetReady', (o, ctx) => o.onTargetReady?.(ctx));
  }

  /** For runLoadPhase's onLoadStart: observers learn when each load starts. */
  loadStarted(startEpochMs: number): void {
    void this.notify('onLoadStart', (o, ctx) => o.onLoadStart?.(ctx, startEpochMs));
  }

  async loadEnded(endEpochMs: number): Promise<void> {
    await this.notify('onLoadEnd', (o, ctx) => o.onLoadEnd?.(ctx, endEpochMs));
  }

  /** An error ended the run: verdict "error" with the exit code the process ends with (exitCodeOf), unless Ctrl-C already owns the verdict. */
  fail(error: unknown): void {
    if (this.interruptedFlag) return;
    this.model.verdict = 'error';
    this.model.exitCode = exitCodeOf(error);
    this.model.errors.push(errorMessage(error));
  }

  /** The teardown: observers finish, reports are written (summary.json at least), the stack stops. */
  async close(): Promise<void> {
    this.model.finishedAt = new Date().toISOString();
    this.unregisterSummary();
    for (const observer of this.observers) {
      try {
        await observer.onFinish?.({ runId: this.runId, results: this.results, model: this.model, log: this.log, ...(this.target ? { target: this.target } : {}) });
      } catch (error) {
        this.log(`${observer.name}: finishing failed: ${errorMessage(error)}`);
      }
    }
    try {
      writeReports(this.results, this.model);
    } catch (error) {
      this.log(`writing the reports failed: ${errorMessage(error)}`);
      this.save();
    }
    const stack = this.target?.stack;
    if (stack) {
      this.log('stopping the stack…');
      await stack.stop();
    }
  }

  private async notify(hook: string, call: (o: RunObserver, ctx: RunContext) => Promise<void> | void | undefined): Promise<void> {
    const target = this.target;
    if (!target) return;
    const ctx: RunContext = { runId: this.runId, results: this.results, model: this.model, target, log: this.log };
    for (const observer of this.observers) {
      try {
        await call(observer, ctx);
      } catch (error) {
        this.log(`${observer.name}: ${hook} failed: ${errorMessage(error)}`);
      }
    }
  }
}
