import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadStackConfig, type StackConfig } from '../config/stack-config.ts';
import { ConfigError, ExitCode, HarnessError } from '../errors.ts';
import { runExperiment, type ExperimentTarget } from '../experiment/experiment-runner.ts';
import { resolveRunDir } from '../report/compare.ts';
import { beyondNoise, DEFAULT_FIDELITY_TOLERANCES, noiseOf, type FidelityTolerances, type ReplayFidelityView } from '../report/replay-fidelity.ts';
import { replayFidelityObserver } from '../replay/fidelity-observer.ts';
import { readJaeger, readTraceFile, type TraceInput } from '../replay/input.ts';
import { reconstruct, type ReplayPlan } from '../replay/reconstruct.ts';
import { redactTraces } from '../replay/redact.ts';
import { writeScenarioSource } from '../replay/scenario-writer.ts';
import { loadScenario } from '../scenario/load-scenario.ts';
import { parseDefects } from '../stack/defects.ts';
import { RUN_TRACES_FILE, toLegacyJson } from '../traces/legacy-export.ts';
import { parseDurationMs } from '../util/duration.ts';
import type { CliDependencies } from './main.ts';
import { printExperiment } from './main.ts';
import { readStackFile, type ExternalStack } from './stack-file.ts';
import { ensureDockerEngine } from '../stack/docker-engine.ts';
import { colour, logLine } from './output.ts';
import { REPLAY_HELP } from './replay-help.ts';

/**
 * `hsi-chaos replay` (traces → scenario file, optionally run with a fidelity section) and
 * `hsi-chaos traces export` (a run's or a Jaeger's traces → Jaeger legacy JSON file).
 */

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCENARIO_TYPES = join(PROJECT_ROOT, 'harness', 'scenario', 'scenario-types.ts');

