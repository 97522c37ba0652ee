import type { ThresholdVerdict } from '../load/thresholds.ts';
import type { CapacitySettings, SloResult, WindowMeasure } from './capacity-types.ts';
import type { BacklogDrift, StabilityVerdict } from './stability.ts';

/**
 * The SLOs a load must hold to count as sustained. Window SLOs are judged on each measured
 * window; step SLOs (the backlog over the step, dropped iterations, the scenario's thresholds)
 * on the step. "p95 stable" is reported (n/a when the window bound ran out), not a failure.
 */
export const SLO = {
  detect: 'detect p95 within budget',
  analyze: 'analyze p95 within budget',
  backlog: 'queue depth not growing',
  deadLetters: 'no dead-letter growth',
  vram: 'VRAM headroom',
  dropped: 'no dropped iterations',
  thresholds: 'scenario thresholds',
  stable: 'p95 stable',
} as const;

/** Backlog growth allowed on top of a critically loaded queue's: the --backlog-tolerance share of the load (default 0). */
export function backlogAllowance(uploadsPerSec: number, settings: Pick<CapacitySettings, 'backlogSlopeTolerance'>): number {
  return settings.backlogSlopeTolerance * uploadsPerSec;
}

export function evaluateWindowSlos(w: WindowMeasure, uploadsPerSec: number, settings: CapacitySettings): SloResult[] {
  const { detectP95Ms, analyzeP95Ms } = settings.budgets;
  return [
    { name: SLO.detect, ok: w.detectP95Ms === null ? null : w.detectP95Ms < detectP95Ms, value: w.detectP95Ms, limit: `< ${detectP95Ms} ms` },
    { name: SLO.analyze, ok: w.analyzeP95Ms === null ? null : w.analyzeP95Ms < analyzeP95Ms, value: w.analyzeP95Ms, limit: `< ${analyzeP95Ms} ms`, ...(w.analyzeP95Ms === null ? { detail: 'no batch was analysed in the window' } : {}) },
    // one window's slope is too noisy to judge (worker churn, a random walk near the knee): the step's drift judges it
    { name: SLO.backlog, ok: null, value: w.backlogSlopePerSec, limit: 'judged over the whole step', detail: 'one window: informational' },
    { name: SLO.deadLetters, ok: w.deadLetterGrowth <= 0, value: w.deadLetterGrowth, limit: '0' },
    {
      name: SLO.vram,
      ok: w.vramUsedFraction === null ? null : w.vramUsedFraction <= settings.maxVramUsedFraction,
      value: w.vramUsedFraction,
      limit: `≤ ${(settings.maxVramUsedFraction * 100).toFixed(0)} % used`,
      ...(w.vramUsedFraction === null ? { detail: 'no GPU telemetry' } : {}),
    },
  ];
}

/** Worst case over the windows: an SLO fails when it fails in any of them; n/a only when n/a in all. */
function combine(perWindow: readonly SloResult[][]): SloResult[] {
  if (perWindow.length === 0) return [];
  return perWindow[0]!.map((first, i) => {
    const all = perWindow.map((results) => results[i]!);
    const failed = all.find((r) => r.ok === false);
    const known = all.filter((r) => r.ok !== null);
    if (failed) return failed;
    if (known.length === 0) return first;
    return known.reduce((worst, r) => ((r.value ?? 0) > (worst.value ?? 0) ? r : worst));
  });
}

export interface StepJudgement {
  uploadsPerSec: number;
  /** The backlog's drift over every measured window of the step together, with its verdict. */
  backlog: BacklogDrift;
  settings: CapacitySettings;
  verdict: StabilityVerdict;
  failedFast: boolean;
  droppedIterations: number;
  thresholds: readonly ThresholdVerdict[];
}

/** The queue SLO of a step: its drift against the growth of a critically loaded queue, with the confidence. */
export function backlogSlo(d: BacklogDrift): SloResult {
  const sign = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;
  const how = d.decided ? `decided: ${Math.abs(d.slope - d.limit) / (Number.isFinite(d.se) ? d.se : 1) >= 10 ? '≥ 10' : (Math.abs(d.slope - d.limit) / d.se).toFixed(1)} standard errors from the limit` : 'undecided at the window bound: the point estimate judges';
  return {
    name: SLO.backlog,
    ok: d.sustained,
    value: d.slope,
    limit: `≤ ${sign(d.limit)} jobs/s over ${d.spanSec.toFixed(0)} s (a critically loaded queue's growth from empty ${sign(d.criticalSlope)})`,
    detail: `slope ${sign(d.slope)} ± ${d.se.toFixed(3)} jobs/s; ${how}`,
  };
}

export function stepSlos(measured: readonly WindowMeasure[], j: StepJudgement): SloResult[] {
  const backlog = backlogSlo(j.backlog);
  const windows = combine(measured.map((w) => evaluateWindowSlos(w, j.uploadsPerSec, j.settings))).map((s) => (s.name === SLO.backlog ? backlog : s));
  const failedThresholds = j.thresholds.filter((t) => !t.ok);
  const stable: SloResult =
    j.verdict.state === 'stable'
      ? { name: SLO.stable, ok: true, value: j.verdict.p95Ms, limit: `±${(j.settings.stability.tolerance * 100).toFixed(0)} % over ${j.settings.stability.stableWindows} windows` }
      : j.verdict.state === 'unstable'
        ? // informational: an overload shows in the backlog over the whole step and in the budgets;
          // a p95 that jitters on a busy machine is reported, not counted as a failure
          { name: SLO.stable, ok: null, value: j.verdict.p95Ms, limit: `±${(j.settings.stability.tolerance * 100).toFixed(0)} % within ${j.settings.stability.maxWindows} windows`, detail: j.verdict.rising ? 'not stable: p95 still rising after the last window' : 'not stable within the window bound (not rising)' }
        : { name: SLO.stable, ok: null, value: null, limit: 'stable', detail: j.failedFast ? 'stopped early: SLOs broken in two windows in a row' : 'not measured' };
  return [
    ...windows,
    { name: SLO.dropped, ok: j.droppedIterations === 0, value: j.droppedIterations, limit: '0' },
    {
      name: SLO.thresholds,
      ok: failedThresholds.length === 0,
      value: failedThresholds.length,
      limit: `${j.thresholds.length} threshold(s) hold`,
      ...(failedThresholds.length > 0 ? { detail: failedThresholds.map((t) => `${t.metric}: ${t.threshold}`).join('; ') } : {}),
    },
    stable,
  ];
}
