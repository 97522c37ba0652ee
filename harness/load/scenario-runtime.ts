import type { Workload } from '../scenario/scenario-types.ts';
import type { RunState } from './run-state.ts';
import type { ExecutorPlan } from './schedule.ts';
import { AbortScope } from './upload-client.ts';

/**
 * The live state of one k6 scenario of the workload: its plan, iteration counter, in-flight
 * count, VU ids (open model: free ids are reused, as k6 reuses its VUs) and the scope that
 * interrupts its requests.
 */
export class ScenarioRuntime {
  iterations = 0;
  inFlight = 0;
  /** VUs ever allocated (vus_max) */
  vusAllocated: number;
  /** closed model: VU loops running */
  activeVus = 0;
  readonly scope = new AbortScope();
  /** open model: free VU ids, and the next id never used */
  private readonly freeVus: number[];
  private nextVu: number;
  private idleWaiters: (() => void)[] = [];

  readonly name: string;
  readonly workload: Workload;
  readonly plan: ExecutorPlan;
  /** per-iteration camera indexes (a weighted round-robin period) */
  readonly sequence: readonly number[];
  /** k6 tags iteration metrics with the scenario and its tags only (no request tags) */
  readonly iterationTags: Record<string, string>;

  constructor(name: string, workload: Workload, plan: ExecutorPlan, sequence: readonly number[]) {
    this.name = name;
    this.workload = workload;
    this.plan = plan;
    this.sequence = sequence;
    this.iterationTags = { ...workload.tags, scenario: name };
    const pre = plan.kind === 'open' ? plan.preAllocatedVUs : 0;
    this.freeVus = Array.from({ length: pre }, (_, k) => pre - 1 - k);
    this.nextVu = pre;
    this.vusAllocated = pre;
  }

  get tags(): Record<string, string> {
    return this.workload.tags;
  }

  /** VUs busy now (the `vus` gauge's share of this scenario) */
  get busyVus(): number {
    return this.plan.kind === 'open' ? this.inFlight : this.activeVus;
  }

  /** open model: a free VU id (a new one when none is free) */
  acquireVu(): number {
    const vu = this.freeVus.pop() ?? this.nextVu++;
    if (this.nextVu > this.vusAllocated) this.vusAllocated = this.nextVu;
    return vu;
  }

  releaseVu(vu: number): void {
    this.freeVus.push(vu);
  }

  /** one request started */
  begin(): void {
    this.inFlight++;
  }

  /** one request ended: wakes drain() when none is left */
  end(): void {
    this.inFlight--;
    if (this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Waits until nothing is in flight, or aborts what is left at `deadline` (ms since t0). */
  drain(state: RunState, deadline: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.inFlight === 0) return resolve();
      const timer = setTimeout(() => this.scope.abort(), Math.max(0, deadline - state.now()));
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Hears, once per iteration started with IterationRunner.start, that it is settled. */
export interface IterationDone {
  iterationEnded(vu: number): void;
  /** settling it threw (e.g. a closed records writer): the run fails with `error` */
  iterationFailed(vu: number, error: unknown): void;
}

/** What an executor starts: one iteration, or the record of one it had to drop. */
export interface IterationRunner {
  /** runs one iteration of `rt` on VU `vu`, intended at `intendedMs`; rejects only when settling it throws */
  run(rt: ScenarioRuntime, vu: number, intendedMs: number, scope: AbortScope, open: boolean): Promise<void>;
  /**
   * The same iteration without a promise (the driver's hot path: no promise, settle functions
   * or await per request): `done` hears of its end once, in the callback that ends it, or before
   * start returns when it ends at once (a refused request).
   */
  start?(rt: ScenarioRuntime, vu: number, intendedMs: number, scope: AbortScope, open: boolean, done: IterationDone): void;
  /** an arrival found every VU busy (k6's dropped_iterations) */
  drop(rt: ScenarioRuntime, dueMs: number): void;
}
