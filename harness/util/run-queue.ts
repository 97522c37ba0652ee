import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * How crowded the machine's CPUs were during a window: the mean number of runnable tasks per
 * CPU, from `/proc/loadavg`'s fourth field (`runnable/total`, the run queue right now, not the
 * damped load average), sampled every `intervalMs`. Idle ≈ 0–1; on a shared 2-core machine
 * with other stacks running, 10 and more. A task that needs the CPU for a few ms (an upload's
 * answer) waits roughly in proportion to it. Linux only; elsewhere `stop()` gives undefined.
 */
export function parseRunnable(loadavg: string): number | undefined {
  const match = /^\S+ \S+ \S+ (\d+)\/\d+/.exec(loadavg);
  return match ? Number(match[1]) : undefined;
}

export class RunQueueSampler {
  private readonly path: string;
  private readonly cpus: number;
  private readonly timer: NodeJS.Timeout;
  private sum = 0;
  private samples = 0;

  constructor(options: { intervalMs?: number; path?: string; cpus?: number } = {}) {
    this.path = options.path ?? '/proc/loadavg';
    this.cpus = options.cpus ?? availableParallelism();
    this.sample();
    this.timer = setInterval(() => this.sample(), options.intervalMs ?? 250);
    this.timer.unref();
  }

  private sample(): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return;
    }
    const runnable = parseRunnable(text);
    if (runnable === undefined) return;
    // the sampling process itself is running while it reads
    this.sum += Math.max(0, runnable - 1);
    this.samples += 1;
  }

  /** Stops sampling; the mean runnable tasks per CPU over the window, or undefined when none could be read. */
  stop(): number | undefined {
    clearInterval(this.timer);
    this.sample();
    return this.samples === 0 ? undefined : this.sum / this.samples / this.cpus;
  }
}
