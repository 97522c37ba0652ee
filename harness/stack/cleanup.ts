import { hostname } from 'node:os';
import { run } from '../util/exec.ts';
import { MANAGED_LABEL, RUN_ID_LABEL } from './containers/container-hardening.ts';

/**
 * Ryuk cannot run here (no registry to pull it from), so cleanup is ours:
 * every container and network the harness makes carries MANAGED_LABEL plus the
 * owner's pid and host; a resource whose owner died is a leftover of a crashed
 * run and is removed at the next start. Stacks started with `stack up` are
 * marked detached and are only removed by `stack down`.
 */
export const OWNER_PID_LABEL = 'hsi-chaos.owner-pid';
export const OWNER_HOST_LABEL = 'hsi-chaos.owner-host';
export const DETACHED_LABEL = 'hsi-chaos.detached';

export function ownerLabels(detached: boolean): Record<string, string> {
  return {
    [OWNER_PID_LABEL]: String(process.pid),
    [OWNER_HOST_LABEL]: hostname(),
    [DETACHED_LABEL]: String(detached),
  };
}

interface Resource {
  id: string;
  labels: Record<string, string>;
}

async function list(kind: 'container' | 'network', filters: string[]): Promise<Resource[]> {
  const args = kind === 'container' ? ['ps', '-a', '--no-trunc'] : ['network', 'ls', '--no-trunc'];
  for (const f of filters) args.push('--filter', `label=${f}`);
  args.push('--format', '{{.ID}}\t{{.Labels}}');
  const res = await run('docker', args);
  if (res.code !== 0) return [];
  return res.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id = '', labelText = ''] = line.split('\t');
      const labels: Record<string, string> = {};
      for (const pair of labelText.split(',')) {
        const eq = pair.indexOf('=');
        if (eq > 0) labels[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      return { id, labels };
    });
}

async function remove(containers: Resource[], networks: Resource[]): Promise<number> {
  if (containers.length > 0) await run('docker', ['rm', '-f', '-v', ...containers.map((c) => c.id)]);
  for (const n of networks) await run('docker', ['network', 'rm', n.id]);
  return containers.length + networks.length;
}

function ownerDead(r: Resource): boolean {
  if (r.labels[DETACHED_LABEL] === 'true') return false;
  if (r.labels[OWNER_HOST_LABEL] !== hostname()) return false;
  const pid = Number(r.labels[OWNER_PID_LABEL]);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/** Removes what crashed runs on this host left behind. Returns how many resources went. */
export async function removeLeftovers(): Promise<number> {
  const containers = (await list('container', [`${MANAGED_LABEL}=true`])).filter(ownerDead);
  const networks = (await list('network', [`${MANAGED_LABEL}=true`])).filter(ownerDead);
  return remove(containers, networks);
}

/** Removes every container and network of one run (used by teardown and `stack down`). */
export async function removeRun(runId: string): Promise<number> {
  const filter = [`${MANAGED_LABEL}=true`, `${RUN_ID_LABEL}=${runId}`];
  return remove(await list('container', filter), await list('network', filter));
}

/** Everything hsi-chaos made, whoever made it (`stack down --all`). */
export async function removeAllHarnessResources(): Promise<number> {
  const filter = [`${MANAGED_LABEL}=true`];
  return remove(await list('container', filter), await list('network', filter));
}

export async function listRuns(): Promise<{ runId: string; containers: number; detached: boolean }[]> {
  const runs = new Map<string, { runId: string; containers: number; detached: boolean }>();
  for (const c of await list('container', [`${MANAGED_LABEL}=true`])) {
    const runId = c.labels[RUN_ID_LABEL] ?? '?';
    const entry = runs.get(runId) ?? { runId, containers: 0, detached: c.labels[DETACHED_LABEL] === 'true' };
    entry.containers += 1;
    runs.set(runId, entry);
  }
  return [...runs.values()];
}
