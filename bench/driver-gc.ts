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
import { loadavg } from 'node:os';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { runLoad } from '../harness/load/driver.ts';
import { openModelScenario, startLoopbackServer } from './open-model-loopback.ts';

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

async function main(): Promise<void> {
  const { scenario, remove } = openModelScenario('driver-gc', RATE, SECONDS);
  const server = await startLoopbackServer();
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
    remove();
  }
}

await main();
