/**
 * `--pin` for the trace bench: Jaeger's container and the docker-proxy of its query port on one
 * CPU, the bench process on another, so that the harness's CPU does not slow Jaeger's answers
 * (as with a production Jaeger on its own machine). Linux only: `docker update --cpuset-cpus`
 * for the container, `taskset -a -p -c` for processes (every thread); what each got is read back
 * from `/proc/<pid>/status` (Cpus_allowed_list) for the report. Other processes on the machine
 * are not moved: they may still run on either CPU.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Why `--pin` cannot run here (one line), or undefined when it can. */
export function pinRefusal(): string | undefined {
  if (cpus().length < 2) return `--pin: needs at least 2 CPUs (this machine has ${cpus().length}); run without --pin`;
  const probe = spawnSync('taskset', ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (probe.error !== undefined || probe.status !== 0) return '--pin: taskset is not on PATH (util-linux); install it or run without --pin';
  return undefined;
}

/** The CPUs a process may run on, as the kernel lists them (`0`, `1`, `0-1`), or `?` when unreadable. */
export function allowedCpus(pid: number): string {
  try {
    return /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?';
  } catch {
    return '?';
  }
}

/** What was pinned where, read back from the kernel and Docker. */
export interface Pinning {
  benchCpu: number;
  jaegerCpu: number;
  /** Docker's HostConfig.CpusetCpus of the container after the update. */
  containerCpuset: string;
  jaegerPid: number;
  proxyPids: readonly number[];
  describe(): string;
}

async function taskset(pid: number, cpu: number): Promise<void> {
  await run('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { timeout: 10_000 });
}

/**
 * Jaeger's container (`containerId`) and the `proxyPids` on the last CPU, this process on CPU 0.
 * Throws when Docker or taskset refuse, or when what they report is not what was asked.
 */
export async function pinCores(containerId: string, proxyPids: readonly number[]): Promise<Pinning> {
  const benchCpu = 0;
  const jaegerCpu = cpus().length - 1;
  await run('docker', ['update', '--cpuset-cpus', String(jaegerCpu), containerId], { timeout: 30_000 });
  const { stdout } = await run('docker', ['inspect', '--format', '{{.HostConfig.CpusetCpus}} {{.State.Pid}}', containerId], { timeout: 10_000 });
  const [containerCpuset = '', pidText = ''] = stdout.trim().split(' ');
  const jaegerPid = Number(pidText);
  if (containerCpuset !== String(jaegerCpu)) throw new Error(`--pin: docker update --cpuset-cpus ${jaegerCpu} left the container's cpuset at "${containerCpuset}"`);
  for (const pid of proxyPids) await taskset(pid, jaegerCpu);
  await taskset(process.pid, benchCpu);
  const checks = [[jaegerPid, jaegerCpu], ...proxyPids.map((pid) => [pid, jaegerCpu]), [process.pid, benchCpu]] as const;
  for (const [pid, cpu] of checks) {
    if (allowedCpus(pid) !== String(cpu)) throw new Error(`--pin: pid ${pid} may run on CPUs ${allowedCpus(pid)}, expected ${cpu}`);
  }
  return {
    benchCpu,
    jaegerCpu,
    containerCpuset,
    jaegerPid,
    proxyPids,
    describe: () =>
      `pinned: Jaeger's container on CPU ${jaegerCpu} (cpuset "${containerCpuset}", pid ${jaegerPid} allowed ${allowedCpus(jaegerPid)}), ` +
      `its query port's docker-proxy ${proxyPids.length === 0 ? '(none: kernel forwarding)' : proxyPids.map((pid) => `pid ${pid} allowed ${allowedCpus(pid)}`).join(', ')}, ` +
      `this process (every thread) on CPU ${benchCpu} (pid ${process.pid} allowed ${allowedCpus(process.pid)}); other processes on the machine are not moved`,
  };
}
