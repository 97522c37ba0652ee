import { parseArgs, type ParseArgsConfig } from 'node:util';
import { eventStreamLine } from '../report/event-stream-view.ts';
import { noSampleThresholdsLine, thresholdValue } from '../report/format.ts';
import { dirname, resolve } from 'node:path';
import type { ExperimentEvaluator } from '../experiment/evaluator.ts';
import { runExperiment, type ExperimentTarget } from '../experiment/experiment-runner.ts';
import { validateExperiment } from '../experiment/phases.ts';
import type { RunReportModel } from '../report/report-model.ts';
import { RunResults } from '../util/run-results.ts';
import { listBuiltinScenarios, loadScenario } from '../scenario/load-scenario.ts';
import { DEFECT_NAMES, parseDefects } from '../stack/defects.ts';
import { dialectOfProfile, isStackProfile, STACK_PROFILES } from '../contract/profiles.ts';
import { fileURLToPath } from 'node:url';
import { loadStackConfig, type StackConfig } from '../config/stack-config.ts';
import { AiMode, EMULATED, resolveAiModes, type AiModes } from '../config/real-ai-config.ts';
import { ConfigError, ExitCode, HarnessError } from '../errors.ts';
import { runUploadTraceCheck } from '../experiment/upload-trace-check.ts';
import { findK6 } from '../load/k6/k6-runner.ts';
import { rateLimitLine } from '../dialect/rate-limit.ts';
import { gpuSummaryLine } from '../report/gpu-report-view.ts';
import { listRuns, removeAllHarnessResources, removeLeftovers, removeRun } from '../stack/cleanup.ts';
import { ensureDockerEngine } from '../stack/docker-engine.ts';
import { composeStatusLine, ensureComposePlugin } from '../stack/compose/compose-plugin.ts';
import { HsiStack, newRunId } from '../stack/hsi-stack.ts';
import { prepareImages } from '../stack/images/prepare-images.ts';
import { configureTestcontainers } from '../stack/testcontainers-env.ts';
import { compareCommand, resolveRunDir, runResultsOf } from '../report/compare.ts';
import { readRunReport } from '../report/report-schema.ts';
import { writeReports } from '../report/write-reports.ts';
import { readCalibration } from '../calibrate/calibration-file.ts';
import { calibrate } from './calibrate-command.ts';
import { dialectFlag, stackAccessOf } from './access-flags.ts';
import { colour, logLine } from './output.ts';
import { cmdCapacity } from './capacity-command.ts';
import { CAPACITY_HELP } from './capacity-help.ts';
import { cmdReplay, cmdTraces } from './replay-command.ts';
import { cmdConform } from './conform-command.ts';
import { CONFORM_HELP } from './conform-help.ts';
import type { ContractChecker } from '../conform/differences.ts';
import { cmdK6, K6_HELP } from './k6-command.ts';
import { REPLAY_HELP } from './replay-help.ts';
import { installCliSignalHandlers, teardownOnUncaughtError, withExitGuard } from './signals.ts';
import { checkRunId, claimRunDir, refuseExistingRunDir, releaseEmptyRunDir, RUN_ID_PATTERN } from './run-id.ts';
import { probeExternalStack, readStackFile, removeStackFile, STACK_FILE } from './stack-file.ts';
import { ensureComposeEdge, stackUpCompose } from './compose-command.ts';
import { checkComposeFile, ComposeStack } from '../stack/compose/compose-stack.ts';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const COMMON = {
  config: { type: 'string' },
  'image-mode': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const HELP = `hsi-chaos — chaos and load testing for the HSI AI pipeline

Usage: hsi-chaos <command> [options]

Commands:
  run [SCENARIO]      run an experiment: stack, load, fault timeline, trace assertions, reports
                      in results/<run-id>/ (default scenario: steady-detector-fault)
      --driver D          native (default) or k6 (needs k6 on PATH)
      --defect NAME       turn on a defect switch of the reference stack (repeatable)
      --external STACK    run against a running stack (run id, folder or stack.json of "stack up")
      --dialect D         reference, hsi-current or auto (default: detected; see docs/testing-real-hsi.md)
      --compose FILE      start the stack from a compose file (a team's own, or compose/reference.yml),
                          with hsi-chaos's Jaeger and Toxiproxy added and every backend hop rewired
                          through them (docs/testing-real-hsi.md)
      --emulator-params F the AI emulators' parameters from F (written by calibrate)
      --ai MODE           emulated (default) or real: the AI services as emulators or as real
                          inference engines (llama.cpp server, ONNX Runtime detector); overrides
                          the scenario's stack.ai (docs/real-inference.md)
      --profile P         reference (default) or hsi-current: the reference stack as it is, or
                          behaving like the real HSI's current sources (reference-stack/README.md)
      --run-id ID         name the results folder (letters, digits, . _ -); an existing one is refused
      --replace           with --run-id: overwrite that run's results
${CAPACITY_HELP}
  list                list built-in scenarios and defect switches
  trace-check         quick check: stack up, a few uploads, each one trace holding backend and
                      detector spans, detection rows stored
      --uploads N         how many uploads (default 5, at most 10000)
      --concurrency N     uploads in flight (default 2)
      --trace-timeout S   seconds to wait for each trace (default 30)
  calibrate [SCENARIO] measure the real AI engines (a run of SCENARIO with --ai real) and write
                      emulator parameters (calibration.json in the run's folder), with the fit
      --from RUN          fit an earlier --ai real run instead of running one
      --out FILE          where to write the parameters
      --verify            run SCENARIO on the emulators with them; compare the stages (±15 %)
  images build        build every stack image offline (skips images whose inputs are unchanged)
      --force             rebuild even when up to date
      --ai real           also the real inference engines' images
  docker ensure       make sure a Docker engine answers (installs docker.io as root on Debian)
  stack up            start a detached stack and print its URLs (--ai real: real inference engines,
                      --profile hsi-current: the real HSI's behaviour; --compose FILE: from a
                      compose file, rewired through Toxiproxy and Jaeger)
  stack down [RUN]    remove a stack (default: every hsi-chaos stack)
  stack status        list hsi-chaos stacks
  cleanup             remove containers/networks left by crashed runs
  report RUN          re-render junit.xml, summary.md and report.html from RUN's summary.json
  compare RUN BASE    compare a run with a baseline run (folders or run ids under results/)
      --fail-on-regression  exit 1 when anything regressed
${REPLAY_HELP}
${CONFORM_HELP}
${K6_HELP}

Options for every command:
  --config FILE       stack config (default hsi-chaos.config.json if present)
  --image-mode MODE   local (build offline, default) or registry (pull upstream images)
  -h, --help          this help

Exit codes (summary.json's exitCode is always the same): 0 pass, 1 an expectation failed or the
steady state was not met, 2 usage or configuration error (nothing started), 3 environment error
(Docker, images, a stack part not answering), 70 internal error, 99 only thresholds failed,
130 interrupted (SIGINT), 143 terminated (SIGTERM).`;

export function parse<T extends ParseArgsConfig['options']>(args: string[], options: T, positionals = 0) {
  try {
    const parsed = parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
    if (parsed.positionals.length > positionals) {
      throw new ConfigError(`unexpected argument "${parsed.positionals[positionals]}"; see hsi-chaos --help`);
    }
    return parsed;
  } catch (error) {
    if (error instanceof HarnessError) throw error;
    throw new ConfigError(`${(error as Error).message.split('\n')[0]}; see hsi-chaos --help`);
  }
}

/** `--ai emulated|real`; undefined when not given. */
export function aiFlag(value: string | undefined): AiMode | undefined {
  if (value === undefined) return undefined;
  const parsed = AiMode.safeParse(value);
  if (!parsed.success) throw new ConfigError(`--ai must be emulated or real (got "${value}")`);
  return parsed.data;
}

function intFlag(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`--${name} must be a whole number from ${min} to ${max} (got "${value}")`);
  }
  return n;
}

