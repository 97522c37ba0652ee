import type { Stage, Workload } from '../scenario/scenario-types.ts';

/**
 * Planning of each k6 executor, done before the run:
 * - arrival-rate executors (open model): the intended start time of every iteration, as k6
 *   computes it (lib/executor/constant_arrival_rate.go: iteration i at i * timeUnit / rate,
 *   from 0, while before `duration`; ramping_arrival_rate.go `cal`: iteration i (1-based) when
 *   the area under the rate curve reaches i, linear ramps solved exactly);
 * - VU executors (closed model): the VU count over time (ramping_vus.go getRawExecutionSteps:
 *   ramping up, VU k starts when the line reaches k; ramping down, it stops when the line
 *   drops below it) and iteration budgets.
 * Times are ms from the k6 scenario's own start (add startTimeMs for the run's clock).
 */
export interface OpenPlan {
  kind: 'open';
  name: string;
  startMs: number;
  /** end of the active period (from the scenario's start): no iteration starts at or after it */
  durationMs: number;
  gracefulStopMs: number;
  /** intended start times, ms from the scenario's start, ascending */
  arrivals: Float64Array;
  preAllocatedVUs: number;
  maxVUs: number;
}

export interface VuStep {
  atMs: number;
  vus: number;
}

export interface ClosedPlan {
  kind: 'closed';
  name: string;
  executor: 'constant-vus' | 'ramping-vus' | 'per-vu-iterations' | 'shared-iterations';
  startMs: number;
  durationMs: number;
  gracefulStopMs: number;
  gracefulRampDownMs: number;
  /** VU count from each step's time on (first step at 0) */
  steps: VuStep[];
  maxVUs: number;
  /** per-vu-iterations: iterations each VU runs */
  iterationsPerVu?: number;
  /** shared-iterations: iterations all VUs share */
  sharedIterations?: number;
}

export type ExecutorPlan = OpenPlan | ClosedPlan;

/** Number of iterations constant-arrival-rate starts: i * timeUnit / rate < duration. */
export function constantArrivalCount(rate: number, timeUnitMs: number, durationMs: number): number {
  if (rate <= 0 || durationMs <= 0) return 0;
  // smallest n with n * timeUnit >= duration * rate
  return Math.ceil((durationMs * rate) / timeUnitMs - 1e-9);
}

export function constantArrivals(rate: number, timeUnitMs: number, durationMs: number): Float64Array {
  const n = constantArrivalCount(rate, timeUnitMs, durationMs);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * timeUnitMs) / rate;
  return out;
}

/** Total iterations of ramping-arrival-rate: the whole area under the rate curve, floored. */
export function rampingArrivalCount(startRate: number, timeUnitMs: number, stages: readonly Stage[]): number {
  let from = startRate / timeUnitMs;
  let area = 0;
  for (const stage of stages) {
    const to = stage.target / timeUnitMs;
    area += stage.durationMs * (from === to ? to : (to - from) / 2 + from);
    from = to;
  }
  return Math.floor(area + 1e-9);
}

export function rampingArrivals(startRate: number, timeUnitMs: number, stages: readonly Stage[]): Float64Array {
  const out = new Float64Array(rampingArrivalCount(startRate, timeUnitMs, stages));
  let n = 0;
  let stageStart = 0;
  let doneSoFar = 0;
  let endCount = 0;
  let from = startRate / timeUnitMs; // iterations per ms
  let i = 1;
  for (const stage of stages) {
    const to = stage.target / timeUnitMs;
    const dur = stage.durationMs;
    if (from !== to) {
      endCount += dur * ((to - from) / 2 + from);
      for (; i <= endCount + 1e-9 && n < out.length; i++) {
        const x = (from * dur - Math.sqrt(Math.max(0, dur * (from * from * dur + 2 * (i - doneSoFar) * (to - from))))) / (from - to);
        out[n++] = stageStart + x;
      }
    } else {
      endCount += dur * to;
      for (; i <= endCount + 1e-9 && n < out.length; i++) out[n++] = stageStart + (i - doneSoFar) / to;
    }
    doneSoFar = endCount;
    from = to;
    stageStart += dur;
  }
  return n === out.length ? out : out.subarray(0, n);
}

