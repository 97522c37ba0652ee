/**
 * Where a bench pass's CPU goes, on Linux: this Node process (all threads, and how busy its event
 * loop was), the Jaeger container (its cgroup's CPU time, else its main process's), the
 * docker-proxy that forwards the published query port (a userland copy of every byte when
 * Docker's userland proxy is on), and the whole machine (`/proc/stat`, every CPU). Whatever is
 * not available reads as undefined and is printed as "n/a"; nothing here fails a bench.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ: 100 on every Linux build that matters). */
const USER_HZ = 100;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** utime + stime of a process (all its threads), µs; undefined when it is gone or unreadable. */
export function processCpuUs(pid: number): number | undefined {
  const times = processTimesUs(pid);
  return times === undefined ? undefined : times.userUs + times.systemUs;
}

/** utime and stime of a process apart (all its threads), µs, in 1/USER_HZ steps; undefined when it is gone or unreadable. */
export function processTimesUs(pid: number): { userUs: number; systemUs: number } | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // fields after the command name (which may hold spaces, closed by the last ')'): state is field 3, utime 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  return Number.isFinite(user) && Number.isFinite(system) ? { userUs: (user * 1e6) / USER_HZ, systemUs: (system * 1e6) / USER_HZ } : undefined;
}

/** Busy and total CPU time of the whole machine (every CPU added up), µs. */
function machineCpuUs(): { busy: number; total: number } | undefined {
  const first = readText('/proc/stat')?.split('\n', 1)[0];
  if (!first?.startsWith('cpu ')) return undefined;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = first.slice(4).trim().split(/\s+/).map(Number);
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: ((total - idle - iowait) * 1e6) / USER_HZ, total: (total * 1e6) / USER_HZ };
}

/** Busy time of each CPU (`cpuN` lines of /proc/stat), µs, in CPU order. */
function perCpuBusyUs(): number[] | undefined {
  const text = readText('/proc/stat');
  if (text === undefined) return undefined;
  const out: number[] = [];
  for (const row of text.split('\n')) {
    if (!/^cpu\d+ /.test(row)) continue;
    const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = row.trim().split(/\s+/).map(Number);
    out.push(((user + nice + system + irq + softirq + steal) * 1e6) / USER_HZ);
  }
  return out;
}

/** Bytes the container sent on its eth0 (its network namespace's /proc/<pid>/net/dev): the answers it wrote, headers included. */
function containerTxBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const row = readText(`/proc/${pid}/net/dev`)?.split('\n').find((r) => r.trim().startsWith('eth0:'));
  if (row === undefined) return undefined;
  // after "eth0:": 8 receive fields, then transmit bytes
  const tx = Number(row.slice(row.indexOf(':') + 1).trim().split(/\s+/)[8]);
  return Number.isFinite(tx) ? tx : undefined;
}

/** A container's CPU time reader: its cgroup's counter (ns) where one is found, else its main process's times. */
function containerCpuReader(containerId: string, pid: number | undefined): (() => number | undefined) | undefined {
  const v1 = `/sys/fs/cgroup/cpuacct/docker/${containerId}/cpuacct.usage`;
  if (readText(v1) !== undefined) return () => Number(readText(v1)) / 1000;
  for (const v2 of [`/sys/fs/cgroup/system.slice/docker-${containerId}.scope/cpu.stat`, `/sys/fs/cgroup/docker/${containerId}/cpu.stat`]) {
    if (readText(v2) === undefined) continue;
    return () => {
      const usage = /^usage_usec (\d+)$/m.exec(readText(v2) ?? '');
      return usage ? Number(usage[1]) : undefined;
    };
  }
  return pid === undefined ? undefined : () => processCpuUs(pid);
}

/** The docker-proxy processes forwarding `hostPort` (none when Docker forwards in the kernel). */
export function proxyPids(hostPort: number): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const args = readText(`/proc/${entry}/cmdline`)?.split('\0') ?? [];
    if (!args[0]?.endsWith('docker-proxy')) continue;
    const at = args.indexOf('-host-port');
    if (at >= 0 && args[at + 1] === String(hostPort)) pids.push(Number(entry));
  }
  return pids;
}

export interface CpuReading {
  wallMs: number;
  nodeUs: number;
  loop: EventLoopUtilization;
  jaegerUs: number | undefined;
  proxyUs: number | undefined;
  machine: { busy: number; total: number } | undefined;
  perCpuBusy: number[] | undefined;
  jaegerTxBytes: number | undefined;
}

/** CPU used between two readings, µs (wall time in ms; loop busy as a fraction of wall time). */
export interface CpuUse {
  wallMs: number;
  nodeUs: number;
  loopBusy: number;
  jaegerUs: number | undefined;
  proxyUs: number | undefined;
  machineBusyUs: number | undefined;
  machineTotalUs: number | undefined;
  /** Busy µs of each CPU. */
  perCpuBusyUs: number[] | undefined;
  jaegerTxBytes: number | undefined;
}

const minus = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a - b);

export class CpuMeter {
  private readonly jaeger: (() => number | undefined) | undefined;
  private readonly proxies: readonly number[];
  private readonly jaegerPid: number | undefined;
  private constructor(jaeger: (() => number | undefined) | undefined, proxies: readonly number[], jaegerPid: number | undefined) {
    this.jaeger = jaeger;
    this.proxies = proxies;
    this.jaegerPid = jaegerPid;
  }

