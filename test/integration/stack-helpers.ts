import { resolve } from 'node:path';
import { loadStackConfig, type StackConfig } from '../../harness/config/stack-config.ts';
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

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 250): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
