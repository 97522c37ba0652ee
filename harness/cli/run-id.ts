import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';

/**
 * `--run-id`: names the results folder, the containers' run-id label and the Docker network,
 * so it must be safe in all three: a letter or digit first, then letters, digits, `.`, `_`
 * and `-`, at most 100 characters (Docker's own rule for names, shorter). The folder must be
 * inside the results folder, and one run id is one run: an existing folder is refused unless
 * `--replace`, and even then not while a live stack carries that id.
 */
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export function checkRunId(runId: string): string {
  if (!RUN_ID_PATTERN.test(runId) || runId.includes('..')) {
    throw new ConfigError(`--run-id "${runId}": use 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit (it names a folder under results/ and the stack's containers)`);
  }
  return runId;
}

/** results/<runId>, refusing anything that would land outside the results folder. */
export function runDirInside(resultsRoot: string, runId: string): string {
  const root = resolve(resultsRoot);
  const dir = resolve(root, runId);
  const rel = relative(root, dir);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new ConfigError(`--run-id "${runId}": the results folder would be outside ${root}`);
  return dir;
}

/** The cheap part of the claim, for the CLI to say it before anything slow: an existing run without --replace. */
export function refuseExistingRunDir(resultsRoot: string, runId: string, replace: boolean): string {
  const dir = runDirInside(resultsRoot, checkRunId(runId));
  if (existsSync(dir) && !replace) throw new ConfigError(`--run-id "${runId}": ${dir} already exists; choose another id or pass --replace to overwrite that run's results`);
  return dir;
}

export interface ClaimOptions {
  resultsRoot: string;
  runId: string;
  replace: boolean;
  /** Run ids of stacks whose containers are still up (live owner or detached). */
  liveRunIds: () => Promise<readonly string[]>;
}

/**
 * Claims results/<runId> for this run: mkdir without `recursive` is atomic, so of two runs
 * started with one id only one gets the folder; the other stops here with exit 2, before a
 * container starts (and so before its cleanup could touch the first one's containers).
 */
export async function claimRunDir(options: ClaimOptions): Promise<string> {
  const runId = options.runId;
  const dir = refuseExistingRunDir(options.resultsRoot, runId, options.replace);
  mkdirSync(resolve(options.resultsRoot), { recursive: true });
  if (existsSync(dir)) {
    if ((await options.liveRunIds()).includes(runId)) {
      throw new ConfigError(`--run-id "${runId}": a stack with that id is still running; wait for it, or remove it with "hsi-chaos stack down ${runId}"`);
    }
    rmSync(dir, { recursive: true, force: true }); // inside the results folder (checked above)
  }
  try {
    mkdirSync(dir);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EEXIST') throw new ConfigError(`--run-id "${runId}": another run took that id a moment ago; choose another id`);
    throw error;
  }
  return dir;
}

/** Gives the folder back when the run stopped before writing anything (bad input found late). */
export function releaseEmptyRunDir(dir: string): void {
  try {
    if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    // best effort: a folder that cannot be removed only costs the id
  }
}
