import { dialectOfProfile, type StackProfile } from '../contract/profiles.ts';
import type { DialectChoice, HsiDialect } from '../contract/dialects.ts';
import { HSI_ROUTES } from '../contract/hsi-api.ts';
import { HsiHttpClient, rateLimitLine } from '../dialect/hsi-http.ts';
import type { ResolvedDialect } from '../dialect/redis-dialect.ts';
import { resolveStackDialect } from '../dialect/target-dialect.ts';
import { StackFaultExecutor } from '../chaos/fault-executor.ts';
import { planFaultTimeline, type PlannedFault } from '../chaos/fault-schema.ts';
import { ToxicTimeline, type FaultWindowRecord } from '../chaos/toxic-timeline.ts';
import { anyReal, EMULATED, type AiModes } from '../config/real-ai-config.ts';
import type { StackConfig } from '../config/stack-config.ts';
import { ConfigError, ExitCode, errorMessage } from '../errors.ts';
import { EventStreamRecorder, type BroadcastSource } from '../events/event-stream-recorder.ts';
import type { LoadRequestRecord, LoadResult } from '../load/load-result.ts';
import { runLoadWithDriver, type LoadDriver } from '../load/run-with-driver.ts';
import { activeDurationMs } from '../load/schedule.ts';
import type { FaultWindowView, RunReportModel } from '../report/report-model.ts';
import type { RunResults } from '../util/run-results.ts';
import type { Scenario } from '../scenario/scenario-types.ts';
import { ComposeStack, profileEnvironment, type StartedComposeStack } from '../stack/compose/compose-stack.ts';
import { defectEnvironment, type DefectName } from '../stack/defects.ts';
import { ensureDockerEngine } from '../stack/docker-engine.ts';
import { HsiStack, PROXIES, type StartedHsiStack } from '../stack/hsi-stack.ts';
import { prepareImages } from '../stack/images/prepare-images.ts';
import { registerTeardown } from '../stack/teardown.ts';
import type { EvaluationResult, EvidenceEndpoints, ExperimentEvaluator, SettingsInEffect, SettingsKnowledge } from './evaluator.ts';
import { faultViews, reportFromLoad, reportFromPipeline } from './report-builder.ts';

/**
 * The phases of a run, each a named function a chaos experiment (experiment-runner.ts) and a
 * capacity search (harness/capacity/) compose in their own order:
 *
 *   validateExperiment   pure: every input error throws ConfigError before a container starts
 *   attachTarget         start the embedded stack, or attach an external one
 *   checkSteadyState     the backend's health, before and after
 *   runLoadPhase         one load (+ fault timeline, rolled back on every exit path)
 *   evaluatePhase        drain, read traces and outcomes, evaluate the expectations
 *   applyLoadOutcome / applyEvaluation / decideVerdict   fold results into the report model
 *
 * State that lives for the whole run (results folder, report model, interrupt handling,
 * observers, teardown of the stack) is in RunSession (run-session.ts).
 */

export type ExperimentTarget =
  | ({
      kind: 'embedded';
      defects?: DefectName[];
      backendEnv?: Record<string, string>;
      detectorEnv?: Record<string, string>;
      llmEnv?: Record<string, string>;
      /** Emulators (default) or real inference engines per AI service. */
      ai?: AiModes;
      /** Which HSI the reference stack imitates; default: the stack config's `profile`. */
      profile?: StackProfile;
    } & StackAccess)
  | ({
      /** A team's compose file, started with the harness's Jaeger and Toxiproxy (harness/stack/compose/). */
      kind: 'compose';
      file: string;
      /** HSI_PROFILE for the backend, detector and LLM services (files running the reference stack's image); unset: the file's own. */
      profile?: StackProfile;
      defects?: DefectName[];
      backendEnv?: Record<string, string>;
      detectorEnv?: Record<string, string>;
      llmEnv?: Record<string, string>;
    } & StackAccess)
  | ({
      kind: 'external';
      endpoints: EvidenceEndpoints;
      toxiproxyUrl?: string;
      /** Emulator admin URLs by target name, when the external stack is the reference stack. */
      emulatorUrls?: Record<string, string>;
      /** The reference-stack profile, when the stack file says (`hsi-chaos stack up` writes it). */
      profile?: StackProfile;
      /** How often the stack's services export spans (OTEL_BSP_SCHEDULE_DELAY, ms), when known (`hsi-chaos stack up` writes it). */
      spanExportDelayMs?: number;
    } & StackAccess);