export function config(values: { config?: string | undefined; 'image-mode'?: string | undefined; profile?: string | undefined }): StackConfig {
  const overrides: Record<string, unknown> = {};
  if (values['image-mode'] !== undefined) overrides['imageMode'] = values['image-mode'];
  if (values.profile !== undefined) {
    if (!isStackProfile(values.profile)) throw new ConfigError(`--profile must be one of ${STACK_PROFILES.join(', ')} (got "${values.profile}")`);
    overrides['profile'] = values.profile;
  }
  return loadStackConfig({ projectRoot: PROJECT_ROOT, ...(values.config !== undefined ? { file: values.config } : {}), overrides });
}

export const DEFAULT_SCENARIO = 'steady-detector-fault';

async function cmdRun(args: string[], deps: CliDependencies): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      driver: { type: 'string' },
      defect: { type: 'string', multiple: true },
      external: { type: 'string' },
      compose: { type: 'string' },
      'run-id': { type: 'string' },
      ai: { type: 'string' },
      profile: { type: 'string' },
      replace: { type: 'boolean' },
      'emulator-params': { type: 'string' },
      dialect: { type: 'string' },
    },
    1,
  );
  if (values.help) return help();
  const dialect = dialectFlag(values.dialect);
  if (values['run-id'] !== undefined) checkRunId(values['run-id']);
  else if (values.replace) throw new ConfigError('--replace needs --run-id (it replaces that run\'s results)');
  const cfg = config(values);
  if (values['run-id'] !== undefined) refuseExistingRunDir(cfg.resultsDir, values['run-id'], values.replace ?? false);
  const aiOverride = aiFlag(values.ai);
  const params = values['emulator-params'] === undefined ? undefined : readCalibration(values['emulator-params']);
  const driver = values.driver ?? 'native';
  if (driver !== 'native' && driver !== 'k6') throw new ConfigError(`--driver must be native or k6 (got "${driver}")`);
  if (driver === 'k6' && findK6() === undefined) throw new ConfigError('--driver k6: k6 is not on PATH; install k6 or use --driver native');
  const scenario = await loadScenario(positionals[0] ?? DEFAULT_SCENARIO, { fixturesDir: cfg.fixturesDir, projectRoot: PROJECT_ROOT });
  const defects = parseDefects([...(scenario.stack?.defects ?? []), ...(values.defect ?? [])]);
  let target: ExperimentTarget;
  if (values.compose !== undefined) {
    if (values.external !== undefined) throw new ConfigError('--compose starts a stack and --external uses a running one; give one of them');
    if (aiOverride !== undefined || params !== undefined) throw new ConfigError('--ai and --emulator-params need the embedded stack (a compose file names its own AI services); drop them or --compose');
    const stack = scenario.stack ?? {};
    // --profile: HSI_PROFILE for the services that play backend, detector and LLM (the shipped files run the reference stack's image).
    target = { kind: 'compose', file: checkComposeFile(values.compose), defects, backendEnv: stack.backend ?? {}, detectorEnv: stack.detector ?? {}, llmEnv: stack.llm ?? {}, ...(values.profile !== undefined ? { profile: cfg.profile } : {}) };
  } else if (values.external !== undefined) {
    if (defects.length > 0) throw new ConfigError('--defect needs the embedded stack (an external stack has its own settings); drop --defect or --external');
    if (aiOverride !== undefined) throw new ConfigError('--ai needs the embedded stack (an external stack runs what it runs); drop --ai or --external');
    if (values.profile !== undefined) throw new ConfigError('--profile needs the embedded stack (an external stack runs its own profile); drop --profile or --external');
    if (params !== undefined) throw new ConfigError('--emulator-params needs the embedded stack; drop it or --external');
    const { file, ...stack } = readStackFile(values.external, cfg.resultsDir);
    await probeExternalStack({ ...stack, file });
    target = { kind: 'external', ...stack, ...stackAccessOf({ flag: dialect, file: stack, config: cfg.dialect, env: process.env }) };
  } else {
    const ai = resolveAiModes(scenario.stack?.ai, aiOverride);
    // Calibrated emulator parameters win over the scenario's emulator settings.
    const detectorEnv = { ...(scenario.stack?.detector ?? {}), ...(params?.detector ?? {}) };
    const llmEnv = { ...(scenario.stack?.llm ?? {}), ...(params?.llm ?? {}) };
    target = { kind: 'embedded', defects, backendEnv: scenario.stack?.backend ?? {}, detectorEnv, llmEnv, ai, profile: cfg.profile, ...stackAccessOf({ flag: dialect, config: cfg.dialect, env: process.env }) };
  }
  // Input errors first (cheap, pure); then the edge's one side effect before the run: a Docker engine (installed/started when allowed).
  validateExperiment({ scenario, target, evaluator: deps.evaluator });
  if (target.kind === 'embedded') await ensureDockerEngine({ bootstrap: cfg.dockerBootstrap, log: logLine });
  if (target.kind === 'compose') {
    await ensureComposeEdge(cfg);
    await new ComposeStack(cfg, target.file).validate();
  }
  const runId = values['run-id'];
  const claimed = runId === undefined ? undefined : await claimRunDir({ resultsRoot: cfg.resultsDir, runId, replace: values.replace ?? false, liveRunIds: async () => (await listRuns()).map((r) => r.runId) });
  try {
    const outcome = await runExperiment({ scenario, config: cfg, target, evaluator: deps.evaluator, driver, log: logLine, ...(runId !== undefined ? { runId } : {}) });
    printExperiment(outcome.report, outcome.resultsDir);
    return outcome.exitCode;
  } finally {
    if (claimed) releaseEmptyRunDir(claimed);
  }
}

