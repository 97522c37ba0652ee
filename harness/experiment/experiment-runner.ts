import { request } from 'undici';
import { StackFaultExecutor } from '../chaos/fault-executor.ts';
import { planFaultTimeline, type PlannedFault } from '../chaos/fault-schema.ts';
import { ToxicTimeline, type FaultWindowRecord } from '../chaos/toxic-timeline.ts';
import type { StackConfig } from '../config/stack-config.ts';
import { ConfigError, ExitCode, errorMessage } from '../errors.ts';
import { runLoadWithDriver, type LoadDriver } from '../load/run-with-driver.ts';
import type { LoadRequestRecord, LoadResult } from '../load/load-result.ts';
import { activeDurationMs } from '../load/schedule.ts';
import { REPORT_SCHEMA_VERSION, type RunReportModel } from '../report/report-model.ts';
import { RunResults } from '../report/run-results.ts';
import { writeReports } from '../report/write-reports.ts';
import type { Scenario } from '../scenario/scenario-types.ts';
import type { DefectName } from '../stack/defects.ts';
import { ensureDockerEngine } from '../stack/docker-engine.ts';
import { HsiStack, newRunId, PROXIES, type StartedHsiStack } from '../stack/hsi-stack.ts';
import { prepareImages } from '../stack/images/prepare-images.ts';
import { registerTeardown } from '../stack/teardown.ts';
import type { EvaluationResult, EvidenceEndpoints, ExperimentEvaluator } from './evaluator.ts';
import { faultViews, reportFromLoad, reportFromPipeline } from './report-builder.ts';

/**
 * One experiment = a stack + load + fault timeline + expectations, in phases borrowed
 * from Chaos Toolkit: validate everything first; steady state before; load with faults
 * (every fault rolled back on every exit path); drain; trace assertions; steady state
 * after; reports. Results are written as the run goes, so a killed run keeps its data.
 */
export type ExperimentTarget =
  | { kind: 'embedded'; defects?: DefectName[]; backendEnv?: Record<string, string>; detectorEnv?: Record<string, string>; llmEnv?: Record<string, string> }
  | {
      kind: 'external';
      endpoints: EvidenceEndpoints;
      toxiproxyUrl?: string;
      /** Emulator admin URLs by target name, when the external stack is the reference stack. */
      emulatorUrls?: Record<string, string>;
    };

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
}

export interface ExperimentOutcome {
  report: RunReportModel;
  exitCode: number;
  resultsDir: string;
}

/** The load's planned length: the latest end of its scenarios (k6 startTime + duration). */
export function plannedLoadDurationMs(scenario: Scenario): number {
  let end = 0;
  for (const w of Object.values(scenario.scenarios)) end = Math.max(end, (w.startTimeMs ?? 0) + activeDurationMs(w));
  return Math.min(end, scenario.limits.maxDurationMs);
}

