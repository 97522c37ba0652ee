import type { RunState } from './run-state.ts';
import type { IterationDone, IterationRunner, ScenarioRuntime } from './scenario-runtime.ts';
import { type ClosedPlan, type OpenPlan, vusAt } from './schedule.ts';
import { AbortScope } from './upload-client.ts';

/**
 * k6's executors on a RunState.
 * - Arrival-rate executors (open model): every iteration's intended start is planned ahead
 *   (schedule.ts); latency counts from that time, so a slow backend or a late driver shows in
 *   the latency (no coordinated omission). An arrival that finds all maxVUs busy is dropped.
 * - VU executors (closed model): one loop per VU, iterations back to back.
 */
export function runExecutor(state: RunState, rt: ScenarioRuntime, iterations: IterationRunner): Promise<void> {
  return rt.plan.kind === 'open' ? new OpenExecutor(state, rt, rt.plan, iterations).run() : new ClosedExecutor(state, rt, rt.plan, iterations).run();
}

/**
 * Longest synchronous spin of one open-executor loop turn, ms (real time, not the run's clock:
 * a test clock that stands still cannot hold it). 20 µs: well under the send lag goal (50 µs),
 * and ~13x fewer loop turns, so ~13x fewer Immediates, than spinning on setImmediate alone.
 */
export const SPIN_QUANTUM_MS = 0.02;

function spinFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy wait: sub-millisecond sleeps do not exist on the event loop (timers have 1 ms steps)
  }
}

type StartIteration = NonNullable<IterationRunner['start']>;

/**
 * How an executor starts an iteration: the runner's own `start`, or its promise-based `run`
 * adapted to the same callbacks (WebSocket, API and mixed runners), so each executor has one
 * way to start and to hear of an end.
 */
function starterOf(iterations: IterationRunner): StartIteration {
  if (iterations.start !== undefined) return iterations.start.bind(iterations);
  return (rt, vu, intendedMs, scope, open, done) => {
    iterations.run(rt, vu, intendedMs, scope, open).then(
      () => done.iterationEnded(vu),
      (error: unknown) => done.iterationFailed(vu, error),
    );
  };
}

/** constant-arrival-rate and ramping-arrival-rate */
class OpenExecutor implements IterationDone {
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private resolve: (() => void) | undefined;

  private readonly state: RunState;
  private readonly rt: ScenarioRuntime;
  private readonly plan: OpenPlan;
  private readonly iterations: IterationRunner;
  private readonly startIteration: StartIteration;

  constructor(state: RunState, rt: ScenarioRuntime, plan: OpenPlan, iterations: IterationRunner) {
    this.state = state;
    this.rt = rt;
    this.plan = plan;
    this.iterations = iterations;
    this.startIteration = starterOf(iterations);
  }

  async run(): Promise<void> {
    await this.state.sleepUntil(this.plan.startMs);
    if (this.state.stopped) return;
    await new Promise<void>((resolve) => {
      this.resolve = resolve;
      this.state.stopSignal.addEventListener('abort', this.finish, { once: true });
      this.tick();
    });
    await this.rt.drain(this.state, this.plan.startMs + this.plan.durationMs + this.plan.gracefulStopMs);
  }

  private readonly finish = (): void => {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.state.stopSignal.removeEventListener('abort', this.finish);
    this.resolve?.();
  };

  /** starts every arrival that is due, then waits for the next one */
  private readonly tick = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    if (!this.startDue()) return this.finish();
    const wait = this.plan.startMs + (this.plan.arrivals[this.next] ?? 0) - this.state.now();
    // a timer for the coarse part of the wait, loop turns (setImmediate) for the last few ms
    if (wait > 3) {
      this.timer = setTimeout(this.tick, wait - 2);
      return;
    }
    // each turn first spins on the CPU for up to SPIN_QUANTUM_MS: a bare setImmediate turn takes
    // ~1.5 µs and allocates an Immediate, and hundreds of thousands of them per second were ~95 %
    // of the driver's garbage at 1,000/s (bench/driver-gc.ts): young-generation collections
    // whose pauses made arrivals late. I/O waits at most one quantum longer.
    if (wait > 0) spinFor(Math.min(wait, SPIN_QUANTUM_MS));
    this.immediate = setImmediate(this.tick);
  };

  /** starts the arrivals that are due; false when the schedule is done or the run stopped */
  private startDue(): boolean {
    const { arrivals, startMs } = this.plan;
    const t = this.state.now();
    while (this.next < arrivals.length) {
      const due = startMs + (arrivals[this.next] ?? 0);
      if (due > t) break;
      this.next++;
      if (!this.state.canSend()) return false;
      if (this.rt.inFlight >= this.plan.maxVUs) this.iterations.drop(this.rt, due);
      else this.start(due);
    }
    return this.next < arrivals.length && !this.state.stopped;
  }

  private start(due: number): void {
    const vu = this.rt.acquireVu();
    this.startIteration(this.rt, vu, due, this.rt.scope, true, this);
  }

  /** an arrival's iteration ended: its VU is free again */
  iterationEnded(vu: number): void {
    this.rt.releaseVu(vu);
  }

  /** as an arrival's failed promise did: the VU is freed, the run goes on */
  iterationFailed(vu: number): void {
    this.rt.releaseVu(vu);
  }
}

