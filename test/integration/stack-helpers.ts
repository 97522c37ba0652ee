import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import { loadStackConfig, type StackConfig } from '../../harness/config/stack-config.ts';
import { backendDefectSwitches, defectSwitches, type DefectName } from '../../harness/stack/defects.ts';
import { run } from '../../harness/util/exec.ts';

export const PROJECT_ROOT = resolve(import.meta.dirname, '..', '..');

export function testConfig(): StackConfig {
  return loadStackConfig({ projectRoot: PROJECT_ROOT });
}

/** Containers and networks of one run still known to Docker (should be none after stop). */
export async function dockerResourcesOfRun(runId: string): Promise<string[]> {
  const ps = await run('docker', ['ps', '-a', '--filter', `label=hsi-chaos.run-id=${runId}`, '--format', '{{.Names}}']);
  const nets = await run('docker', ['network', 'ls', '--filter', `label=hsi-chaos.run-id=${runId}`, '--format', '{{.Name}}']);
  return [...ps.stdout.split('\n'), ...nets.stdout.split('\n')].filter((l) => l.trim() !== '');
}

/**
 * Turns exactly `defects` on in a running reference backend (POST /admin/defects; every other
 * switch off) and checks its answer: one stack can then serve a healthy run and defect runs.
 */
export async function switchBackendDefects(backendUrl: string, defects: readonly DefectName[]): Promise<void> {
  const body = backendDefectSwitches(defects);
  const res = await fetch(new URL('/admin/defects', backendUrl), { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const answer = (await res.json()) as { active?: string[] };
  expect(res.status, JSON.stringify(answer)).toBe(200);
  expect(answer.active).toEqual(Object.entries(body).filter(([, v]) => v === '1').map(([k]) => k).sort());
}

/**
 * Turns exactly `defects` on in a running detector emulator (its POST /admin/defects; the other
 * detector switch off): the detector's defects then need no stack of their own.
 */
export async function switchDetectorDefects(detectorUrl: string, defects: readonly DefectName[]): Promise<void> {
  const body = defectSwitches('detector', defects);
  const res = await fetch(new URL('/admin/defects', detectorUrl), { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const answer = (await res.json()) as { switches?: Record<string, string> };
  expect(res.status, JSON.stringify(answer)).toBe(200);
  expect(answer.switches).toEqual(Object.fromEntries(Object.entries(body).map(([k, v]) => [k, String(Number(v))])));
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 250): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The run id the CLI printed ("run <id>: results in …"), if any. */
  runId: string | undefined;
}

/** Runs the hsi-chaos CLI as a person would; `onLine` sees each stdout line and may signal it. */
export function runCli(args: string[], onLine?: (line: string, kill: (signal: NodeJS.Signals) => void) => void, timeoutMs = 280_000): Promise<CliRun> {
  return new Promise((resolvePromise) => {
    const child = spawn(join(PROJECT_ROOT, 'node_modules', '.bin', 'node'), [join(PROJECT_ROOT, 'bin', 'hsi-chaos.js'), ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CI: 'true' },
    });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLine?.(line, (signal) => child.kill(signal));
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolvePromise({ code, stdout, stderr, runId: /run (\S+): results in/.exec(stdout)?.[1] });
    });
  });
}
