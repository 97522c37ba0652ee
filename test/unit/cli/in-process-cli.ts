import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { vi } from 'vitest';
import { runConform } from '../../../assertions/hsi/conform/conform-runner.ts';
import { hsiExperimentEvaluator } from '../../../assertions/hsi/experiment-evaluator.ts';
import { runCommand } from '../../../harness/cli/main.ts';

/**
 * The CLI for the unit tests of bad input. `cli` runs one command in this process (runCommand:
 * what bin/hsi-chaos.js runs, without main's process-wide setup) with its stdout and stderr
 * captured; `spawnCli` runs bin/hsi-chaos.js in its own process, as a person does, for the few
 * cases that check the process itself (its exit code, its help). A spawned CLI costs ~1 s of
 * imports, so each test file keeps only a few.
 */

export const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const NODE = join(ROOT, 'node_modules', '.bin', 'node');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function spawnCli(args: string[], env: Record<string, string> = {}): CliResult {
  const res = spawnSync(NODE, [join(ROOT, 'bin', 'hsi-chaos.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, CI: 'true', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Collects what one stream was given while a command ran. */
class CapturedStream {
  private readonly chunks: string[] = [];
  private readonly spy;
  constructor(stream: NodeJS.WriteStream) {
    this.spy = vi.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      this.chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as NodeJS.WriteStream['write']);
  }
  release(): string {
    this.spy.mockRestore();
    return this.chunks.join('');
  }
}

/** One command in this process, with `env` set for its duration (CI=true as for a spawned CLI). */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  for (const [k, v] of Object.entries({ CI: 'true', ...env })) vi.stubEnv(k, v);
  const stdout = new CapturedStream(process.stdout);
  const stderr = new CapturedStream(process.stderr);
  let code: number;
  try {
    code = await runCommand(args, { evaluator: hsiExperimentEvaluator(), conform: runConform });
  } finally {
    vi.unstubAllEnvs();
  }
  return { code, stdout: stdout.release(), stderr: stderr.release() };
}
