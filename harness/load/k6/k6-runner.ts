import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, createWriteStream, existsSync, mkdtempSync, readFileSync, type WriteStream, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { ConfigError, ExitCode, HarnessError } from '../../errors.ts';
import type { RunResults } from '../../util/run-results.ts';
import type { Scenario } from '../../scenario/scenario-types.ts';
import type { AbortReason, LoadResult } from '../load-result.ts';
import { K6JsonOutputReader, k6ToLoadResult, type K6Summary, parseK6Summary, readK6JsonFile } from './k6-output.ts';
import { renderK6 } from './render-k6.ts';

/**
 * Runs a scenario through k6 (when it is on PATH):
 *   HSI_SCENARIO_JSON=<rendered> k6 run --out json=k6-points.json --summary-export=k6-summary.json scenarios/k6/camera-uploads.ts
 * and converts its outputs into the same LoadResult as the native driver. k6's exit code 99
 * (thresholds failed) is kept as result.exitCode 99; other non-zero codes are errors, except
 * the ones of a stop we asked for (interrupt, max duration) or the script's max-requests abort.
 */
/** The k6 script's environment variable holding the stack's API key. */
export const K6_API_KEY_ENV = 'HSI_API_KEY';

export const K6_SCRIPT = resolve(import.meta.dirname, '..', '..', '..', 'scenarios', 'k6', 'camera-uploads.ts');

export interface RunK6Options {
  backendUrl: string;
  /**
   * The stack's API key, handed to k6 as HSI_API_KEY in its environment (never written into the
   * rendered scenario: that file lands in the results and, for k6-operator, in a ConfigMap).
   */
  apiKey?: string;
  fixturesDir?: string;
  /** outputs go to its folder (default: a temporary folder) */
  results?: RunResults;
  signal?: AbortSignal;
  /** the k6 binary (default `k6` from PATH) */
  k6Command?: string;
  /** environment for k6 (default process.env) */
  env?: NodeJS.ProcessEnv;
  /** every chunk k6 prints (it also goes to k6.log) */
  onOutput?: (chunk: Buffer) => void;
  /** grace after limits.maxDuration before k6 is interrupted (default 30 s) */
  stopGraceMs?: number;
}

/** Absolute path of the k6 binary, or undefined when it is not there. */
export function findK6(command = 'k6', env: NodeJS.ProcessEnv = process.env): string | undefined {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (command.includes('/')) {
    const p = isAbsolute(command) ? command : resolve(command);
    return existsSync(p) && executable(p) ? p : undefined;
  }
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, command);
    if (existsSync(p) && executable(p)) return p;
  }
  return undefined;
}

export async function runK6(scenario: Scenario, options: RunK6Options): Promise<LoadResult> {
  if (scenario.transport.type !== 'http') {
    throw new ConfigError(`${scenario.source}: transport: the k6 driver uploads over HTTP only; use --driver native for drop-folder`);
  }
  const env = options.env ?? process.env;
  const k6 = findK6(options.k6Command ?? 'k6', env);
  if (!k6) throw new ConfigError('k6 is not on PATH; install k6 or use --driver native');

  const files = new K6Files(options.results?.dir ?? mkdtempSync(join(tmpdir(), 'hsi-chaos-k6-')));
  writeFileSync(files.scenarioJson, `${JSON.stringify(renderK6(scenario, { backendUrl: options.backendUrl, ...(options.fixturesDir ? { fixturesDir: options.fixturesDir } : {}) }), null, 2)}\n`);

  const startedAt = new Date().toISOString();
  const run = new K6Process(files, options);
  const code = await run.run(k6, env, scenario.limits.maxDurationMs + (options.stopGraceMs ?? 30_000));
  const abortReason = run.abortReason(code);

  const reader = new K6JsonOutputReader(Object.keys(scenario.scenarios), Object.keys(scenario.thresholds), scenario.metrics);
  if (existsSync(files.points)) await readK6JsonFile(files.points, reader);
  const summary = readSummary(files.summary);
  const result = k6ToLoadResult({
    scenario: scenario.name,
    executors: Object.fromEntries(Object.entries(scenario.scenarios).map(([n, w]) => [n, w.executor])),
    points: reader,
    ...(summary ? { summary } : {}),
    exitCode: code,
    ...(abortReason ? { abortReason } : {}),
    startedAt,
    thresholds: scenario.thresholds,
  });
  if (options.results) {
    const writer = options.results.ndjsonWriter('requests.ndjson');
    for (const rec of reader.requestRecords()) writer.write(rec);
    writer.close();
    options.results.writeJson('load-result.json', result);
  }
  return result;
}

