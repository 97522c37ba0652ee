import type { StackConfig } from '../config/stack-config.ts';
import { ConfigError, ExitCode, errorMessage, exitCodeOf } from '../errors.ts';
import { attachTarget, checkSteadyState, recordRateLimit, type AttachedTarget, type ExperimentTarget } from '../experiment/phases.ts';
import { RunSession, type RunObserver } from '../experiment/run-session.ts';
import type { Scenario } from '../scenario/scenario-types.ts';
import { newRunId } from '../stack/hsi-stack.ts';
import { JaegerQueryClient } from '../traces/jaeger-client.ts';
import { CAPACITY_SCHEMA_VERSION, type CapacityResult, type CapacitySettings, type CapacityStep, type GpuPeaks, type PreRunPrediction } from './capacity-types.ts';
import { preRunPrediction } from './prediction.ts';
import { readDetectorHealth, readLlmHealth, type AiServiceInfo } from './probes.ts';
import { KneeSearch, validateBounds } from './search.ts';
import { SLO } from './slos.ts';
import { predictFromStages, type StageSlots } from './stage-model.ts';
import type { CapacityGpuFactory } from './gpu-hook.ts';
import { stepLoadLabel, StepRunner } from './step-runner.ts';

/**
 * `hsi-chaos capacity`: the highest load the stack sustains while every SLO holds, found by
 * coarse steps up and bisection on ONE stack, explained from the traces (per-stage X, S, W,
 * c, U, the bottleneck) and compared with the model's prediction. Composes the experiment
 * phases (validate → attach → steady state → loads → reports → teardown) via RunSession.
 */
export interface CapacityOptions {
  scenario: Scenario;
  config: StackConfig;
  target: ExperimentTarget;
  /** Bounds may be partial: missing ones come from the prediction once the stack is up. */
  settings: Omit<CapacitySettings, 'bounds'> & { bounds: Partial<CapacitySettings['bounds']> & Pick<CapacitySettings['bounds'], 'factor' | 'resolution'> };
  runId?: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  observers?: readonly RunObserver[];
  /** The GPU telemetry hook: a source for the VRAM-headroom SLO and the GPU peaks (default: none). */
  gpu?: CapacityGpuFactory;
  /** Called with the knee step's start (seconds since the first load) to mark it on the GPU charts. */
  onKnee?: (tSec: number, label: string) => void;
}

export interface CapacityOutcome {
  result: CapacityResult;
  exitCode: number;
  resultsDir: string;
}

/** Everything checkable before a container starts; throws ConfigError naming the option. */
export function validateCapacity(options: Pick<CapacityOptions, 'scenario' | 'target' | 'settings'>): void {
  const { scenario, settings } = options;
  if (scenario.transport.type !== 'http') throw new ConfigError(`${scenario.source}: capacity needs the http transport (uploads at a set rate); the drop folder cannot be paced`);
  const { min, max } = settings.bounds;
  if (min !== undefined && max !== undefined) validateBounds({ min, max, factor: settings.bounds.factor, resolution: settings.bounds.resolution });
  else validateBounds({ min: min ?? 1, max: max ?? min ?? 1, factor: settings.bounds.factor, resolution: settings.bounds.resolution });
  if (!(settings.budgets.detectP95Ms > 0)) throw new ConfigError(`--detect-budget must be above 0 ms (got ${settings.budgets.detectP95Ms})`);
  if (!(settings.budgets.analyzeP95Ms > 0)) throw new ConfigError(`--analyze-budget must be above 0 ms (got ${settings.budgets.analyzeP95Ms})`);
  if (settings.whatIfs.length > 0 && options.target.kind === 'external') throw new ConfigError('--set needs the embedded stack (an external stack has its own configuration); drop --set or --external');
  if (settings.stability.minWindows < settings.stability.stableWindows || settings.stability.maxWindows < settings.stability.minWindows) {
    throw new ConfigError(`--max-windows (${settings.stability.maxWindows}) must be at least the ${settings.stability.stableWindows} windows the stability rule compares`);
  }
}

/** A budget below what one request costs at zero load can never hold: exit 2 before any load. */
function checkBudgetsFeasible(settings: CapacityOptions['settings'], detector: AiServiceInfo): void {
  if (detector.serviceMs !== undefined && settings.budgets.detectP95Ms <= detector.serviceMs) {
    throw new ConfigError(`--detect-budget ${settings.budgets.detectP95Ms} ms can never hold: the detector alone takes ${detector.serviceMs} ms per image on average; raise the budget`);
  }
}

