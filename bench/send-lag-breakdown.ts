/**
 * Where the native driver's send lag goes (issue 15 item 7), one command:
 *
 *   node bench/send-lag-breakdown.ts [--rate 1000] [--seconds 6]
 *
 * Runs the driver's open model (constant-arrival-rate) against a loopback node:http server on
 * the other CPU and, in the driver's process, times every socket read callback (the answers'
 * handling) and every gap of the event loop between two runs of the executor's tick (its
 * setImmediate). A late arrival waited for whatever ran in the gap before its tick: the
 * breakdown says how many gaps over 50 µs were mostly answer handling and how many were
 * something else (GC, timers, the OS scheduling another process). The uploads are written in
 * the tick itself (synchronously, harness/load/http1): no promise hop between timer and write.
 * A diagnostic, not a verdict: it patches Socket.prototype.emit and setImmediate in its own
 * process. Measure on a quiet machine (the load average is printed).
 */
import { Socket } from 'node:net';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { exactPercentile } from '../harness/load/histogram.ts';
import { runLoad } from '../harness/load/driver.ts';
import { openModelScenario, startLoopbackServer } from './open-model-loopback.ts';

const { values: args } = parseArgs({ options: { rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '6' } } });
const RATE = Math.min(20_000, Math.max(1, Number(args.rate) || 1000));
const SECONDS = Math.min(60, Math.max(1, Number(args.seconds) || 6));
const GAP_MS = 0.05;

/** What the patched process notes: read callbacks, and the loop's gaps between ticks. */
class LoopLog {
  readonly reads: number[] = [];
  readonly gaps: { gapMs: number; readMs: number }[] = [];
  private readSinceTick = 0;
  private lastTickEnd = 0;

  read(ms: number): void {
    this.reads.push(ms);
    this.readSinceTick += ms;
  }

  tick(start: number, end: number): void {
    if (this.lastTickEnd > 0) this.gaps.push({ gapMs: start - this.lastTickEnd, readMs: this.readSinceTick });
    this.readSinceTick = 0;
    this.lastTickEnd = end;
  }

  clear(): void {
    this.reads.length = 0;
    this.gaps.length = 0;
  }
}

function instrument(log: LoopLog): void {
  const emit = Socket.prototype.emit as (this: Socket, event: string | symbol, ...rest: unknown[]) => boolean;
  Socket.prototype.emit = function (this: Socket, event: string | symbol, ...rest: unknown[]): boolean {
    if (event !== 'data' && event !== 'readable') return emit.apply(this, [event, ...rest]);
    const t = performance.now();
    const handled = emit.apply(this, [event, ...rest]);
    log.read(performance.now() - t);
    return handled;
  } as typeof Socket.prototype.emit;
  const immediate = globalThis.setImmediate;
  const timed = (callback: (...a: unknown[]) => void, ...a: unknown[]) =>
    immediate(() => {
      const start = performance.now();
      callback(...a);
      log.tick(start, performance.now());
    });
  globalThis.setImmediate = timed as typeof setImmediate;
}

async function main(): Promise<void> {
  const log = new LoopLog();
  instrument(log);
  const { scenario, remove } = openModelScenario('lag-breakdown', RATE, SECONDS);
  const server = await startLoopbackServer();
  try {
    const load0 = loadavg()[0] ?? 0;
    await runLoad(scenario, { backendUrl: server.url, progressLine: false }); // warm-up
    log.clear();
    const r = await runLoad(scenario, { backendUrl: server.url, progressLine: false });
    report(log, r.sendLag, r.requests.completed, load0);
  } finally {
    server.stop();
    remove();
  }
}

function report(log: LoopLog, lag: { p50: number; p99: number } | null, completed: number, load0: number): void {
  const pct = (xs: number[], p: number) => exactPercentile([...xs].sort((a, b) => a - b), p);
  const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
  const late = log.gaps.filter((g) => g.gapMs > GAP_MS);
  const reading = late.filter((g) => g.readMs >= 0.5 * g.gapMs);
  const other = late.filter((g) => g.readMs < 0.5 * g.gapMs);
  const readTotal = log.reads.reduce((a, b) => a + b, 0);
  const line = (s: string) => process.stdout.write(`${s}\n`);
  line(`send lag at ${RATE}/s for ${SECONDS} s: p50 ${lag?.p50.toFixed(3)} ms, p99 ${lag?.p99.toFixed(3)} ms (${completed} uploads)`);
  line(`answer handling: ${log.reads.length} socket read callbacks (${(log.reads.length / Math.max(1, completed)).toFixed(2)} per upload), p50 ${us(pct(log.reads, 50))}, p99 ${us(pct(log.reads, 99))}, ${((readTotal / (SECONDS * 1000)) * 100).toFixed(2)} % of the time`);
  line(`loop gaps between executor ticks over ${GAP_MS * 1000} µs: ${late.length} of ${log.gaps.length}; mostly answer handling ${reading.length} (median ${us(pct(reading.map((g) => g.gapMs), 50))}), something else (GC, timers, the OS) ${other.length} (median ${us(pct(other.map((g) => g.gapMs), 50))}, p99 ${us(pct(other.map((g) => g.gapMs), 99))})`);
  line(`load average (1 min) ${load0.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after`);
}

await main();
