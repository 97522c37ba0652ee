/**
 * CPU time per request of the native load driver against autocannon on the bench's max-rate
 * path (bench/load-driver.bench.ts step 1: closed model, CONNECTIONS VUs, pipelining 1, the
 * same 4 KiB multipart upload to the same loopback server), one command:
 *
 *   node bench/driver-cpu.ts [--rounds 6] [--round-seconds 2] [--connections 64]
 *        [--tools native,autocannon] [--baseline CHECKOUT] [--together] [--cpu-prof DIR]
 *        [--host-flags '--trace-gc ...'] [--no-pin]
 *
 * Each tool runs in its own long-lived host process (load-driver-host.ts), one uncounted
 * warm-up round each, then interleaved rounds; a round's number is the host process's CPU time
 * (process.cpuUsage, user + system) over the requests it completed. CPU per request moves far
 * less than req/s when other work shares the machine (a process waiting for a CPU spends none),
 * so it is the number to compare changes of the driver with. `--baseline CHECKOUT` adds the
 * native driver of another checkout (e.g. `git archive main | tar -x -C /tmp/base`, with a
 * node_modules link) as tool `baseline`, interleaved round by round with this one: a change's
 * effect is the median of the per-round ratios, both builds under the same load. `--together`
 * runs every host's round at the same time (each with CONNECTIONS connections, same CPU, same
 * server): on a machine others load, both sides of a comparison then see the same moments,
 * where alternating rounds see different ones (an A/A pair alternating under load spread
 * 82–151 %). The server's numbers are then those of all hosts' requests. `--cpu-prof
 * DIR` writes a V8 CPU profile of this checkout's native host (all its rounds) into DIR;
 * `--host-flags` passes other node flags to that host (e.g. `--trace-gc`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exactPercentile } from '../harness/load/histogram.ts';
import { processCpuUs, processTimesUs } from './cpu-accounting.ts';
import { Placement, prepareWork, startServer, ToolHost } from './load-driver-tools.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '6' },
    'round-seconds': { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    tools: { type: 'string', default: 'native,autocannon' },
    baseline: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'host-flags': { type: 'string', default: '' },
    together: { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
  },
});
const bounded = (raw: string, lo: number, hi: number) => Math.min(hi, Math.max(lo, Math.round(Number(raw) || lo)));
const ROUNDS = bounded(args.rounds, 1, 30);
const ROUND_SECONDS = bounded(args['round-seconds'], 1, 30);
const CONNECTIONS = bounded(args.connections, 1, 1024);
const KNOWN = ['native', 'autocannon', 'undici-raw', 'bare-net'];
const TOOLS = args.tools.split(',').map((t) => t.trim());
const PLACEMENT = new Placement(args['no-pin']);
const TOGETHER = args.together;

function line(text: string): void {
  process.stdout.write(`${text}\n`);
}

interface Round {
  rate: number;
  cpuUs: number;
  /** the host's user and kernel CPU per request (from /proc, 10 ms steps): the driver's own code runs in user time */
  userUs: number;
  systemUs: number;
  /** the server's CPU per request of this round, and its busy share of the round's wall time */
  serverUs: number;
  serverBusy: number;
}

