import { hostname } from 'node:os';
import { EnvironmentError } from '../errors.ts';
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

export interface Resource {
  id: string;
  labels: Record<string, string>;
}

async function list(kind: 'container' | 'network' | 'volume', filters: string[]): Promise<Resource[]> {
  const args = kind === 'container' ? ['ps', '-a', '--no-trunc'] : kind === 'network' ? ['network', 'ls', '--no-trunc'] : ['volume', 'ls'];
  for (const f of filters) args.push('--filter', `label=${f}`);
  // Volumes have no id: their name is the handle (compose stacks' named volumes carry our labels).
  args.push('--format', kind === 'volume' ? '{{.Name}}\t{{.Labels}}' : '{{.ID}}\t{{.Labels}}');
  const res = await run('docker', args);
  if (res.code !== 0) throw new EnvironmentError(`docker ${args.slice(0, 2).join(' ')} failed (exit ${res.code}): ${firstLine(res.stderr)}; is the Docker engine running? (hsi-chaos docker ensure)`);
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

const firstLine = (text: string) => text.trim().split('\n')[0] ?? '';

/** Docker says a resource is already gone (removed by its own teardown in the meantime). */
const alreadyGone = (stderr: string) => /No such (container|network)|is already in progress|not found/i.test(stderr);

/** Removes them; a failure other than "already gone" is an error naming the resource. Returns how many went. */
async function remove(containers: Resource[], networks: Resource[], options: { busyNetworksOk?: boolean; volumes?: Resource[] } = {}): Promise<number> {
  const failures: string[] = [];
  if (containers.length > 0) {
    const res = await run('docker', ['rm', '-f', '-v', ...containers.map((c) => c.id)]);
    if (res.code !== 0 && !alreadyGone(res.stderr)) failures.push(`docker rm: ${firstLine(res.stderr)}`);
  }
  for (const n of networks) {
    const res = await run('docker', ['network', 'rm', n.id]);
    const busy = options.busyNetworksOk === true && /active endpoints/i.test(res.stderr);
    if (res.code !== 0 && !alreadyGone(res.stderr) && !busy) failures.push(`docker network rm ${n.id.slice(0, 12)}: ${firstLine(res.stderr)}`);
  }
  for (const v of options.volumes ?? []) {
    const res = await run('docker', ['volume', 'rm', v.id]);
    if (res.code !== 0 && !alreadyGone(res.stderr) && !/in use/i.test(res.stderr)) failures.push(`docker volume rm ${v.id}: ${firstLine(res.stderr)}`);
  }
  if (failures.length > 0) throw new EnvironmentError(`cleanup incomplete: ${failures.join('; ')}`);
  return containers.length + networks.length + (options.volumes?.length ?? 0);
}

/** How process.kill(pid, 0) answered: ESRCH is the only proof that the owner is gone. */
export function pidAlive(pid: number, kill: (pid: number, signal: 0) => unknown = (p, s) => process.kill(p, s)): boolean {
  try {
    kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else; alive. Anything but ESRCH: not proof of death.
    return (error as { code?: unknown }).code !== 'ESRCH';
  }
}

export function ownerDead(r: Resource, alive: (pid: number) => boolean = pidAlive): boolean {
  if (r.labels[DETACHED_LABEL] === 'true') return false;
  if (r.labels[OWNER_HOST_LABEL] !== hostname()) return false;
  const pid = Number(r.labels[OWNER_PID_LABEL]);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  return !alive(pid);
}

/** Removes what crashed runs on this host left behind. Returns how many resources went. */
export async function removeLeftovers(): Promise<number> {
  const containers = (await list('container', [`${MANAGED_LABEL}=true`])).filter((r) => ownerDead(r));
  const networks = (await list('network', [`${MANAGED_LABEL}=true`])).filter((r) => ownerDead(r));
  const volumes = (await list('volume', [`${MANAGED_LABEL}=true`])).filter((r) => ownerDead(r));
  // Another process may be removing the same leftovers: a network still busy with its containers is theirs to finish.
  return remove(containers, networks, { busyNetworksOk: true, volumes });
}

/** Removes every container and network of one run (used by teardown and `stack down`). */
export async function removeRun(runId: string): Promise<number> {
  const filter = [`${MANAGED_LABEL}=true`, `${RUN_ID_LABEL}=${runId}`];
  return remove(await list('container', filter), await list('network', filter), { volumes: await list('volume', filter) });
}

/** Everything hsi-chaos made, whoever made it (`stack down --all`). */
export async function removeAllHarnessResources(): Promise<number> {
  const filter = [`${MANAGED_LABEL}=true`];
  return remove(await list('container', filter), await list('network', filter), { volumes: await list('volume', filter) });
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