/** k6's VU steps for ramping-vus (unsegmented). */
export function rampingVuSteps(startVUs: number, stages: readonly Stage[]): VuStep[] {
  const steps: VuStep[] = [{ atMs: 0, vus: startVUs }];
  const add = (atMs: number, vus: number) => {
    const last = steps[steps.length - 1];
    if (last && last.vus === vus) return;
    if (last && last.atMs === atMs) last.vus = vus;
    else steps.push({ atMs, vus });
  };
  let from = startVUs;
  let timeTillEnd = 0;
  for (const stage of stages) {
    const end = stage.target;
    const dur = stage.durationMs;
    timeTillEnd += dur;
    const diff = end - from;
    if (diff === 0) continue;
    if (dur === 0) {
      add(timeTillEnd, end);
    } else if (diff < 0) {
      for (let u = from; u > end; u--) add(timeTillEnd - (dur * (end - u + 1)) / diff, u - 1);
    } else {
      for (let u = from + 1; u <= end; u++) add(timeTillEnd - (dur * (end - u)) / diff, u);
    }
    from = end;
  }
  return steps;
}

function stagesDuration(stages: readonly Stage[]): number {
  return stages.reduce((sum, s) => sum + s.durationMs, 0);
}

/** Active length of a k6 scenario (without startTime and gracefulStop). */
export function activeDurationMs(w: Workload): number {
  switch (w.executor) {
    case 'constant-arrival-rate':
    case 'constant-vus':
      return w.durationMs;
    case 'ramping-arrival-rate':
    case 'ramping-vus':
      return stagesDuration(w.stages);
    case 'per-vu-iterations':
    case 'shared-iterations':
      return w.maxDurationMs;
  }
}

/** Iterations planned ahead, or undefined when the executor decides at run time (VU loops for a duration). */
export function plannedIterations(w: Workload): number | undefined {
  switch (w.executor) {
    case 'constant-arrival-rate':
      return constantArrivalCount(w.rate, w.timeUnitMs, w.durationMs);
    case 'ramping-arrival-rate':
      return rampingArrivalCount(w.startRate, w.timeUnitMs, w.stages);
    case 'per-vu-iterations':
      return w.vus * w.iterations;
    case 'shared-iterations':
      return w.iterations;
    case 'constant-vus':
    case 'ramping-vus':
      return undefined;
  }
}

export function planWorkload(name: string, w: Workload): ExecutorPlan {
  const base = { name, startMs: w.startTimeMs, gracefulStopMs: w.gracefulStopMs, durationMs: activeDurationMs(w) };
  switch (w.executor) {
    case 'constant-arrival-rate':
      return { kind: 'open', ...base, arrivals: constantArrivals(w.rate, w.timeUnitMs, w.durationMs), preAllocatedVUs: w.preAllocatedVUs, maxVUs: w.maxVUs };
    case 'ramping-arrival-rate':
      return { kind: 'open', ...base, arrivals: rampingArrivals(w.startRate, w.timeUnitMs, w.stages), preAllocatedVUs: w.preAllocatedVUs, maxVUs: w.maxVUs };
    case 'constant-vus':
      return { kind: 'closed', executor: w.executor, ...base, gracefulRampDownMs: 0, steps: [{ atMs: 0, vus: w.vus }], maxVUs: w.vus };
    case 'ramping-vus': {
      const steps = rampingVuSteps(w.startVUs, w.stages);
      return {
        kind: 'closed',
        executor: w.executor,
        ...base,
        gracefulRampDownMs: w.gracefulRampDownMs,
        steps,
        maxVUs: Math.max(...steps.map((s) => s.vus)),
      };
    }
    case 'per-vu-iterations':
      return { kind: 'closed', executor: w.executor, ...base, gracefulRampDownMs: 0, steps: [{ atMs: 0, vus: w.vus }], maxVUs: w.vus, iterationsPerVu: w.iterations };
    case 'shared-iterations':
      return {
        kind: 'closed',
        executor: w.executor,
        ...base,
        gracefulRampDownMs: 0,
        steps: [{ atMs: 0, vus: Math.min(w.vus, w.iterations) }],
        maxVUs: Math.min(w.vus, w.iterations),
        sharedIterations: w.iterations,
      };
  }
}

/** VUs active at time t (ms from the scenario's start) for a closed plan. */
export function vusAt(steps: readonly VuStep[], t: number): number {
  let vus = 0;
  for (const s of steps) {
    if (s.atMs <= t) vus = s.vus;
    else break;
  }
  return vus;
}