function cameras(uploadsPerSec: number | null, fps: number): number | null {
  return uploadsPerSec === null ? null : Math.floor(uploadsPerSec / fps + 1e-9);
}

function emptyResult(runId: string, scenario: Scenario, settings: CapacitySettings): CapacityResult {
  return {
    schemaVersion: CAPACITY_SCHEMA_VERSION,
    runId,
    scenario: { name: scenario.name, description: scenario.description },
    startedAt: new Date().toISOString(),
    settings,
    prediction: { before: null, fromTraces: null, fromTracesCameras: null },
    steps: [],
    knee: { kind: 'none', uploadsPerSec: null, cameras: null, failedAtUploadsPerSec: null, limitedBy: [], bottleneck: null },
    stages: [],
    little: null,
    analytic: {},
    gpu: null,
    perGpu: { cameras: null, fps: settings.fps, gpus: settings.gpus, statement: 'not measured' },
    wallSeconds: 0,
    verdict: 'interrupted',
    exitCode: 1,
    errors: [],
  };
}

export function formatPrediction(p: PreRunPrediction, fps: number): string {
  const stages = p.perStage.map((s) => `${s.stage} ${s.uploadsPerSec.toFixed(2)}/s (${s.basis})`).join('; ');
  return `model predicts ${p.uploadsPerSec.toFixed(2)} uploads/s = ${p.cameras} cameras at ${fps} fps, bottleneck ${p.bottleneck} [${stages}]`;
}

export async function runCapacity(options: CapacityOptions): Promise<CapacityOutcome> {
  validateCapacity(options);
  const { scenario, config, log } = options;
  const runId = options.runId ?? newRunId(`capacity-${scenario.name}`);
  const session = new RunSession({ scenario, target: options.target, resultsRoot: config.resultsDir, runId, plannedFaults: [], log, ...(options.observers ? { observers: options.observers } : {}) });
  const started = Date.now();
  const provisional: CapacitySettings = { ...options.settings, bounds: { min: options.settings.bounds.min ?? 1, max: options.settings.bounds.max ?? 1, factor: options.settings.bounds.factor, resolution: options.settings.bounds.resolution } };
  const result = emptyResult(runId, scenario, provisional);
  const save = () => session.results.writeJson('capacity.json', result);
  save();
  let attached: AttachedTarget | undefined;
  try {
    const target = await attachTarget(options.target, config, { runId, results: session.results, log });
    attached = target;
    if (target.dialect) session.model.stack.dialect = { name: target.dialect.dialect.name, detected: target.dialect.detected, reason: target.dialect.reason };
    await session.adopt(target);
    const steady = await checkSteadyState(target.endpoints.backendUrl, target.http);
    log(`steady state before: ${steady.ok ? 'ok' : 'NOT OK'} (${steady.detail})`);
    if (!steady.ok) throw new Error(`the stack is not healthy before the search: ${steady.detail}`);
    const search = new CapacitySearch(options, session, target, result, save);
    await search.run();
    result.verdict = result.exitCode === ExitCode.pass ? 'passed' : 'failed';
  } catch (error) {
    session.fail(error);
    if (!session.interrupted) {
      result.verdict = 'error';
      result.exitCode = exitCodeOf(error);
      result.errors.push(errorMessage(error));
    }
    throw error;
  } finally {
    result.finishedAt = new Date().toISOString();
    result.wallSeconds = (Date.now() - started) / 1000;
    if (session.interrupted) result.verdict = 'interrupted';
    save();
    // The report holds its own copy: the search goes on changing `result` until it ends.
    session.model.capacity = structuredClone(result);
    for (const e of result.errors) if (!session.model.errors.includes(e)) session.model.errors.push(e);
    if (result.verdict !== 'error' && result.verdict !== 'interrupted') {
      session.model.verdict = result.verdict;
      session.model.exitCode = result.exitCode;
    }
    if (attached?.http) recordRateLimit(session.model, attached.http, log);
    await session.close();
  }
  return { result, exitCode: result.exitCode, resultsDir: session.results.dir };
}

/** The search proper, on an attached, healthy stack. */
class CapacitySearch {
  private readonly options: CapacityOptions;
  private readonly session: RunSession;
  private readonly target: AttachedTarget;
  private readonly result: CapacityResult;
  private readonly save: () => void;
  private firstLoadStartMs: number | undefined;

  constructor(options: CapacityOptions, session: RunSession, target: AttachedTarget, result: CapacityResult, save: () => void) {
    this.options = options;
    this.session = session;
    this.target = target;
    this.result = result;
    this.save = save;
  }