/** How the harness speaks to a stack: its HSI dialect and an API key (both dialects' `X-API-Key`). */
export interface StackAccess {
  /** `reference`, `hsi-current`, or `auto` (default: detected when the stack is attached). */
  dialect?: DialectChoice;
  /** Sent on every harness request to the backend. */
  apiKey?: string;
}

/** The load's planned length: the latest end of its scenarios (k6 startTime + duration). */
export function plannedLoadDurationMs(scenario: Scenario): number {
  let end = 0;
  for (const w of Object.values(scenario.scenarios)) end = Math.max(end, (w.startTimeMs ?? 0) + activeDurationMs(w));
  return Math.min(end, scenario.limits.maxDurationMs);
}

/** What validation produced: the load's length and the fault timeline, planned. */
export interface ValidatedExperiment {
  loadMs: number;
  plannedFaults: PlannedFault[];
}

/** Phase 0: everything that can be wrong with the input fails here, before a container starts. */
export function validateExperiment(input: { scenario: Scenario; target: ExperimentTarget; evaluator: ExperimentEvaluator }): ValidatedExperiment {
  const { scenario, target } = input;
  const loadMs = plannedLoadDurationMs(scenario);
  const plannedFaults = planFaultTimeline(scenario.faults, { targets: Object.keys(PROXIES), runDurationMs: loadMs, source: scenario.source });
  input.evaluator.validate(scenario.expectations, scenario.source, { faultNames: plannedFaults.map((f) => f.name) });
  if (target.kind === 'external' && plannedFaults.some((f) => f.fault.type !== 'emulator') && target.toxiproxyUrl === undefined) {
    throw new ConfigError(`${scenario.source}: faults need Toxiproxy, and the external stack file has no "toxiproxyUrl"; add it to the stack.json (as "hsi-chaos stack up" writes it) or remove the faults`);
  }
  if (target.kind === 'embedded') checkEmulatorFaults(plannedFaults, target.ai ?? EMULATED, scenario.source);
  return { loadMs, plannedFaults };
}

/** Emulator faults act through the emulators' /admin/faults: a real engine has none. */
function checkEmulatorFaults(faults: readonly PlannedFault[], ai: AiModes, source: string): void {
  for (const f of faults) {
    const target = f.target === 'detector' || f.target === 'llm' ? f.target : undefined;
    if (f.fault.type === 'emulator' && target !== undefined && ai[target] === 'real') {
      throw new ConfigError(`${source}: fault ${f.name} is an emulator fault, but the ${target} is a real engine (ai: real); use a Toxiproxy fault for it or run it emulated`);
    }
  }
}

/** The stack a run talks to: its endpoints, a fault executor when faults can be injected, and (embedded) the started stack. */
export interface AttachedTarget {
  kind: ExperimentTarget['kind'];
  endpoints: EvidenceEndpoints;
  executor?: StackFaultExecutor;
  /** Emulator admin URLs by name (detector, llm) when known: /health, /admin. */
  emulatorUrls: Record<string, string>;
  /** The stack this run started (embedded or compose); the session stops it. */
  stack?: StartedHsiStack | StartedComposeStack;
  /** The harness's HTTP client for this stack: API key, 429 back-off, and the run's 429 count (attachTarget sets it). */
  http?: HsiHttpClient;
  /** The dialect the stack speaks, configured or detected, with the reason (attachTarget sets it; absent: reference). */
  dialect?: ResolvedDialect;
  /** How often the stack's services export spans (ms): known for the stacks the harness starts; the trace wait follows it. */
  spanExportDelayMs?: number;
}