async function steadyState(backendUrl: string): Promise<{ ok: boolean; detail: string }> {
  try {
    const res = await request(`${backendUrl}/api/system/health`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    const body = await res.body.text();
    let status = '?';
    try {
      status = String((JSON.parse(body) as { status?: unknown }).status ?? '?');
    } catch {
      // not JSON: reported by status code alone
    }
    return { ok: res.statusCode === 200, detail: `HTTP ${res.statusCode}, status ${status}` };
  } catch (error) {
    return { ok: false, detail: errorMessage(error) };
  }
}

export async function runExperiment(options: ExperimentOptions): Promise<ExperimentOutcome> {
  const { scenario, config, log } = options;
  const loadMs = plannedLoadDurationMs(scenario);
  // Phase 0: everything that can be wrong with the input fails here, before a container starts.
  const targets = Object.keys(PROXIES);
  const plannedFaults: PlannedFault[] = planFaultTimeline(scenario.faults, { targets, runDurationMs: loadMs, source: scenario.source });
  options.evaluator.validate(scenario.expectations, scenario.source);
  if (options.target.kind === 'external' && plannedFaults.some((f) => f.fault.type !== 'emulator') && options.target.toxiproxyUrl === undefined) {
    throw new ConfigError(`${scenario.source}: faults need Toxiproxy; pass --toxiproxy-url for the external stack or remove the faults`);
  }

  const runId = options.runId ?? newRunId(scenario.name);
  const results = new RunResults(config.resultsDir, runId);
  const model: RunReportModel = {
    schemaVersion: REPORT_SCHEMA_VERSION,
    runId,
    scenario: { name: scenario.name, description: scenario.description },
    startedAt: new Date().toISOString(),
    verdict: 'interrupted',
    exitCode: 1,
    stack: { kind: options.target.kind, defects: options.target.kind === 'embedded' ? [...(options.target.defects ?? [])] : [] },
    timeSeries: [],
    thresholds: [],
    faults: plannedFaults.map((f) => ({
      name: f.name,
      target: f.target,
      faultType: f.fault.type,
      plannedStartSec: f.atMs / 1000,
      plannedEndSec: (f.atMs + f.durationMs) / 1000,
      startSec: null,
      endSec: null,
      applyLagMs: null,
      removeLagMs: null,
    })),
    assertions: [],
    operations: [],
    exampleTraces: [],
    serviceMap: [],
    errors: [],
  };
  const save = () => results.writeJson('summary.json', model);
  save();
  log(`run ${runId}: results in ${results.dir}`);
  // A Ctrl-C keeps what was collected: the summary says "interrupted" (registered first, runs last).
  let interrupted = false;
  const unregisterSummary = registerTeardown('results', async () => {
    interrupted = true;
    model.finishedAt = new Date().toISOString();
    model.verdict = 'interrupted';
    model.exitCode = 130;
    save();
  });

  let stack: StartedHsiStack | undefined;
  let timeline: ToxicTimeline | undefined;
  let unregisterFaults = () => {};
  try {
    // Phase 1: the stack.
    let endpoints: EvidenceEndpoints;
    let executor: StackFaultExecutor | undefined;
    if (options.target.kind === 'embedded') {
      await ensureDockerEngine({ bootstrap: config.dockerBootstrap, log, logDir: results.dir });
      await prepareImages(config, { log });
      log('starting the stack…');
      const builder = new HsiStack(config).withRunId(runId).withLog(log).withDefects(options.target.defects ?? []);
      if (options.target.backendEnv) builder.withBackendEnvironment(options.target.backendEnv);
      if (options.target.detectorEnv) builder.withDetectorEnvironment(options.target.detectorEnv);
      if (options.target.llmEnv) builder.withLlmEnvironment(options.target.llmEnv);
      stack = await builder.start();
      model.stack.startSeconds = stack.timings.totalSeconds;
      log(`stack started in ${stack.timings.totalSeconds.toFixed(1)} s`);
      endpoints = { backendUrl: stack.getBackendUrl(), jaegerUrl: stack.getJaegerQueryUrl(), postgresUrl: stack.getPostgresConnectionUri(), redisUrl: stack.getRedisUrl() };
      executor = new StackFaultExecutor({ toxiproxyApiUrl: stack.getToxiproxyApiUrl(), emulatorUrls: { detector: stack.getDetectorUrl(), llm: stack.getLlmUrl() } });
    } else {
      endpoints = options.target.endpoints;
      if (options.target.toxiproxyUrl !== undefined || options.target.emulatorUrls !== undefined) {
        executor = new StackFaultExecutor({ toxiproxyApiUrl: options.target.toxiproxyUrl ?? '', emulatorUrls: options.target.emulatorUrls ?? {} });
      }
    }
    model.stack.backendUrl = endpoints.backendUrl;
    model.stack.jaegerUrl = endpoints.jaegerUrl;
    save();

    // Phase 2: steady state before.
    const before = await steadyState(endpoints.backendUrl);
    log(`steady state before: ${before.ok ? 'ok' : 'NOT OK'} (${before.detail})`);
    if (!before.ok) model.errors.push(`steady state before the load: ${before.detail}`);

    // Phase 3: load with faults. Faults are reset first and rolled back on every exit path.
    if (executor && plannedFaults.length > 0) {
      await executor.resetAll();
      timeline = new ToxicTimeline(plannedFaults, executor, {
        onRecord: (r, event) => {
          log(`fault ${r.name} on ${r.target} ${event}${event === 'applied' ? ` (lag ${r.applyLagMs?.toFixed(1)} ms)` : event === 'removed' ? ` (lag ${r.removeLagMs?.toFixed(1)} ms)` : `: ${r.applyError ?? r.removeError}`}`);
          results.writeJson('faults.json', timeline?.records() ?? []);
        },
      });
      const t = timeline;
      unregisterFaults = registerTeardown('fault rollback', () => t.stop());
    }
    let loadStartEpochMs = Date.now();
    let loadStartMono = performance.now();
    const loadResult: LoadResult = await runLoadWithDriver(options.driver ?? 'native', scenario, {
      backendUrl: endpoints.backendUrl,
      results,
      ...(options.signal ? { signal: options.signal } : {}),
      onStart: (startMono: number, startEpochMs: number) => {
        loadStartMono = startMono;
        loadStartEpochMs = startEpochMs;
        void timeline?.start(startMono);
      },
    });
    const loadEndEpochMs = Date.now();
    if (timeline) {
      await timeline.stop();
      unregisterFaults();
    }
    const windows: FaultWindowRecord[] = timeline?.records() ?? [];
    results.writeJson('faults.json', windows);
    void loadStartMono;
    const requests = readRequestRecords(results);
    Object.assign(model, reportFromLoad(loadResult));
    model.faults = faultViews(windows, requests.filter((r) => !r.interrupted).map((r) => ({ atMs: r.intendedMs, latencyMs: r.latencyMs, ok: r.ok })));
    save();
    log(`load done: ${loadResult.requests.sent} sent, ${loadResult.requests.accepted} accepted, ${loadResult.requests.failed} failed${loadResult.aborted ? ` (aborted: ${loadResult.abortReason})` : ''}`);

    // Phase 4 and 5: drain, then the trace assertions.
    let evaluation: EvaluationResult = { assertions: [], operations: [], exampleTraces: [], serviceMap: [], notes: [] };
    if (scenario.expectations.length > 0) {
      log('waiting for the pipeline to drain and the traces to arrive…');
      evaluation = await options.evaluator.evaluate({
        runId,
        results,
        expectations: scenario.expectations,
        source: scenario.source,
        endpoints,
        requests,
        faults: { windows, loadStartEpochMs },
        window: { startEpochMs: loadStartEpochMs, endEpochMs: loadEndEpochMs },
        log,
      });
      Object.assign(model, { assertions: evaluation.assertions, operations: evaluation.operations, exampleTraces: evaluation.exampleTraces, serviceMap: evaluation.serviceMap });
      if (evaluation.pipelineLatencies && evaluation.pipelineLatencies.length > 0) {
        Object.assign(model, reportFromPipeline(evaluation.pipelineLatencies, windows, model.faults));
      }
      for (const note of evaluation.notes) log(note);
    }

    // Phase 6: steady state after.
    const after = await steadyState(endpoints.backendUrl);
    log(`steady state after: ${after.ok ? 'ok' : 'NOT OK'} (${after.detail})`);
    if (!after.ok) model.errors.push(`steady state after the run: ${after.detail}`);

    const failedAssertions = model.assertions.filter((a) => !a.passed).length;
    const thresholdsFailed = model.thresholds.some((t) => !t.ok);
    const steadyFailed = !before.ok || !after.ok;
    model.exitCode = failedAssertions > 0 || steadyFailed ? ExitCode.expectationFailed : thresholdsFailed ? ExitCode.thresholdsFailed : ExitCode.pass;
    model.verdict = model.exitCode === ExitCode.pass ? 'passed' : 'failed';
  } catch (error) {
    // Once interrupted, the teardown owns the verdict: what fails afterwards is its echo.
    if (!interrupted) {
      model.verdict = 'error';
      model.exitCode = error instanceof ConfigError ? ExitCode.usage : ExitCode.expectationFailed;
      model.errors.push(errorMessage(error));
    }
    throw error;
  } finally {
    model.finishedAt = new Date().toISOString();
    unregisterSummary();
    try {
      writeReports(results, model);
    } catch (error) {
      log(`writing the reports failed: ${errorMessage(error)}`);
      save();
    }
    if (timeline) await timeline.stop().catch(() => undefined);
    unregisterFaults();
    if (stack) {
      log('stopping the stack…');
      await stack.stop();
    }
  }
  return { report: model, exitCode: model.exitCode, resultsDir: results.dir };
}

function readRequestRecords(results: RunResults): LoadRequestRecord[] {
  return results.readNdjson<LoadRequestRecord>('requests.ndjson');
}