  /** The embedded stack's real llama.cpp server: on a CPU host (the detector on CPU) it computes on the same cores. */
  private llmOnSameCpus(): boolean {
    const t = this.options.target;
    return t.kind === 'embedded' && t.ai?.llm === 'real';
  }

  async run(): Promise<void> {
    const { log, settings } = this.options;
    const fps = settings.fps;
    // the AI services' /health: the emulators' admin URLs, or the embedded stack's real engines
    const stack = this.target.stack;
    const detectorUrl = this.target.emulatorUrls['detector'] ?? stack?.getDetectorUrl();
    const llmUrl = this.target.emulatorUrls['llm'] ?? stack?.getLlmUrl();
    const [detector, llm] = await Promise.all([
      detectorUrl ? readDetectorHealth(detectorUrl) : Promise.resolve<AiServiceInfo>({ url: '', error: 'no detector URL' }),
      llmUrl ? readLlmHealth(llmUrl) : Promise.resolve<AiServiceInfo>({ url: '', error: 'no LLM URL' }),
    ]);
    checkBudgetsFeasible(settings, detector);
    this.result.analytic = { ...(detector.analyticCapacityRps !== undefined ? { detectorRps: detector.analyticCapacityRps } : {}), ...(llm.analyticCapacityRps !== undefined ? { llmRps: llm.analyticCapacityRps } : {}) };
    const backendEnv = this.options.target.kind === 'embedded' ? (this.options.target.backendEnv ?? {}) : {};
    const before = preRunPrediction({ detector, llm, backendEnv, fps });
    this.result.prediction.before = before;
    log(before ? formatPrediction(before, fps) : 'model: no prediction (the AI services print no slots or service times)');
    const bounds = {
      min: settings.bounds.min ?? (before ? before.uploadsPerSec * 0.6 : 1),
      max: settings.bounds.max ?? (before ? before.uploadsPerSec * 2 : 50),
      factor: settings.bounds.factor,
      resolution: settings.bounds.resolution,
    };
    validateBounds(bounds);
    this.result.settings.bounds = bounds;
    const slots: StageSlots = {
      ...(detector.slots !== undefined ? { detector: detector.slots } : {}),
      ...(detector.cpu ? { detectorCpu: detector.cpu } : {}),
      ...(detector.cpu && this.llmOnSameCpus() ? { llmCpu: { threadsPerCall: this.options.config.realAi.llmThreads } } : {}),
      ...(llm.slots !== undefined ? { llm: llm.slots } : {}),
      database: Number(backendEnv['DB_POOL_SIZE'] ?? 10),
    };
    const gpu = await this.options.gpu?.(this.target, this.session.results, log);
    const runner = new StepRunner({
      base: this.options.scenario,
      target: this.target,
      runDir: this.session.results.dir,
      jaeger: new JaegerQueryClient({ baseUrl: this.target.endpoints.jaegerUrl }),
      settings: this.result.settings,
      slots,
      log,
      ...(gpu ? { gpu } : {}),
      ...(this.options.signal ? { signal: this.options.signal } : {}),
      onLoadStart: (epochMs) => {
        this.firstLoadStartMs ??= epochMs;
        this.session.loadStarted(epochMs);
      },
    });
    try {
      await this.searchLoop(runner, bounds);
    } finally {
      await gpu?.stop();
    }
    this.conclude(gpu?.peaks() ?? null);
  }

  private async searchLoop(runner: StepRunner, bounds: CapacitySettings['bounds']): Promise<void> {
    const { log, settings } = this.options;
    const search = new KneeSearch(bounds);
    const deadline = Date.now() + settings.timeLimitMs;
    for (let load = search.next(), index = 1; load !== undefined; load = search.next(), index++) {
      if (Date.now() >= deadline) {
        this.result.errors.push(`time limit of ${settings.timeLimitMs / 1000} s reached before the search converged`);
        log(`time limit reached: the knee is the best bracket so far`);
        this.result.knee.kind = 'time-limit';
        break;
      }
      if (this.options.signal?.aborted) break;
      log(`step ${index} (${search.currentPhase}): ${stepLoadLabel(load, settings.fps)}`);
      const step = await runner.run(index, search.currentPhase, load);
      this.result.steps.push(step);
      this.save();
      log(progressLine(step));
      search.record(load, step.sustained);
      if (index === 1 && !step.sustained) this.refuseImpossibleBudget(step);
    }
    const outcome = search.outcome();
    if (this.result.knee.kind !== 'time-limit') this.result.knee.kind = outcome.kind;
    this.result.knee.uploadsPerSec = outcome.kind === 'below-min' ? null : outcome.sustained;
    this.result.knee.failedAtUploadsPerSec = outcome.kind === 'above-max' ? null : outcome.failed;
  }