export interface AttachContext {
  runId: string;
  results: RunResults;
  log: (line: string) => void;
}

/** Phase 1: start the embedded stack (Docker, images, containers) or attach the external one. */
export async function attachTarget(target: ExperimentTarget, config: StackConfig, ctx: AttachContext): Promise<AttachedTarget> {
  const http = new HsiHttpClient({ apiKey: target.apiKey });
  if (target.kind === 'external') {
    const emulatorUrls = target.emulatorUrls ?? {};
    const executor = target.toxiproxyUrl !== undefined || target.emulatorUrls !== undefined ? new StackFaultExecutor({ toxiproxyApiUrl: target.toxiproxyUrl ?? '', emulatorUrls }) : undefined;
    const dialect = await resolveStackDialect(target.dialect, target.endpoints, http);
    ctx.log(dialect.reason);
    return { kind: 'external', endpoints: target.endpoints, emulatorUrls, http, dialect, ...(executor ? { executor } : {}), ...(target.spanExportDelayMs !== undefined ? { spanExportDelayMs: target.spanExportDelayMs } : {}) };
  }
  if (target.kind === 'compose') return attachCompose(target, config, ctx, http);
  const { log } = ctx;
  // Installing or starting an engine is the program's edge's job (the CLI, .ci/run, the test setup): here it must answer.
  await ensureDockerEngine({ bootstrap: false, log });
  const ai = target.ai ?? EMULATED;
  await prepareImages(config, { log, ai });
  log(anyReal(ai) ? `starting the stack (AI: detector ${ai.detector}, llm ${ai.llm})…` : 'starting the stack…');
  const profile = target.profile ?? config.profile;
  if (profile !== 'reference') log(`reference-stack profile ${profile}`);
  const builder = new HsiStack(config).withRunId(ctx.runId).withLog(log).withDefects(target.defects ?? []).withAi(ai).withProfile(profile);
  if (target.backendEnv) builder.withBackendEnvironment(target.backendEnv);
  if (target.detectorEnv) builder.withDetectorEnvironment(target.detectorEnv);
  if (target.llmEnv) builder.withLlmEnvironment(target.llmEnv);
  const stack = await builder.start();
  log(`stack started in ${stack.timings.totalSeconds.toFixed(1)} s`);
  // Emulator admin routes (/admin/faults) exist only on emulators: real engines have none.
  const emulatorUrls: Record<string, string> = {};
  if (ai.detector === 'emulated') emulatorUrls['detector'] = stack.getDetectorUrl();
  if (ai.llm === 'emulated') emulatorUrls['llm'] = stack.getLlmUrl();
  const endpoints: EvidenceEndpoints = { backendUrl: stack.getBackendUrl(), jaegerUrl: stack.getJaegerQueryUrl(), postgresUrl: stack.getPostgresConnectionUri(), redisUrl: stack.getRedisUrl() };
  // Profile hsi-current speaks the hsi-current dialect: no need to detect it (an explicit --dialect/config choice still wins).
  const choice = profile === 'hsi-current' && (target.dialect === undefined || target.dialect === 'auto') ? dialectOfProfile(profile) : target.dialect;
  const dialect = await resolveStackDialect(choice, endpoints, http);
  log(dialect.reason);
  return { kind: 'embedded', stack, emulatorUrls, endpoints, http, dialect, executor: new StackFaultExecutor({ toxiproxyApiUrl: stack.getToxiproxyApiUrl(), emulatorUrls }), spanExportDelayMs: config.otelBatchDelayMs };
}

