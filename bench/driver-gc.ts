/**
 * The native driver's garbage per upload on the open model (issue 15 item 7), one command:
 *
 *   node bench/driver-gc.ts [--rate 1000] [--seconds 5]
 *
 * Runs constant-arrival-rate uploads against a loopback node:http server (on the other CPU when
 * there are two) and counts, in the driver's process during the measured run (after a warm-up
 * run), V8's young-generation collections (scavenges) per second, their total pause, and the process
 * CPU time per upload. Scavenges pause the event loop, so the ticks due during one are late: fewer per second
 * means fewer late arrivals in the send lag's p99. Robust under load (a count, not a time).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { runLoad } from '../harness/load/driver.ts';
import { validateScenario } from '../harness/scenario/validate-scenario.ts';

const { values: args } = parseArgs({ options: { rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '5' } } });
const RATE = Math.min(20_000, Math.max(1, Number(args.rate) || 1000));
const SECONDS = Math.min(60, Math.max(1, Number(args.seconds) || 5));

/** Counts V8's collections by kind while armed. */
class GcCount {
  minor = 0;
  minorMs = 0;
  major = 0;
  private armed = false;
  private readonly observer = new PerformanceObserver((list) => {
    if (!this.armed) return;
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) {
        this.minor++;
        this.minorMs += e.duration;
      } else this.major++;
    }
  });
  start(): void {
    this.observer.observe({ entryTypes: ['gc'] });
  }
  arm(): void {
    this.armed = true;
  }
  stop(): void {
    this.armed = false;
    this.observer.disconnect();
  }
}

const SERVER = `const http=require('node:http');const s=http.createServer((q,r)=>{q.on('data',()=>{});q.on('end',()=>{r.writeHead(202,{'content-type':'application/json'});r.end('{"id":"u","file_path":"/data/x.jpg"}')})});s.keepAliveTimeout=60000;s.listen(0,'127.0.0.1',()=>process.stdout.write(String(s.address().port)+'\\n'));`;

async function startServer(): Promise<{ url: string; stop: () => void }> {
  const cpus = availableParallelism();
  const [command, commandArgs] = cpus >= 2 ? ['/usr/bin/taskset', ['-c', String(cpus - 1), process.execPath, '-e', SERVER]] : [process.execPath, ['-e', SERVER]];
  const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (c: Buffer) => resolve(c.toString().trim()));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'hsi-gc-'));
  const image = Buffer.alloc(4096, 0x5a);
  image.set([0xff, 0xd8, 0xff, 0xe0], 0);
  mkdirSync(join(work, 'cam'), { recursive: true });
  writeFileSync(join(work, 'cam', 'frame.jpg'), image);
  const fixed = { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: `${SECONDS}s`, preAllocatedVUs: 50, maxVUs: 500 };
  const scenario = validateScenario({ name: 'driver-gc', scenarios: { fixed }, cameras: [{ id: 'cam' }], limits: { maxDuration: `${SECONDS + 20}s`, maxRequests: 10_000_000 } }, { fixturesDir: work, source: 'bench' });
  const server = await startServer();
  const gc = new GcCount();
  try {
    const load0 = loadavg()[0] ?? 0;
    await runLoad(scenario, { backendUrl: server.url, progressLine: false }); // warm-up
    gc.start();
    gc.arm();
    const cpu0 = process.cpuUsage();
    const r = await runLoad(scenario, { backendUrl: server.url, progressLine: false });
    const cpu = process.cpuUsage(cpu0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    gc.stop();
    const n = Math.max(1, r.requests.completed);
    const line = (s: string) => process.stdout.write(`${s}\n`);
    line(`open model ${RATE}/s for ${SECONDS} s: ${r.requests.completed} uploads, send lag p50 ${r.sendLag?.p50.toFixed(3)} ms, p99 ${r.sendLag?.p99.toFixed(3)} ms`);
    line(`scavenges ${gc.minor} (${(gc.minor / SECONDS).toFixed(1)}/s, ${(gc.minorMs / Math.max(1, gc.minor)).toFixed(2)} ms each on average), major GCs ${gc.major}`);
    line(`CPU ${(((cpu.user + cpu.system) / n)).toFixed(1)} µs per upload (user ${(cpu.user / n).toFixed(1)}, system ${(cpu.system / n).toFixed(1)})`);
    line(`load average (1 min) ${load0.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after`);
  } finally {
    server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