export function printExperiment(report: RunReportModel, dir: string): void {
  const verdict = report.verdict === 'passed' ? colour.green('PASSED') : colour.red(report.verdict.toUpperCase());
  const lines = ['', `${colour.bold('hsi-chaos run')} ${report.scenario.name} (${report.runId}): ${verdict} (exit ${report.exitCode})`];
  if (report.stack.startSeconds !== undefined) lines.push(`  stack start      ${report.stack.startSeconds.toFixed(1)} s${report.stack.defects.length ? ` (defects: ${report.stack.defects.join(', ')})` : ''}`);
  if (report.stack.profile !== undefined) lines.push(`  profile          ${report.stack.profile}`);
  if (report.stack.composeFile !== undefined) lines.push(`  compose          ${report.stack.composeFile} (every backend hop through Toxiproxy; files in compose/)`);
  lines.push(...aiLines(report));
  if (report.stack.dialect) lines.push(`  dialect          ${report.stack.dialect.reason}`);
  if (report.rateLimit) lines.push(`  rate limit       ${rateLimitLine(report.rateLimit).replace(/^rate limited: /, '')}`);
  if (report.load) {
    const d = report.load.httpReqDuration;
    lines.push(`  load             ${report.load.httpReqs} requests, ${report.load.httpReqsPerSec.toFixed(1)}/s, failed ${(report.load.httpReqFailedRate * 100).toFixed(2)} %, p95 ${d.p95.toFixed(0)} ms, p99 ${d.p99.toFixed(0)} ms`);
  }
  for (const f of report.faults) {
    const at = f.startSec !== null ? `${f.startSec.toFixed(2)}–${f.endSec?.toFixed(2) ?? '?'} s` : 'not applied';
    lines.push(`  fault            ${f.name} on ${f.target}: ${at} (lag ${f.applyLagMs?.toFixed(1) ?? '-'} / ${f.removeLagMs?.toFixed(1) ?? '-'} ms)${f.impact?.recoverySeconds != null ? `, uploads recovered in ${f.impact.recoverySeconds} s` : ''}`);
    const d = f.pipelineImpact?.uploadToDetection;
    if (d) {
      const ms = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(0)} ms`);
      const back = d.recoverySeconds === null ? 'not back within the run' : `back in ${d.recoverySeconds} s`;
      lines.push(`                   upload → detections p95 ${ms(d.before.p95Ms)} before, ${ms(d.during.p95Ms)} during, ${ms(d.after.p95Ms)} after; ${back}`);
    }
  }
  if (report.eventStream) lines.push(`  websocket        ${eventStreamLine(report.eventStream)}`);
  if (report.gpu) lines.push(`  gpu              ${gpuSummaryLine(report.gpu)}`);
  for (const t of report.thresholds) lines.push(`  threshold        ${t.ok ? colour.green('ok    ') : colour.red('FAILED')} ${t.metric}: ${t.expression}${t.noSamples ? ' (no samples)' : t.value !== undefined ? ` (${thresholdValue(t)})` : ''}`);
  const empty = noSampleThresholdsLine(report.thresholds);
  if (empty) lines.push(`  note             ${empty}`);
  for (const a of [...report.assertions].sort((x, y) => Number(x.passed) - Number(y.passed))) {
    if (a.judged === false) lines.push(`  – ${a.family.padEnd(13)} ${a.name}: ${a.message}`);
    else lines.push(`  ${a.passed ? colour.green('✓') : colour.red('✗')} ${a.family.padEnd(13)} ${a.passed ? a.name : `${a.name}: ${colour.red(a.message)}`}`);
  }
  for (const t of report.exampleTraces) {
    const services = [...new Set(t.spans.map((s) => s.service))].sort().join(', ');
    lines.push(`  trace            ${t.traceId}  ${t.spans.length} spans  ${services}  (${t.label})`);
  }
  for (const e of report.errors) lines.push(`  ${colour.red('error')}            ${e}`);
  lines.push(`  report           ${dir}/report.html`, `  summary          ${dir}/summary.md`, '');
  process.stdout.write(lines.join('\n'));
}

/** Which AI mode ran and, with a real engine, its own figures. */
function aiLines(report: RunReportModel): string[] {
  const ai = report.stack.ai;
  if (ai === undefined) return [];
  const lines = [`  ai               detector ${ai.detector}, llm ${ai.llm}`];
  const e = report.aiEngines;
  const n = (v: number | null, unit: string) => (v === null ? 'n/a' : `${v.toFixed(v < 10 ? 1 : 0)}${unit}`);
  if (e?.llm) {
    const l = e.llm;
    lines.push(`                   llm (${l.mode}): ${n(l.tokensPerSecond.p50, ' tokens/s')} p50, prompt ${n(l.promptMs.p50, ' ms')} p50 / ${n(l.promptMs.p95, ' ms')} p95, ${n(l.promptTokens.mean, '')} prompt + ${n(l.generatedTokens.mean, '')} generated tokens (mean), ${l.callMs.count} calls`);
  }
  if (e?.detector) {
    const d = e.detector;
    lines.push(`                   detector (${d.mode}${d.weights ? `, weights ${d.weights}` : ''}${d.device ? `, ${d.device}` : ''}): inference ${n(d.inferenceMs.p50, ' ms')} p50 / ${n(d.inferenceMs.p95, ' ms')} p95, ${d.inferenceMs.count} images`);
  }
  return lines;
}

async function cmdTraceCheck(args: string[]): Promise<number> {
  const { values } = parse(args, { uploads: { type: 'string' }, concurrency: { type: 'string' }, 'trace-timeout': { type: 'string' } });
  if (values.help) return help();
  const cfg = config(values);
  const uploads = intFlag(values.uploads, 'uploads', 5, 1, 10_000);
  const concurrency = intFlag(values.concurrency, 'concurrency', 2, 1, 64);
  const traceTimeoutMs = intFlag(values['trace-timeout'], 'trace-timeout', 30, 1, 600) * 1000;
  await ensureDockerEngine({ bootstrap: cfg.dockerBootstrap, log: logLine });
  const { summary, exitCode } = await runUploadTraceCheck({ config: cfg, uploads, concurrency, traceTimeoutMs, log: logLine });
  const ok = summary.traces.filter((t) => t.ok).length;
  const verdict = exitCode === 0 ? colour.green('PASSED') : colour.red('FAILED');
  process.stdout.write(
    [
      '',
      `${colour.bold('hsi-chaos trace-check')} ${summary.runId}: ${verdict}`,
      `  stack start      ${summary.stack ? `${summary.stack.startSeconds.toFixed(1)} s` : '-'}`,
      `  uploads          ${summary.uploads.sent} sent, ${summary.uploads.accepted} accepted`,
      `  traces           ${ok}/${summary.traces.length} complete (backend + detector in one tree, detection rows stored)`,
      ...summary.traces.slice(0, 10).map((t) => `    ${t.ok ? colour.green('✓') : colour.red('✗')} ${t.traceId}  ${t.spanCount} spans  ${t.services.join(', ')}${t.problem ? `  ${colour.red(t.problem)}` : ''}`),
      `  summary          ${summary.resultsDir}/summary.json`,
      '',
    ].join('\n'),
  );
  return exitCode;
}

async function cmdImages(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { force: { type: 'boolean' }, ai: { type: 'string' } }, 1);
  if (values.help || positionals[0] !== 'build') {
    if (!values.help) throw new ConfigError(`unknown images command "${positionals[0] ?? ''}"; use "hsi-chaos images build"`);
    return help();
  }
  const cfg = config(values);
  await ensureDockerEngine({ bootstrap: cfg.dockerBootstrap, log: logLine });
  // Compose v2 (for --compose stacks) is fetched beside the image builds.
  const [reports, compose] = await Promise.all([
    prepareImages(cfg, { force: values.force ?? false, log: logLine, ai: resolveAiModes(undefined, aiFlag(values.ai)) }),
    ensureComposePlugin({ cacheDir: cfg.cacheDir, log: logLine, ...(cfg.debianMirror !== undefined ? { debianMirror: cfg.debianMirror } : {}) }),
  ]);
  if (cfg.imageMode === 'registry') logLine('image mode "registry": images are pulled when the stack starts');
  for (const r of reports) logLine(`${r.action === 'built' ? colour.green('built     ') : 'up to date'} ${r.image}${r.action === 'built' ? ` (${r.seconds} s)` : ''}`);
  logLine(composeStatusLine(compose));
  return ExitCode.pass;
}

async function cmdDocker(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {}, 1);
  if (values.help) return help();
  if (positionals[0] !== 'ensure') throw new ConfigError(`unknown docker command "${positionals[0] ?? ''}"; use "hsi-chaos docker ensure"`);
  const cfg = config(values);
  const status = await ensureDockerEngine({ bootstrap: cfg.dockerBootstrap, log: logLine });
  logLine(`Docker engine answers at ${status.endpoint}${status.startedByUs ? ` (started by hsi-chaos, log ${status.logFile})` : ''}`);
  const compose = await ensureComposePlugin({ cacheDir: cfg.cacheDir, log: logLine, ...(cfg.debianMirror !== undefined ? { debianMirror: cfg.debianMirror } : {}) });
  logLine(composeStatusLine(compose));
  return ExitCode.pass;
}

async function cmdStack(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ai: { type: 'string' }, profile: { type: 'string' }, compose: { type: 'string' } }, 2);
  if (values.help) return help();
  const cfg = config(values);
  const sub = positionals[0];
  if (values.compose !== undefined) {
    if (sub !== 'up') throw new ConfigError('--compose goes with "stack up"; "stack down RUN" removes a compose stack like any other');
    if (values.ai !== undefined) throw new ConfigError('--ai needs the embedded stack (a compose file names its own AI services); drop --ai or --compose');
    return stackUpCompose(cfg, values.compose, values.profile !== undefined ? cfg.profile : undefined);
  }
  const ai: AiModes = aiFlag(values.ai) === 'real' ? { detector: 'real', llm: 'real' } : { ...EMULATED };
  await ensureDockerEngine({ bootstrap: sub === 'up' && cfg.dockerBootstrap, log: logLine });
  if (sub === 'up') {
    await prepareImages(cfg, { log: logLine, ai });
    const stack = await new HsiStack(cfg).withRunId(newRunId('stack')).withDetached(true).withLog(logLine).withAi(ai).start();
    const stackFile = new RunResults(cfg.resultsDir, stack.runId).writeJson(STACK_FILE, {
      endpoints: { backendUrl: stack.getBackendUrl(), jaegerUrl: stack.getJaegerQueryUrl(), postgresUrl: stack.getPostgresConnectionUri(), redisUrl: stack.getRedisUrl() },
      toxiproxyUrl: stack.getToxiproxyApiUrl(),
      emulatorUrls: { ...(ai.detector === 'emulated' ? { detector: stack.getDetectorUrl() } : {}), ...(ai.llm === 'emulated' ? { llm: stack.getLlmUrl() } : {}) },
      profile: stack.profile,
      dialect: dialectOfProfile(stack.profile),
      spanExportDelayMs: cfg.otelBatchDelayMs,
    });
    process.stdout.write(
      [
        `stack ${stack.runId} up in ${stack.timings.totalSeconds.toFixed(1)} s (profile ${stack.profile})`,
        `  backend     ${stack.getBackendUrl()}`,
        `  jaeger      ${stack.getJaegerQueryUrl()}`,
        `  toxiproxy   ${stack.getToxiproxyApiUrl()}`,
        `  detector    ${stack.getDetectorUrl()}`,
        `  postgres    ${stack.getPostgresConnectionUri()}`,
        `  redis       ${stack.getRedisUrl()}`,
        `  llm         ${stack.getLlmUrl()}`,
        `endpoints written to ${stackFile} (use: hsi-chaos run <scenario> --external ${stack.runId})`,
        `remove it with: hsi-chaos stack down ${stack.runId}`,
        '',
      ].join('\n'),
    );
    return ExitCode.pass;
  }
  if (sub === 'down') {
    const runIds = positionals[1] !== undefined ? [positionals[1]] : (await listRuns()).map((r) => r.runId);
    const n = positionals[1] !== undefined ? await removeRun(positionals[1]) : await removeAllHarnessResources();
    const files = runIds.filter((id) => RUN_ID_PATTERN.test(id) && removeStackFile(cfg.resultsDir, id));
    logLine(`removed ${n} container(s)/network(s)${files.length > 0 ? ` and ${files.map((id) => `${id}/${STACK_FILE}`).join(', ')}` : ''}`);
    return ExitCode.pass;
  }
  if (sub === 'status') {
    const runs = await listRuns();
    if (runs.length === 0) process.stdout.write('no hsi-chaos stack is running\n');
    for (const r of runs) process.stdout.write(`${r.runId}  ${r.containers} container(s)${r.detached ? '  (detached)' : ''}\n`);
    return ExitCode.pass;
  }
  throw new ConfigError(`unknown stack command "${sub ?? ''}"; use up, down or status`);
}

async function cmdReport(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {}, 1);
  if (values.help) return help();
  if (positionals[0] === undefined) throw new ConfigError('report needs a run: hsi-chaos report <run-id or folder>');
  const cfg = config(values);
  const dir = resolveRunDir(positionals[0], cfg.resultsDir);
  const model = readRunReport(dir);
  const files = writeReports(runResultsOf(dir), model);
  for (const file of Object.values(files)) logLine(`wrote ${file}`);
  return ExitCode.pass;
}

async function cmdCompare(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { 'fail-on-regression': { type: 'boolean' } }, 2);
  if (values.help) return help();
  if (positionals.length < 2) throw new ConfigError('compare needs two runs: hsi-chaos compare <run> <baseline>');
  const cfg = config(values);
  const result = compareCommand({ current: positionals[0]!, baseline: positionals[1]!, resultsRoot: cfg.resultsDir, failOnRegression: values['fail-on-regression'] ?? false });
  for (const line of result.lines) process.stdout.write(`${line}\n`);
  return result.exitCode;
}

async function cmdList(args: string[]): Promise<number> {
  const { values } = parse(args, {});
  if (values.help) return help();
  const cfg = config(values);
  for (const name of listBuiltinScenarios(PROJECT_ROOT)) {
    const scenario = await loadScenario(name, { fixturesDir: cfg.fixturesDir, projectRoot: PROJECT_ROOT });
    process.stdout.write(`${name.padEnd(26)} ${scenario.description}\n`);
  }
  process.stdout.write(`\ndefects (--defect): ${DEFECT_NAMES.join(', ')}\n`);
  return ExitCode.pass;
}

async function cmdCleanup(args: string[]): Promise<number> {
  const { values } = parse(args, {});
  if (values.help) return help();
  await ensureDockerEngine({ bootstrap: false });
  logLine(`removed ${await removeLeftovers()} leftover container(s)/network(s)`);
  return ExitCode.pass;
}

function help(): number {
  process.stdout.write(`${HELP}\n`);
  return ExitCode.pass;
}

async function cmdCalibrate(args: string[], deps: CliDependencies): Promise<number> {
  const { values, positionals } = parse(args, { from: { type: 'string' }, out: { type: 'string' }, verify: { type: 'boolean' } }, 1);
  if (values.help) return help();
  const cfg = config(values);
  const scenario = await loadScenario(positionals[0] ?? DEFAULT_SCENARIO, { fixturesDir: cfg.fixturesDir, projectRoot: PROJECT_ROOT });
  return calibrate({ scenario, config: cfg, evaluator: deps.evaluator, from: values.from, out: values.out, verify: values.verify ?? false });
}

/** What the entry point injects: the assertion families live outside the harness. */
export interface CliDependencies {
  evaluator: ExperimentEvaluator;
  /** `hsi-chaos conform`'s checks (assertions/hsi/conform), wired in by bin/hsi-chaos.js. */
  conform?: ContractChecker;
}

/**
 * The CLI's edge: the only place (with the bench scripts and the test setup) that sets
 * process-wide state: testcontainers' settings, signal handlers, the uncaught-error teardown.
 */
export async function main(argv: string[], deps: CliDependencies): Promise<number> {
  configureTestcontainers();
  installCliSignalHandlers();
  teardownOnUncaughtError(ExitCode.internal);
  return runCommand(argv, deps);
}

/**
 * One command without the process-wide setup of `main`: its exit code, and a failure as one
 * line on stderr. The unit tests of bad input call it in-process (a spawned CLI costs ~1 s of
 * imports per case); a few of them still spawn bin/hsi-chaos.js end to end.
 */
export async function runCommand(argv: string[], deps: CliDependencies): Promise<number> {
  const [command, ...rest] = argv;
  try {
    return await withExitGuard(() => dispatch(command, rest, deps));
  } catch (error) {
    return reportError(error);
  }
}

async function dispatch(command: string | undefined, rest: string[], deps: CliDependencies): Promise<number> {
  switch (command) {
    case 'run':
      return await cmdRun(rest, deps);
    case 'trace-check':
      return await cmdTraceCheck(rest);
    case 'list':
      return await cmdList(rest);
    case 'images':
      return await cmdImages(rest);
    case 'docker':
      return await cmdDocker(rest);
    case 'stack':
      return await cmdStack(rest);
    case 'cleanup':
      return await cmdCleanup(rest);
    case 'report':
      return await cmdReport(rest);
    case 'compare':
      return await cmdCompare(rest);
    case 'capacity':
      return await cmdCapacity(rest);
    case 'replay':
      return await cmdReplay(rest, deps);
    case 'traces':
      return await cmdTraces(rest);
    case 'calibrate':
      return await cmdCalibrate(rest, deps);
    case 'k6':
      return await cmdK6(rest);
    case 'conform':
      return await cmdConform(rest, deps.conform);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return help();
    default:
      throw new ConfigError(`unknown command "${command}"; see hsi-chaos --help`);
  }
}

/** One line on stderr (a stack trace only with HSI_CHAOS_DEBUG=1 and only for a bug); the exit code from the one table. */
function reportError(error: unknown): number {
  if (error instanceof HarnessError) {
    process.stderr.write(`hsi-chaos: ${error.message}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`hsi-chaos: ${message}\n`);
  if (process.env['HSI_CHAOS_DEBUG'] && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
  else process.stderr.write('hsi-chaos: (set HSI_CHAOS_DEBUG=1 for the stack trace)\n');
  return ExitCode.internal;
}