/** A team's compose file with the harness's Jaeger and Toxiproxy; the scenario's settings and defect switches go into the override. */
async function attachCompose(target: Extract<ExperimentTarget, { kind: 'compose' }>, config: StackConfig, ctx: AttachContext, http: HsiHttpClient): Promise<AttachedTarget> {
  const { log } = ctx;
  await ensureDockerEngine({ bootstrap: false, log });
  await prepareImages(config, { log });
  const defectEnv = defectEnvironment(target.defects ?? []);
  const profile = target.profile !== undefined ? profileEnvironment(target.profile) : {};
  const stack = await new ComposeStack(config, target.file)
    .withRunId(ctx.runId)
    .withWorkDir(ctx.results.path('compose'))
    .withLog(log)
    .withRoleEnvironment({
      backend: { ...profile.backend, ...defectEnv.backend, ...(target.backendEnv ?? {}) },
      detector: { ...profile.detector, ...defectEnv.detector, ...(target.detectorEnv ?? {}) },
      llm: { ...profile.llm, ...defectEnv.llm, ...(target.llmEnv ?? {}) },
    })
    .start();
  log(`compose stack started in ${stack.timings.totalSeconds.toFixed(1)} s (proxies: ${stack.plan.proxies.map((p) => `${p.name} → ${p.upstream}`).join(', ')})`);
  const emulatorUrls = stack.emulatorUrls();
  const postgresUrl = stack.getPostgresConnectionUri();
  const redisUrl = stack.getRedisUrl();
  const endpoints: EvidenceEndpoints = { backendUrl: stack.getBackendUrl(), jaegerUrl: stack.getJaegerQueryUrl(), ...(postgresUrl !== undefined ? { postgresUrl } : {}), ...(redisUrl !== undefined ? { redisUrl } : {}) };
  // As embedded: --profile hsi-current speaks that dialect (an explicit --dialect still wins).
  const choice = target.profile === 'hsi-current' && (target.dialect === undefined || target.dialect === 'auto') ? dialectOfProfile(target.profile) : target.dialect;
  // Not adopted by the session yet: a failure here must stop the stack itself.
  const dialect = await resolveStackDialect(choice, endpoints, http).catch(async (error: unknown) => {
    await stack.stop();
    throw error;
  });
  log(dialect.reason);
  return { kind: 'compose', stack, emulatorUrls, endpoints, http, dialect, executor: new StackFaultExecutor({ toxiproxyApiUrl: stack.getToxiproxyApiUrl(), emulatorUrls }), spanExportDelayMs: config.otelBatchDelayMs };
}

export interface SteadyState {
  ok: boolean;
  detail: string;
}

/** The attached stack's client and dialect, for the phases that read the stack. */
export function accessOf(target: AttachedTarget): { http?: HsiHttpClient; dialect?: HsiDialect; spanExportDelayMs?: number } {
  return {
    ...(target.http ? { http: target.http } : {}),
    ...(target.dialect ? { dialect: target.dialect.dialect } : {}),
    ...(target.spanExportDelayMs !== undefined ? { spanExportDelayMs: target.spanExportDelayMs } : {}),
  };
}

/** How often the backend answered the harness's own requests with 429: summary.json `rateLimit` and one log line. */
export function recordRateLimit(model: RunReportModel, http: HsiHttpClient, log: (line: string) => void): void {
  const stats = http.ledger.snapshot();
  model.rateLimit = stats;
  if (stats.responses429 > 0) log(rateLimitLine(stats));
}

/** Phases 2 and 6: the backend's /api/system/health answers 200 (through `http`: API key, 429s waited out). */
export async function checkSteadyState(backendUrl: string, http: HsiHttpClient = new HsiHttpClient()): Promise<SteadyState> {
  try {
    const res = await http.getJson(new URL(HSI_ROUTES.systemHealth, backendUrl), 5_000);
    const status = String((res.body as { status?: unknown } | undefined)?.status ?? '?');
    return { ok: res.status === 200, detail: `HTTP ${res.status}, status ${status}` };
  } catch (error) {
    return { ok: false, detail: errorMessage(error) };
  }
}

/**
 * What a person sees: a /ws/events subscriber for the run, opened before the load (a stack
 * without it is one line in the log; nothing-lost then says it could not check the broadcasts).
 */