  /** The lowest load failed on a latency budget alone: that budget can never hold (exit 2). */
  private refuseImpossibleBudget(step: CapacityStep): void {
    const failed = step.slos.filter((s) => s.ok === false).map((s) => s.name);
    const budgets: string[] = [SLO.detect, SLO.analyze];
    if (failed.length > 0 && failed.every((name) => budgets.includes(name) || name === SLO.stable)) {
      const slo = step.slos.find((s) => s.ok === false && budgets.includes(s.name))!;
      throw new ConfigError(`${slo.name}: ${slo.limit} never holds, even at the lowest load ${step.uploadsPerSec.toFixed(2)} uploads/s (p95 ${slo.value?.toFixed(0)} ms); raise the budget or lower --min`);
    }
  }

  private conclude(gpu: GpuPeaks | null): void {
    const { settings } = this.options;
    const r = this.result;
    const kneeStep = r.steps.filter((s) => s.sustained).sort((a, b) => b.uploadsPerSec - a.uploadsPerSec)[0];
    const failStep = r.steps.filter((s) => !s.sustained).sort((a, b) => a.uploadsPerSec - b.uploadsPerSec)[0];
    r.knee.cameras = cameras(r.knee.uploadsPerSec, settings.fps);
    r.knee.limitedBy = failStep ? failStep.slos.filter((s) => s.ok === false).map((s) => s.name) : [];
    r.stages = kneeStep?.stages ?? [];
    r.little = kneeStep?.little ?? null;
    // the model reads a steady state: the knee step's table (an overloaded step under-counts V)
    const fromTraces = predictFromStages(r.stages.length > 0 ? r.stages : (failStep?.stages ?? []));
    r.prediction.fromTraces = fromTraces;
    r.prediction.fromTracesCameras = cameras(fromTraces?.uploadsPerSec ?? null, settings.fps);
    r.knee.bottleneck = fromTraces?.bottleneck ?? null;
    r.gpu = gpu;
    const kneeStart = kneeStep?.windows[0]?.startMs;
    if (kneeStep && kneeStart !== undefined && this.firstLoadStartMs !== undefined) {
      this.options.onKnee?.((kneeStart - this.firstLoadStartMs) / 1000, `knee ${kneeStep.uploadsPerSec.toFixed(2)} uploads/s`);
    }
    const gpus = gpu?.gpus ?? settings.gpus;
    const perGpu = r.knee.cameras === null ? null : Math.floor(r.knee.cameras / gpus);
    r.perGpu = { cameras: perGpu, fps: settings.fps, gpus, statement: perGpu === null ? 'no load held' : `${perGpu} cameras at ${settings.fps} fps per GPU (${gpus} GPU${gpus === 1 ? '' : 's'}${gpu === null ? ', emulated: no GPU telemetry' : ''})` };
    const required = settings.require;
    r.exitCode = required !== undefined && (r.knee.cameras ?? 0) < required ? ExitCode.expectationFailed : ExitCode.pass;
    if (required !== undefined && r.exitCode !== ExitCode.pass) r.errors.push(`--require ${required}: only ${r.knee.cameras ?? 0} cameras sustained`);
  }
}

export function progressLine(step: CapacityStep): string {
  const last = step.windows[step.windows.length - 1];
  const ms = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : `${v.toFixed(0)} ms`);
  const failed = step.slos.filter((s) => s.ok === false).map((s) => s.name);
  const verdict = step.sustained ? 'SUSTAINED' : `NOT SUSTAINED (${failed.join(', ')})`;
  return `  → ${step.uploadsPerSec.toFixed(2)}/s: detect p95 ${ms(last?.detectP95Ms)}, analyze p95 ${ms(last?.analyzeP95Ms)}, upload p95 ${ms(last?.uploadP95Ms)}, queue ${queueText(step)}, ${step.windows.length} window(s)${step.stable ? ' stable' : ''}, drained in ${step.drainSeconds.toFixed(1)} s: ${verdict}`;
}

/** The queue's drift over the step: slope ± its error against the limit (a critically loaded queue's growth). */
function queueText(step: CapacityStep): string {
  const sign = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;
  const b = step.backlog;
  if (!b) return `${sign(step.backlogSlopePerSec)}/s`;
  return `${sign(b.slopePerSec)} ± ${b.se === null ? '∞' : b.se.toFixed(3)}/s (limit ${sign(b.limitPerSec)}${b.decided ? '' : ', undecided'})`;
}