interface Vu {
  id: number;
  stopping: boolean;
  scope: AbortScope;
  /** iterations done (loops on IterationRunner.start) */
  done: number;
  /** inside start(): an end heard now is picked up by the loop in next() */
  starting: boolean;
  endedAtOnce: boolean;
  /** the VU's loop is over (its promise settled) */
  over: boolean;
  resolve: () => void;
  reject: (reason: unknown) => void;
}

function ignore(): void {}

/** constant-vus, ramping-vus, per-vu-iterations, shared-iterations */
class ClosedExecutor implements IterationDone {
  private readonly vus: Vu[] = [];
  private readonly loops: Promise<void>[] = [];
  private sharedLeft: number | undefined;
  private endAt = 0;

  private readonly state: RunState;
  private readonly rt: ScenarioRuntime;
  private readonly plan: ClosedPlan;
  private readonly startIteration: StartIteration;

  constructor(state: RunState, rt: ScenarioRuntime, plan: ClosedPlan, iterations: IterationRunner) {
    this.state = state;
    this.rt = rt;
    this.plan = plan;
    this.startIteration = starterOf(iterations);
    this.sharedLeft = plan.sharedIterations;
  }

  async run(): Promise<void> {
    const { state, plan } = this;
    await state.sleepUntil(plan.startMs);
    if (state.stopped) return;
    const start = state.now();
    this.endAt = start + plan.durationMs;
    for (const step of plan.steps) {
      await state.sleepUntil(start + step.atMs);
      if (state.stopped || state.now() >= this.endAt) break;
      this.setVus(vusAt(plan.steps, step.atMs));
    }
    const graceTimer = setTimeout(
      () => {
        for (const v of this.vus) v.scope.abort();
      },
      Math.max(0, this.endAt + plan.gracefulStopMs - state.now()),
    );
    // loops end at endAt (or when their iterations are done); graceTimer interrupts stragglers
    await Promise.all(this.loops);
    clearTimeout(graceTimer);
    for (const v of this.vus) state.untrack(v.scope);
  }

  /** may this VU start another iteration? (takes one from the shared budget) */
  private mayIterate(vu: Vu, done: number, now = this.state.now()): boolean {
    if (this.state.stopped || vu.stopping || now >= this.endAt) return false;
    if (this.plan.iterationsPerVu !== undefined && done >= this.plan.iterationsPerVu) return false;
    if (this.sharedLeft !== undefined) {
      if (this.sharedLeft <= 0) return false;
      this.sharedLeft--;
    }
    return this.state.canSend();
  }

  /**
   * A VU's iterations back to back on IterationRunner.start: no promise, await or scheduled
   * task per iteration. The next iteration starts in the callback that ended the last one (the
   * VU's connection has cleared that request first, so the next one is written at once); one
   * that ends at once, inside start(), loops here instead of recursing.
   */
  private startLoop(vu: Vu): Promise<void> {
    this.rt.activeVus++;
    return new Promise<void>((resolve, reject) => {
      vu.resolve = resolve;
      vu.reject = reject;
      this.nextOrFail(vu);
    });
  }

  private next(vu: Vu): void {
    while (!vu.over) {
      // one reading: the end check's and the iteration's start time
      const now = this.state.now();
      if (!this.mayIterate(vu, vu.done, now)) break;
      vu.starting = true;
      vu.endedAtOnce = false;
      try {
        this.startIteration(this.rt, vu.id, now, vu.scope, false, this);
      } finally {
        vu.starting = false;
      }
      if (!vu.endedAtOnce) return;
    }
    this.endLoop(vu, false, undefined);
  }

  private nextOrFail(vu: Vu): void {
    try {
      this.next(vu);
    } catch (error) {
      this.endLoop(vu, true, error);
    }
  }

  iterationEnded(id: number): void {
    const vu = this.vus[id] as Vu;
    vu.done++;
    if (vu.starting) vu.endedAtOnce = true;
    else this.nextOrFail(vu);
  }

  iterationFailed(id: number, error: unknown): void {
    this.endLoop(this.vus[id] as Vu, true, error);
  }

  private endLoop(vu: Vu, failed: boolean, error: unknown): void {
    if (vu.over) return;
    vu.over = true;
    this.rt.activeVus--;
    this.state.untrack(vu.scope);
    if (failed) vu.reject(error);
    else vu.resolve();
  }

  private setVus(target: number): void {
    const running = this.vus.filter((v) => !v.stopping);
    for (let k = running.length; k < target; k++) {
      const vu: Vu = { id: this.vus.length, stopping: false, scope: new AbortScope(), done: 0, starting: false, endedAtOnce: false, over: false, resolve: ignore, reject: ignore };
      this.vus.push(vu);
      this.state.track(vu.scope);
      this.loops.push(this.startLoop(vu));
    }
    for (let k = running.length - 1; k >= target; k--) {
      const vu = running[k];
      if (!vu) continue;
      vu.stopping = true;
      setTimeout(() => vu.scope.abort(), this.plan.gracefulRampDownMs).unref();
    }
    if (this.vus.length > this.rt.vusAllocated) this.rt.vusAllocated = this.vus.length;
  }
}