export async function subscribeToEvents(target: AttachedTarget, results: RunResults, log: (line: string) => void): Promise<EventStreamRecorder> {
  const recorder = new EventStreamRecorder({ backendUrl: target.endpoints.backendUrl, results, log, ...(target.http?.key !== undefined ? { apiKey: target.http.key } : {}) });
  await recorder.start();
  return recorder;
}

export interface LoadPhaseInput {
  scenario: Scenario;
  target: AttachedTarget;
  /** Where requests.ndjson (and faults.json) go: the run's folder, or a step's sub-folder. */
  results: RunResults;
  plannedFaults: readonly PlannedFault[];
  driver?: LoadDriver;
  signal?: AbortSignal;
  log: (line: string) => void;
  /** Called once the driver's clock starts (epoch ms): observers align their samples to it. */
  onLoadStart?: (startEpochMs: number) => void;
}

export interface LoadPhaseOutcome {
  loadResult: LoadResult;
  /** The fault windows as applied (empty without faults). */
  windows: FaultWindowRecord[];
  /** Every request of this load, from requests.ndjson. */
  requests: LoadRequestRecord[];
  /** Epoch ms bounds of the load, for trace searches. */
  window: { startEpochMs: number; endEpochMs: number };
}

/** Phase 3: the load with its fault timeline. Faults are reset first and rolled back on every exit path. */
export async function runLoadPhase(input: LoadPhaseInput): Promise<LoadPhaseOutcome> {
  const { results, log } = input;
  const executor = input.target.executor;
  let timeline: ToxicTimeline | undefined;
  let unregisterFaults = () => {};
  if (executor && input.plannedFaults.length > 0) {
    await executor.resetAll();
    timeline = new ToxicTimeline([...input.plannedFaults], executor, {
      onRecord: (r, event) => {
        log(`fault ${r.name} on ${r.target} ${event}${event === 'applied' ? ` (lag ${r.applyLagMs?.toFixed(1)} ms)` : event === 'removed' ? ` (lag ${r.removeLagMs?.toFixed(1)} ms)` : `: ${r.applyError ?? r.removeError}`}`);
        results.writeJson('faults.json', timeline?.records() ?? []);
      },
    });
    const t = timeline;
    unregisterFaults = registerTeardown('fault rollback', () => t.stop());
  }
  try {
    let startEpochMs = Date.now();
    const loadResult = await runLoadWithDriver(input.driver ?? 'native', input.scenario, {
      backendUrl: input.target.endpoints.backendUrl,
      ...(input.target.http?.key !== undefined ? { apiKey: input.target.http.key } : {}),
      results,
      // the stack's API key on every load request, as the harness's own HTTP client sends it
      ...(input.target.http ? { headers: input.target.http.authHeaders() } : {}),
      ...(input.signal ? { signal: input.signal } : {}),
      onStart: (startMono: number, epochMs: number) => {
        startEpochMs = epochMs;
        void timeline?.start(startMono);
        input.onLoadStart?.(epochMs);
      },
    });
    const endEpochMs = Date.now();
    if (timeline) await timeline.stop();
    const windows: FaultWindowRecord[] = timeline?.records() ?? [];
    results.writeJson('faults.json', windows);
    const requests = results.readNdjson<LoadRequestRecord>('requests.ndjson');
    return { loadResult, windows, requests, window: { startEpochMs, endEpochMs } };
  } finally {
    if (timeline) await timeline.stop().catch(() => undefined);
    unregisterFaults();
  }
}

/** The load's part of the report: metrics, thresholds, fault windows with their impact on the uploads. */
export function applyLoadOutcome(model: RunReportModel, load: LoadPhaseOutcome): void {
  Object.assign(model, reportFromLoad(load.loadResult));
  model.faults = faultViews(load.windows, load.requests.filter((r) => !r.interrupted).map((r) => ({ atMs: r.intendedMs, latencyMs: r.latencyMs, ok: r.ok })));
}

