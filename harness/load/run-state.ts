import type { AbortReason, RequestCounts } from './load-result.ts';
import type { AbortScope } from './upload-client.ts';

/** The driver's clock: monotonic ms for scheduling, epoch ms for records. */
export interface LoadClock {
  /** monotonic ms */
  now(): number;
  /** wall clock, epoch ms */
  epochMs(): number;
}

export const systemClock: LoadClock = { now: () => performance.now(), epochMs: () => Date.now() };

/**
 * What every executor of one load run shares: the clock (t0), the request counters, the
 * request budget and the stop switch. One object per run; executors read and change it
 * through these methods only.
 */
export class RunState {
  readonly t0: number;
  readonly wall0: number;
  readonly counts: RequestCounts = { sent: 0, completed: 0, interrupted: 0, dropped: 0, accepted: 0, failed: 0 };
  /** set once, by the first stop */
  abortReason: AbortReason | undefined;
  private stoppedFlag = false;
  private readonly stopController = new AbortController();
  /** scopes of live closed-model VUs, interrupted by a hard stop */
  private readonly scopes = new Set<AbortScope>();

  private readonly clock: LoadClock;
  private readonly maxRequests: number;

  constructor(clock: LoadClock, maxRequests: number) {
    this.clock = clock;
    this.maxRequests = maxRequests;
    this.t0 = clock.now();
    this.wall0 = clock.epochMs();
  }

  /** ms since t0 */
  now(): number {
    return this.clock.now() - this.t0;
  }

  /**
   * performance.now() of a moment known as `sinceT0` (ms since t0), when the run's clock is
   * performance.now(); a fresh reading otherwise: the hot path reads the clock once per moment.
   */
  monotonicOf(sinceT0: number): number {
    return this.clock === systemClock ? sinceT0 + this.t0 : performance.now();
  }

  /** ms since t0 of a performance.now() reading, when the run's clock is performance.now(); now() otherwise */
  sinceT0(monotonic: number): number {
    return this.clock === systemClock ? monotonic - this.t0 : this.now();
  }

  private endMs: number | undefined;

  /** The load is over (every request ended or was interrupted): fixes the test run's duration. */
  finish(): void {
    this.endMs ??= this.now();
  }

  /** The test run's duration (k6's testRunDurationMs): t0 to finish(), or to now before it. */
  durationMs(): number {
    return this.endMs ?? this.now();
  }

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  /** aborts when the run stops */
  get stopSignal(): AbortSignal {
    return this.stopController.signal;
  }

  /** May one more request start? Reaching the budget stops the run (in-flight ones finish). */
  canSend(): boolean {
    if (this.stoppedFlag) return false;
    if (this.counts.sent >= this.maxRequests) {
      this.stop('max-requests', false);
      return false;
    }
    return true;
  }

  /** Stops the run (the first reason wins); `interrupt` also aborts in-flight requests. */
  stop(reason: AbortReason, interrupt: boolean): void {
    if (!this.stoppedFlag) {
      this.stoppedFlag = true;
      this.abortReason = reason;
      this.stopController.abort();
    }
    if (interrupt) for (const scope of this.scopes) scope.abort();
  }

  /** Registers a scope a hard stop interrupts (a scenario's, a VU's). */
  track(scope: AbortScope): void {
    this.scopes.add(scope);
  }

  untrack(scope: AbortScope): void {
    this.scopes.delete(scope);
  }

  /** Sleeps until `at` (ms since t0); resolves early when the run stops. */
  sleepUntil(at: number): Promise<void> {
    return new Promise((resolve) => {
      const wait = at - this.now();
      if (wait <= 0 || this.stoppedFlag) return resolve();
      const signal = this.stopController.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