/** Where one k6 run's inputs and outputs go. */
class K6Files {
  readonly dir: string;
  readonly scenarioJson: string;
  readonly points: string;
  readonly summary: string;
  readonly log: string;

  constructor(dir: string) {
    this.dir = dir;
    this.scenarioJson = join(dir, 'k6-scenario.json');
    this.points = join(dir, 'k6-points.json');
    this.summary = join(dir, 'k6-summary.json');
    this.log = join(dir, 'k6.log');
  }
}

/** k6's end-of-test summary, or undefined when it is missing or unreadable (a killed k6). */
function readSummary(file: string): K6Summary | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return parseK6Summary(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return undefined;
  }
}

/** One k6 process: its output to k6.log (the tail kept for errors), interrupted on the signal or at the time bound. */
class K6Process {
  private tail = '';
  private stopReason: AbortReason | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly files: K6Files;
  private readonly options: RunK6Options;

  constructor(files: K6Files, options: RunK6Options) {
    this.files = files;
    this.options = options;
  }

  /** k6's exit code (128 when a signal ended it). */
  async run(k6: string, env: NodeJS.ProcessEnv, boundMs: number): Promise<number> {
    const log = createWriteStream(this.files.log);
    try {
      return await new Promise<number>((resolvePromise, reject) => this.spawn(k6, env, boundMs, log, resolvePromise, reject));
    } finally {
      await new Promise<void>((r) => log.end(r));
    }
  }

  private spawn(k6: string, env: NodeJS.ProcessEnv, boundMs: number, log: WriteStream, resolvePromise: (code: number) => void, reject: (error: unknown) => void): void {
    const { files, options } = this;
    const child = spawn(k6, ['run', '--quiet', `--out`, `json=${files.points}`, `--summary-export=${files.summary}`, K6_SCRIPT], {
      env: { ...env, HSI_SCENARIO_JSON: files.scenarioJson, HSI_BACKEND_URL: options.backendUrl, K6_NO_USAGE_REPORT: 'true', ...(options.apiKey ? { [K6_API_KEY_ENV]: options.apiKey } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onChunk = (chunk: Buffer) => {
      log.write(chunk);
      this.tail = (this.tail + chunk.toString('utf8')).slice(-4000);
      options.onOutput?.(chunk);
    };
    child.stdout.on('data', onChunk);
    child.stderr.on('data', onChunk);
    const onAbort = () => this.interrupt(child, 'signal');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) this.interrupt(child, 'signal');
    const bound = setTimeout(() => this.interrupt(child, 'max-duration'), boundMs);
    child.on('error', (error) => {
      clearTimeout(bound);
      reject(error);
    });
    child.on('close', (exit, signal) => {
      clearTimeout(bound);
      if (this.killTimer) clearTimeout(this.killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      resolvePromise(exit ?? (signal ? 128 : 1));
    });
  }

  private interrupt(child: ChildProcess, reason: AbortReason): void {
    this.stopReason ??= reason;
    child.kill('SIGINT');
    this.killTimer ??= setTimeout(() => child.kill('SIGKILL'), 15_000);
  }

  /** Why the run stopped early, if it did; an exit code no stop explains is an error naming k6's last line. */
  abortReason(code: number): AbortReason | undefined {
    // 0 ok, 99 thresholds failed, 108 exec.test.abort (our max-requests bound), 105 external abort
    let abortReason = this.stopReason;
    if (code === 108 && /limits\.maxRequests/.test(this.tail)) abortReason ??= 'max-requests';
    if (code === 99 && /abortOnFail/.test(this.tail)) abortReason ??= 'threshold';
    const acceptable = code === 0 || code === 99 || abortReason !== undefined;
    if (!acceptable) {
      const last = this.tail.trim().split('\n').filter((l) => l.trim() !== '').slice(-1)[0] ?? '';
      const why = code === 104 ? 'invalid k6 configuration' : code === 107 ? 'script exception' : `exit code ${code}`;
      throw new HarnessError(`k6 failed (${why}): ${last.slice(0, 300)} (log: ${this.files.log})`, code === 104 || code === 107 ? ExitCode.usage : ExitCode.environment);
    }
    return abortReason;
  }
}