export interface EvaluatePhaseInput {
  evaluator: ExperimentEvaluator;
  scenario: Scenario;
  runId: string;
  results: RunResults;
  endpoints: EvidenceEndpoints;
  load: LoadPhaseOutcome;
  /** The run's /ws/events subscriber, started before the load. */
  broadcasts?: BroadcastSource;
  log: (line: string) => void;
  /** The attached stack's client and dialect (default: a plain client, the reference dialect). */
  http?: HsiHttpClient;
  dialect?: HsiDialect;
  /** The backend's settings in effect (default: the scenario's `stack.backend`, contract defaults for the rest). */
  settings?: SettingsInEffect;
  /** How often the stack's services export spans (ms), when known. */
  spanExportDelayMs?: number;
}

export const NO_EVALUATION: EvaluationResult = { assertions: [], operations: [], exampleTraces: [], serviceMap: [], notes: [] };

function knowledgeOf(s: SettingsInEffect): SettingsKnowledge {
  return { ...(s.origin !== undefined ? { origin: s.origin } : {}), ...(s.othersUnknown !== undefined ? { othersUnknown: s.othersUnknown } : {}) };
}

/** Phases 4 and 5: wait for the pipeline to drain and the traces to arrive, then evaluate (skipped without expectations). */
export async function evaluatePhase(input: EvaluatePhaseInput): Promise<EvaluationResult> {
  const { scenario, load } = input;
  if (scenario.expectations.length === 0) return NO_EVALUATION;
  input.log('waiting for the pipeline to drain and the traces to arrive…');
  const evaluation = await input.evaluator.evaluate({
    runId: input.runId,
    results: input.results,
    expectations: scenario.expectations,
    source: scenario.source,
    endpoints: input.endpoints,
    requests: load.requests,
    faults: { windows: load.windows, loadStartEpochMs: load.window.startEpochMs },
    window: load.window,
    stackSettings: input.settings?.values ?? scenario.stack?.backend ?? {},
    ...(input.settings ? { settingsKnowledge: knowledgeOf(input.settings) } : {}),
    ...(input.broadcasts ? { broadcasts: input.broadcasts } : {}),
    log: input.log,
    ...(input.http ? { http: input.http } : {}),
    ...(input.dialect ? { dialect: input.dialect } : {}),
    ...(input.spanExportDelayMs !== undefined ? { spanExportDelayMs: input.spanExportDelayMs } : {}),
  });
  for (const note of evaluation.notes) input.log(note);
  return evaluation;
}

/** The evaluation's part of the report: verdicts, operations, traces, and the pipeline series. */
export function applyEvaluation(model: RunReportModel, evaluation: EvaluationResult, windows: readonly FaultWindowRecord[]): void {
  Object.assign(model, { assertions: evaluation.assertions, operations: evaluation.operations, exampleTraces: evaluation.exampleTraces, serviceMap: evaluation.serviceMap });
  if (evaluation.eventStream) model.eventStream = evaluation.eventStream;
  if (evaluation.pipelineLatencies && evaluation.pipelineLatencies.length > 0) {
    const faults: FaultWindowView[] = model.faults;
    Object.assign(model, reportFromPipeline(evaluation.pipelineLatencies, windows, faults));
  }
}

/** The exit code: an assertion or the steady state failed → 1; a threshold failed → 99; else 0. */
export function decideVerdict(model: RunReportModel, steady: { before: SteadyState; after: SteadyState }): void {
  const failedAssertions = model.assertions.filter((a) => !a.passed).length;
  const thresholdsFailed = model.thresholds.some((t) => !t.ok);
  const steadyFailed = !steady.before.ok || !steady.after.ok;
  model.exitCode = failedAssertions > 0 || steadyFailed ? ExitCode.expectationFailed : thresholdsFailed ? ExitCode.thresholdsFailed : ExitCode.pass;
  model.verdict = model.exitCode === ExitCode.pass ? 'passed' : 'failed';
}