const SOURCE_OPTIONS = {
  jaeger: { type: 'string' },
  service: { type: 'string' },
  start: { type: 'string' },
  end: { type: 'string' },
  since: { type: 'string' },
  'trace-id': { type: 'string', multiple: true },
  redact: { type: 'boolean' },
  out: { type: 'string' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const REPLAY_OPTIONS = {
  ...SOURCE_OPTIONS,
  name: { type: 'string' },
  'sampling-rate': { type: 'string' },
  'min-inflation': { type: 'string' },
  run: { type: 'boolean' },
  external: { type: 'string' },
  driver: { type: 'string' },
  'run-id': { type: 'string' },
  'tolerance-p95': { type: 'string' },
  'tolerance-errors': { type: 'string' },
  'tolerance-window': { type: 'string' },
  'tolerance-load': { type: 'string' },
  'strict-p95': { type: 'boolean' },
  aa: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];


function parse<T extends ParseArgsConfig['options']>(args: string[], options: T, positionals: number) {
  try {
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
    if (parsed.positionals.length > positionals) throw new ConfigError(`unexpected argument "${parsed.positionals[positionals]}"; see hsi-chaos --help`);
    return parsed;
  } catch (error) {
    if (error instanceof HarnessError) throw error;
    throw new ConfigError(`${(error as Error).message.split('\n')[0]}; see hsi-chaos --help`);
  }
}

function numberFlag(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new ConfigError(`--${name} must be a number from ${min} to ${max} (got "${value}")`);
  return n;
}

function dateFlag(value: string, name: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new ConfigError(`--${name} must be a time such as 2026-12-01T14:05:00Z (got "${value}")`);
  return d;
}

interface SourceValues {
  jaeger?: string | undefined;
  service?: string | undefined;
  start?: string | undefined;
  end?: string | undefined;
  since?: string | undefined;
  'trace-id'?: string[] | undefined;
  redact?: boolean | undefined;
}

/** The traces named on the command line: a file, or a Jaeger query. */
async function readInput(file: string | undefined, values: SourceValues): Promise<TraceInput> {
  if (file !== undefined && values.jaeger !== undefined) throw new ConfigError('give either a trace FILE or --jaeger URL, not both');
  if (file !== undefined) return readTraceFile(file);
  if (values.jaeger === undefined) throw new ConfigError('no traces given: pass a trace FILE (Jaeger JSON export or OTLP JSON) or --jaeger URL with a window');
  let startMin: Date | undefined;
  let startMax: Date | undefined;
  if (values.since !== undefined) {
    const ms = parseDurationMs(values.since);
    if (ms === undefined || ms <= 0) throw new ConfigError(`--since must be a duration such as 15m (got "${values.since}")`);
    startMax = new Date();
    startMin = new Date(startMax.getTime() - ms);
  } else if (values.start !== undefined || values.end !== undefined) {
    if (values.start === undefined || values.end === undefined) throw new ConfigError('--start and --end go together (or use --since)');
    startMin = dateFlag(values.start, 'start');
    startMax = dateFlag(values.end, 'end');
    if (startMin >= startMax) throw new ConfigError('--start must be before --end');
  }
  return readJaeger({ url: values.jaeger, service: values.service ?? 'nemotron-backend', ...(startMin && startMax ? { startMin, startMax } : {}), traceIds: values['trace-id'] ?? [] });
}

/** fixtures/images/<folder>/<file> → size, for matching the incident's image sizes. */
function fixtureSizes(dir: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  if (!existsSync(dir)) return out;
  for (const folder of readdirSync(dir).sort()) {
    const path = join(dir, folder);
    if (!statSync(path).isDirectory()) continue;
    const files = readdirSync(path).filter((f) => /\.(jpe?g|png)$/i.test(f));
    if (files.length > 0) out[folder] = Object.fromEntries(files.map((f) => [f, statSync(join(path, f)).size]));
  }
  return out;
}

function tolerances(values: Record<string, string | boolean | string[] | undefined>): FidelityTolerances {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const windowMs = str('tolerance-window') !== undefined ? parseDurationMs(str('tolerance-window')!) : undefined;
  if (str('tolerance-window') !== undefined && windowMs === undefined) throw new ConfigError(`--tolerance-window must be a duration such as 1s (got "${str('tolerance-window')}")`);
  return {
    ...DEFAULT_FIDELITY_TOLERANCES,
    p95Relative: numberFlag(str('tolerance-p95'), 'tolerance-p95', 0, 10) ?? DEFAULT_FIDELITY_TOLERANCES.p95Relative,
    errorsRelative: numberFlag(str('tolerance-errors'), 'tolerance-errors', 0, 10) ?? DEFAULT_FIDELITY_TOLERANCES.errorsRelative,
    loadRelative: numberFlag(str('tolerance-load'), 'tolerance-load', 0, 10) ?? DEFAULT_FIDELITY_TOLERANCES.loadRelative,
    windowOffsetMs: windowMs ?? DEFAULT_FIDELITY_TOLERANCES.windowOffsetMs,
    ksAlpha: values['strict-p95'] === true ? 0 : DEFAULT_FIDELITY_TOLERANCES.ksAlpha,
  };
}

function defaultName(input: TraceInput): string {
  const first = Math.min(...input.traces.flatMap((t) => t.spans.map((s) => s.startTimeMs)));
  return `replay-${new Date(first).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'z').toLowerCase()}`;
}

function printPlan(plan: ReplayPlan, out: string): void {
  const l = plan.load;
  const lines = [
    `${colour.bold('hsi-chaos replay')} ${plan.name}: ${plan.incident.traces} traces, ${plan.incident.spans} spans, ${plan.incident.uploads} uploads from ${plan.input}`,
    `  load             ${l.kind === 'constant' ? `${l.rate}/${l.timeUnit} constant` : `${l.stages.length / 2} steps`} for ${(l.durationMs / 1000).toFixed(1)} s; cameras ${plan.cameras.map((c) => `${c.id} ${Math.round(c.weight * 100)} %`).join(', ')}`,
    ...plan.faults.map((f) => `  fault            ${f.name} on ${f.target}: ${(f.atMs / 1000).toFixed(2)}–${((f.atMs + f.durationMs) / 1000).toFixed(2)} s ${JSON.stringify(f.fault)}`),
    ...plan.hints.map((h) => `  hint             ${h.key}=${h.value.length > 60 ? `${h.value.slice(0, 40)}… (${h.value.length} characters, in the file)` : h.value} (${h.source})`),
    `  scenario         ${out}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

/** --aa: the p95 misses outside the band, each beside the A/A difference of the same operation (the rest is in report.html). */
export function noiseLines(view: ReplayFidelityView): string[] {
  if (!view.noise) return [];
  const pct = (d: number | null) => (d === null ? '–' : `${d > 0 ? '+' : ''}${(d * 100).toFixed(0)} %`);
  const misses = view.operations.filter((o) => o.judged && !o.p95Ok);
  const shown = misses.map((o) => `${o.name} ${pct(o.p95Diff)} (A/A ${pct(noiseOf(view, o))}${beyondNoise(view, o) === true ? ', beyond' : ''})`);
  return [`    A/A noise        ${view.noise.operations.length} operations; p95 outside the band: ${shown.join('; ') || 'none'}`];
}

function printFidelity(view: ReplayFidelityView): void {
  const verdict = view.verdict === 'faithful' ? colour.green('FAITHFUL') : colour.red('UNFAITHFUL');
  const lines = [`  replay fidelity  ${verdict}`, ...view.windows.map((w) => `    window ${w.target} ${w.faultType}: start ${w.startOffsetSec?.toFixed(2) ?? '–'} s, end ${w.endOffsetSec?.toFixed(2) ?? '–'} s`), ...noiseLines(view), ...view.failures.map((f) => `    ${colour.red('✗')} ${f}`), ''];
  process.stdout.write(lines.join('\n'));
}

async function runReplay(file: string, input: TraceInput, values: Record<string, string | boolean | string[] | undefined>, cfg: StackConfig, deps: CliDependencies): Promise<number> {
  const scenario = await loadScenario(file, { fixturesDir: cfg.fixturesDir, projectRoot: PROJECT_ROOT });
  const driver = typeof values['driver'] === 'string' ? values['driver'] : 'native';
  if (driver !== 'native' && driver !== 'k6') throw new ConfigError(`--driver must be native or k6 (got "${driver}")`);
  const external = typeof values['external'] === 'string' ? values['external'] : undefined;
  const target: ExperimentTarget =
    external !== undefined
      ? { kind: 'external', ...withoutFile(readStackFile(external, cfg.resultsDir)) }
      : { kind: 'embedded', defects: parseDefects(scenario.stack?.defects ?? []), backendEnv: scenario.stack?.backend ?? {}, detectorEnv: scenario.stack?.detector ?? {}, llmEnv: scenario.stack?.llm ?? {} };
  const tol = tolerances(values);
  const runId = typeof values['run-id'] === 'string' ? values['run-id'] : undefined;
  if (target.kind === 'embedded') await ensureDockerEngine({ bootstrap: cfg.dockerBootstrap, log: logLine });
  // --aa: the scenario runs twice; the second run is the replay judged, the first its noise reference
  const first = values.aa === true ? await runExperiment({ scenario, config: cfg, target, evaluator: deps.evaluator, driver, log: logLine }) : undefined;
  const aa = first ? { traces: readTraceFile(join(first.resultsDir, RUN_TRACES_FILE)).traces, reference: `${scenario.name} (runs ${first.report.runId} and the one below)` } : undefined;
  const observers = [replayFidelityObserver(input, tol, aa)];
  const outcome = await runExperiment({ scenario, config: cfg, target, evaluator: deps.evaluator, driver, log: logLine, observers, ...(runId ? { runId } : {}) });
  printExperiment(outcome.report, outcome.resultsDir);
  if (outcome.report.replayFidelity) printFidelity(outcome.report.replayFidelity);
  if (outcome.exitCode !== ExitCode.pass) return outcome.exitCode;
  return outcome.report.replayFidelity?.verdict === 'unfaithful' ? ExitCode.expectationFailed : ExitCode.pass;
}

export async function cmdReplay(args: string[], deps: CliDependencies): Promise<number> {
  const { values, positionals } = parse(args, REPLAY_OPTIONS, 1);
  if (values.help) {
    process.stdout.write(`${REPLAY_HELP}\n`);
    return ExitCode.pass;
  }
  const cfg = loadStackConfig({ projectRoot: PROJECT_ROOT, ...(values.config !== undefined ? { file: values.config } : {}) });
  if (values.external !== undefined && !values.run) throw new ConfigError('--external needs --run');
  if (values.aa === true && !values.run) throw new ConfigError('--aa needs --run (it runs the replay twice)');
  tolerances(values);
  const input = await readInput(positionals[0], values);
  const name = values.name ?? defaultName(input);
  if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(name)) throw new ConfigError(`--name ${name}: lower-case letters, digits and - (e.g. "incident-1201")`);
  const samplingRate = numberFlag(values['sampling-rate'], 'sampling-rate', 0.0001, 1);
  const minInflationMs = numberFlag(values['min-inflation'], 'min-inflation', 1, 600_000);
  const plan = reconstruct(input.traces, {
    name,
    input: input.description,
    fixtures: fixtureSizes(cfg.fixturesDir),
    redact: values.redact === true,
    ...(samplingRate !== undefined ? { samplingRate } : {}),
    ...(minInflationMs !== undefined ? { minInflationMs } : {}),
  });
  const out = resolve(values.out ?? join(cfg.resultsDir, 'replays', `${name}.ts`));
  mkdirSync(dirname(out), { recursive: true });
  let importPath = relative(dirname(out), SCENARIO_TYPES).split('\\').join('/');
  if (!importPath.startsWith('.')) importPath = `./${importPath}`;
  writeFileSync(out, writeScenarioSource(plan, importPath));
  printPlan(plan, out);
  if (!values.run) return ExitCode.pass;
  return runReplay(out, input, values, cfg, deps);
}

export async function cmdTraces(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, SOURCE_OPTIONS, 2);
  if (values.help || positionals[0] !== 'export') {
    if (!values.help) throw new ConfigError(`unknown traces command "${positionals[0] ?? ''}"; use "hsi-chaos traces export RUN --out FILE"`);
    process.stdout.write(`${REPLAY_HELP}\n`);
    return ExitCode.pass;
  }
  if (values.out === undefined) throw new ConfigError('traces export needs --out FILE');
  const cfg = loadStackConfig({ projectRoot: PROJECT_ROOT, ...(values.config !== undefined ? { file: values.config } : {}) });
  let input: TraceInput;
  if (values.jaeger !== undefined) {
    if (positionals[1] !== undefined) throw new ConfigError('give either a RUN or --jaeger URL, not both');
    input = await readInput(undefined, values);
  } else {
    if (positionals[1] === undefined) throw new ConfigError('traces export needs a run (id or folder) or --jaeger URL');
    const dir = resolveRunDir(positionals[1], cfg.resultsDir);
    const file = join(dir, RUN_TRACES_FILE);
    if (!existsSync(file)) throw new ConfigError(`${positionals[1]}: no ${RUN_TRACES_FILE} in ${dir} (runs keep their traces once the pipeline drained; is this a run folder?)`);
    input = readTraceFile(file);
  }
  const traces = values.redact ? redactTraces(input.traces).traces : input.traces;
  mkdirSync(dirname(resolve(values.out)), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(toLegacyJson(traces))}\n`);
  logLine(`wrote ${traces.length} traces (${traces.reduce((n, t) => n + t.spans.length, 0)} spans) from ${basename(input.description)} to ${values.out}`);
  return ExitCode.pass;
}

/** stack.json's endpoints without the path it was read from. */
function withoutFile(stack: ExternalStack & { file: string }): ExternalStack {
  const { file: _file, ...rest } = stack;
  return rest;
}
