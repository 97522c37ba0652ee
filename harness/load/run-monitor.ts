import type { Histogram } from './histogram.ts';
import type { MetricStore, Sink } from './metrics.ts';
import type { RunState } from './run-state.ts';
import type { ScenarioRuntime } from './scenario-runtime.ts';
import { THRESHOLD_EVAL_PERIOD_MS, type ThresholdEvaluator } from './thresholds.ts';

export interface LoadProgress {
  elapsedMs: number;
  sent: number;
  completed: number;
  failed: number;
  dropped: number;
  inFlight: number;
  /** completed per second over the last second */
  rps: number;
  p95Ms: number;
  lagP99Ms: number;
}

const PROGRESS_EVERY_MS = 500;

export interface RunMonitorOptions {
  name: string;
  state: RunState;
  runtimes: readonly ScenarioRuntime[];
  store: MetricStore;
  thresholds: ThresholdEvaluator;
  lag: Histogram;
  maxDurationMs: number;
  onProgress?: (progress: LoadProgress) => void;
  /** live progress line on stderr */
  progressLine: boolean;
}

/**
 * The periodic work beside the executors: thresholds every 2 s (abortOnFail stops the run),
 * the vus/vus_max gauges every second, the max-duration bound and the progress line.
 */
export class RunMonitor {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly durationSink: Sink | undefined;
  private lastMark = 0;
  private completedAtMark = 0;
  private lineShown = false;

  private readonly o: RunMonitorOptions;

  constructor(o: RunMonitorOptions) {
    this.o = o;
    this.durationSink = o.store.sink('http_req_duration');
  }

  start(): void {
    const { state, store, thresholds } = this.o;
    this.timers.push(
      setInterval(() => {
        if (thresholds.evaluate(store, state.now(), { ignoreEmptySinks: true }).abort) state.stop('threshold', true);
      }, THRESHOLD_EVAL_PERIOD_MS),
    );
    this.sampleGauges();
    this.timers.push(setInterval(() => this.sampleGauges(), 1000));
    this.timers.push(setTimeout(() => state.stop('max-duration', true), this.o.maxDurationMs));
    if (this.o.progressLine || this.o.onProgress) this.timers.push(setInterval(() => this.report(), PROGRESS_EVERY_MS));
  }

  /** stops the timers, takes the last gauge sample and ends the progress line */
  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.sampleGauges();
  }

  finishLine(): void {
    if (this.lineShown) process.stderr.write(`\r\x1b[K${formatProgress(this.o.name, this.progress())}\n`);
  }

  private sampleGauges(): void {
    this.o.store.add('vus', this.o.runtimes.reduce((sum, r) => sum + r.busyVus, 0));
    this.o.store.add('vus_max', this.o.runtimes.reduce((sum, r) => sum + r.vusAllocated, 0));
  }

  private report(): void {
    const p = this.progress();
    this.o.onProgress?.(p);
    if (this.o.progressLine) {
      this.lineShown = true;
      process.stderr.write(`\r\x1b[K${formatProgress(this.o.name, p)}`);
    }
  }

  progress(): LoadProgress {
    const { counts } = this.o.state;
    const elapsedMs = this.o.state.now();
    const span = elapsedMs - this.lastMark;
    const rps = span > 0 ? ((counts.completed - this.completedAtMark) * 1000) / span : 0;
    if (span >= 1000) {
      this.lastMark = elapsedMs;
      this.completedAtMark = counts.completed;
    }
    return {
      elapsedMs,
      sent: counts.sent,
      completed: counts.completed,
      failed: counts.failed,
      dropped: counts.dropped,
      inFlight: this.o.runtimes.reduce((sum, r) => sum + r.inFlight, 0),
      rps,
      p95Ms: this.durationSink?.type === 'trend' ? this.durationSink.trend.percentile(95) : 0,
      lagP99Ms: this.o.lag.percentile(99),
    };
  }
}

export function formatProgress(name: string, p: LoadProgress): string {
  const s = (p.elapsedMs / 1000).toFixed(1).padStart(6);
  return `[${s}s] ${name}: ${p.sent} sent, ${p.completed - p.failed} ok, ${p.failed} failed, ${p.dropped} dropped, ${p.inFlight} in flight, ${p.rps.toFixed(0)}/s, p95 ${p.p95Ms.toFixed(1)} ms, lag p99 ${p.lagP99Ms.toFixed(2)} ms`;
}