  /** A meter for the container `containerId` whose query port is published on `hostPort`. */
  static async forContainer(containerId: string, hostPort: number): Promise<CpuMeter> {
    let pid: number | undefined;
    try {
      const { stdout } = await run('docker', ['inspect', '--format', '{{.State.Pid}}', containerId], { timeout: 10_000 });
      pid = Number(stdout.trim()) || undefined;
    } catch {
      pid = undefined;
    }
    return new CpuMeter(containerCpuReader(containerId, pid), proxyPids(hostPort), pid);
  }

  /** What the proxy column measures, for the report. */
  describeProxy(): string {
    return this.proxies.length > 0 ? `docker-proxy pid ${this.proxies.join(', ')}` : 'no docker-proxy (kernel forwarding)';
  }

  read(): CpuReading {
    const cpu = process.cpuUsage();
    return { wallMs: performance.now(), nodeUs: cpu.user + cpu.system, loop: performance.eventLoopUtilization(), jaegerUs: this.jaeger?.(), proxyUs: this.proxyUs(), machine: machineCpuUs(), perCpuBusy: perCpuBusyUs(), jaegerTxBytes: containerTxBytes(this.jaegerPid) };
  }

  private proxyUs(): number | undefined {
    if (this.proxies.length === 0) return undefined;
    let sum = 0;
    for (const pid of this.proxies) {
      const us = processCpuUs(pid);
      if (us === undefined) return undefined;
      sum += us;
    }
    return sum;
  }

  static since(before: CpuReading, after: CpuReading): CpuUse {
    return {
      wallMs: after.wallMs - before.wallMs,
      nodeUs: after.nodeUs - before.nodeUs,
      loopBusy: performance.eventLoopUtilization(after.loop, before.loop).utilization,
      jaegerUs: minus(after.jaegerUs, before.jaegerUs),
      proxyUs: minus(after.proxyUs, before.proxyUs),
      machineBusyUs: minus(after.machine?.busy, before.machine?.busy),
      machineTotalUs: minus(after.machine?.total, before.machine?.total),
      perCpuBusyUs: after.perCpuBusy && before.perCpuBusy?.length === after.perCpuBusy.length ? after.perCpuBusy.map((x, k) => x - before.perCpuBusy![k]!) : undefined,
      jaegerTxBytes: minus(after.jaegerTxBytes, before.jaegerTxBytes),
    };
  }
}

/** CPU uses added up (one path's passes), with the traces they covered. */
export class CpuTotals {
  traces = 0;
  wallMs = 0;
  nodeUs = 0;
  /** Loop busy time, ms (utilization × wall). */
  loopBusyMs = 0;
  jaegerUs: number | undefined = 0;
  proxyUs: number | undefined = 0;
  machineBusyUs: number | undefined = 0;
  machineTotalUs: number | undefined = 0;
  perCpuBusyUs: number[] | undefined;
  jaegerTxBytes: number | undefined = 0;

  add(traces: number, use: CpuUse): void {
    this.traces += traces;
    this.wallMs += use.wallMs;
    this.nodeUs += use.nodeUs;
    this.loopBusyMs += use.loopBusy * use.wallMs;
    this.jaegerUs = plus(this.jaegerUs, use.jaegerUs);
    this.proxyUs = plus(this.proxyUs, use.proxyUs);
    this.machineBusyUs = plus(this.machineBusyUs, use.machineBusyUs);
    this.machineTotalUs = plus(this.machineTotalUs, use.machineTotalUs);
    this.jaegerTxBytes = plus(this.jaegerTxBytes, use.jaegerTxBytes);
    const perCpu = use.perCpuBusyUs;
    if (perCpu !== undefined) this.perCpuBusyUs = perCpu.map((x, k) => x + (this.perCpuBusyUs?.[k] ?? 0));
  }

  /** Each CPU's busy share over the wall time, and Jaeger's bytes sent per trace (undefined where not read). */
  extras(): { perCpuBusy?: number[]; txBytesPerTrace?: number } {
    const out: ReturnType<CpuTotals['extras']> = {};
    if (this.perCpuBusyUs !== undefined && this.wallMs > 0) out.perCpuBusy = this.perCpuBusyUs.map((us) => us / (this.wallMs * 1000));
    if (this.jaegerTxBytes !== undefined && this.traces > 0) out.txBytesPerTrace = this.jaegerTxBytes / this.traces;
    return out;
  }

  /** One row: per trace µs of each part, the loop's busy share, the machine's busy share. */
  row(): { wallUs: number; nodeUs: number; loopBusy: number; jaegerUs?: number; proxyUs?: number; restUs?: number; machineBusy?: number } {
    const per = (us: number | undefined) => (us === undefined || this.traces === 0 ? undefined : us / this.traces);
    const node = per(this.nodeUs) ?? 0;
    const jaeger = per(this.jaegerUs);
    const proxy = per(this.proxyUs);
    const busy = per(this.machineBusyUs);
    const out: ReturnType<CpuTotals['row']> = { wallUs: per(this.wallMs * 1000) ?? 0, nodeUs: node, loopBusy: this.wallMs > 0 ? this.loopBusyMs / this.wallMs : 0 };
    if (jaeger !== undefined) out.jaegerUs = jaeger;
    if (proxy !== undefined) out.proxyUs = proxy;
    if (busy !== undefined) out.restUs = busy - node - (jaeger ?? 0) - (proxy ?? 0);
    if (this.machineBusyUs !== undefined && this.machineTotalUs) out.machineBusy = this.machineBusyUs / this.machineTotalUs;
    return out;
  }
}

function plus(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a + b;
}