const median = (xs: readonly number[]) => exactPercentile([...xs].sort((a, b) => a - b), 50);
const range = (xs: readonly number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;

/** One round of every host: one after the other (rotating order), or all at once with --together. */
class RoundRunner {
  private readonly hosts: readonly ToolHost[];
  private readonly serverPid: number;
  constructor(hosts: readonly ToolHost[], serverPid: number) {
    this.hosts = hosts;
    this.serverPid = serverPid;
  }

  /** `hosts` at once: each one's rate and CPU per request, and the server's CPU per request of them all */
  async run(hosts: readonly ToolHost[]): Promise<Round[]> {
    const times = () => hosts.map((h) => processTimesUs(h.pid ?? 0) ?? { userUs: Number.NaN, systemUs: Number.NaN });
    const s0 = processCpuUs(this.serverPid) ?? Number.NaN;
    const h0 = times();
    const t0 = performance.now();
    const answers = await Promise.all(hosts.map((h) => h.ask({ op: 'max', seconds: ROUND_SECONDS })));
    const h1 = times();
    const serverCpu = (processCpuUs(this.serverPid) ?? Number.NaN) - s0;
    const requests = answers.reduce((sum, a) => sum + a.rate * ROUND_SECONDS, 0);
    const serverBusy = serverCpu / ((performance.now() - t0) * 1000);
    return answers.map((a, i) => {
      const n = a.rate * ROUND_SECONDS;
      const userUs = ((h1[i]?.userUs ?? Number.NaN) - (h0[i]?.userUs ?? Number.NaN)) / n;
      const systemUs = ((h1[i]?.systemUs ?? Number.NaN) - (h0[i]?.systemUs ?? Number.NaN)) / n;
      return { rate: a.rate, cpuUs: a.cpuUs ?? Number.NaN, userUs, systemUs, serverUs: serverCpu / requests, serverBusy };
    });
  }

  async round(round: number, together: boolean): Promise<Map<ToolHost, Round>> {
    const out = new Map<ToolHost, Round>();
    if (together) {
      const rs = await this.run(this.hosts);
      this.hosts.forEach((h, i) => out.set(h, rs[i] as Round));
      return out;
    }
    const order = this.hosts.map((_, k) => this.hosts[(k + round) % this.hosts.length] as ToolHost);
    for (const h of order) out.set(h, (await this.run([h]))[0] as Round);
    return out;
  }
}

async function measure(hosts: readonly ToolHost[], serverPid: number): Promise<Map<string, Round[]>> {
  const rounds = new Map<string, Round[]>(hosts.map((h) => [h.name, []]));
  const runner = new RoundRunner(hosts, serverPid);
  await runner.round(0, TOGETHER);
  for (let round = 0; round < ROUNDS; round++) {
    const cells: string[] = [];
    for (const [h, r] of await runner.round(round, TOGETHER)) {
      rounds.get(h.name)?.push(r);
      cells.push(`${h.name} ${r.cpuUs.toFixed(2)} µs/req (user ${r.userUs.toFixed(1)}, sys ${r.systemUs.toFixed(1)}) ${r.rate.toFixed(0)} req/s (server ${r.serverUs.toFixed(1)} µs/req, ${(r.serverBusy * 100).toFixed(0)} % busy)`);
    }
    line(`round ${round + 1}: ${cells.join(', ')}`);
  }
  return rounds;
}

function report(rounds: Map<string, Round[]>, load0: number): void {
  line('');
  for (const [name, rs] of rounds) {
    const cpu = rs.map((r) => r.cpuUs);
    const server = `server ${median(rs.map((r) => r.serverUs)).toFixed(1)} µs/request, ${(median(rs.map((r) => r.serverBusy)) * 100).toFixed(0)} % busy`;
    const split = `user ${median(rs.map((r) => r.userUs)).toFixed(2)} + sys ${median(rs.map((r) => r.systemUs)).toFixed(2)}`;
    line(`${name.padEnd(11)} CPU ${median(cpu).toFixed(2)} µs/request (median of ${rs.length}, range ${range(cpu)}; ${split}), ${median(rs.map((r) => r.rate)).toFixed(0)} req/s; ${server}`);
  }
  const native = rounds.get('native');
  for (const peer of ['autocannon', 'baseline']) {
    const theirs = rounds.get(peer);
    if (!native || !theirs) continue;
    const ratios = native.map((r, i) => r.cpuUs / (theirs[i]?.cpuUs ?? Number.NaN));
    const users = native.map((r, i) => r.userUs / (theirs[i]?.userUs ?? Number.NaN));
    line(`native CPU / ${peer} CPU per request = ${(median(ratios) * 100).toFixed(1)} % (median of per-round ratios, range ${range(ratios.map((x) => x * 100))} %); user time alone ${(median(users) * 100).toFixed(1)} % (range ${range(users.map((x) => x * 100))} %)`);
  }
  line(`load average (1 min) ${load0.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after; ${PLACEMENT.describe()}`);
}

async function main(): Promise<void> {
  const unknown = TOOLS.filter((t) => !KNOWN.includes(t));
  if (unknown.length > 0 || TOOLS.length === 0) {
    process.stderr.write(`--tools: unknown ${unknown.join(', ')}; give a comma list of ${KNOWN.join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'hsi-driver-cpu-'));
  prepareWork(work);
  const { url, child } = await startServer(PLACEMENT);
  const profDir = args['cpu-prof'] === undefined ? undefined : resolve(args['cpu-prof']);
  const hosts = TOOLS.map((t) => {
    const flags = args['host-flags'].split(' ').filter((f) => f !== '');
    const nodeArgs = t !== 'native' ? [] : profDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', profDir, ...flags] : flags;
    return new ToolHost(t, url, work, { placement: PLACEMENT, connections: CONNECTIONS, nodeArgs });
  });
  if (args.baseline !== undefined) hosts.push(new ToolHost('native', url, work, { placement: PLACEMENT, connections: CONNECTIONS, checkout: resolve(args.baseline), label: 'baseline' }));
  try {
    line(`driver-cpu: ${CONNECTIONS} connections, ${ROUNDS} rounds x ${ROUND_SECONDS} s, server ${url}; node ${process.version}`);
    const load0 = loadavg()[0] ?? 0;
    report(await measure(hosts, child.pid ?? 0), load0);
  } finally {
    await Promise.all(hosts.map((h) => h.close()));
    child.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
  if (profDir !== undefined) line(`CPU profile of the native host in ${profDir}`);
}

await main();
