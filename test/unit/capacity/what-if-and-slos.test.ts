import { describe, expect, it } from 'vitest';
import type { CapacitySettings, WindowMeasure } from '../../../harness/capacity/capacity-types.ts';
import { preRunPrediction, uploadsPerBatch } from '../../../harness/capacity/prediction.ts';
import { evaluateWindowSlos, SLO, stepSlos } from '../../../harness/capacity/slos.ts';
import { DEFAULT_STABILITY, type BacklogDrift } from '../../../harness/capacity/stability.ts';
import { applyWhatIfs, parseWhatIf } from '../../../harness/capacity/what-if.ts';
import { ConfigError } from '../../../harness/errors.ts';

const SETTINGS: CapacitySettings = {
  budgets: { detectP95Ms: 2000, analyzeP95Ms: 30000 },
  stability: DEFAULT_STABILITY,
  bounds: { min: 1, max: 20, factor: 1.25, resolution: 0.03 },
  windowMs: 6000,
  warmupMs: 3000,
  traceLagMs: 3500,
  backlogSlopeTolerance: 0.03,
  timeLimitMs: 300000,
  drainTimeoutMs: 60000,
  maxVramUsedFraction: 0.9,
  fps: 1,
  gpus: 1,
  whatIfs: [],
};

function window(over: Partial<WindowMeasure> = {}): WindowMeasure {
  return { index: 1, startMs: 0, endMs: 6000, uploads: 60, pendingDetections: 0, detectP95Ms: 300, analyzeP95Ms: null, uploadP95Ms: 8, backlogSlopePerSec: 0.05, deadLetterGrowth: 0, detectionsPerSec: 10, vramUsedFraction: null, ...over };
}

describe('what-if settings', () => {
  it('maps named keys onto the stack environment; the detector p95 keeps its ratio to the mean', () => {
    const w = [parseWhatIf('detector.slots=2'), parseWhatIf('detector.service_ms=40'), parseWhatIf('llm.slots=3')];
    const stack = applyWhatIfs({ detector: { EMULATOR_SERVICE_MEAN_MS: '80', EMULATOR_SERVICE_P95_MS: '120' }, backend: { DETECTION_WORKERS: '4' } }, w);
    expect(stack.detector).toEqual({ EMULATOR_GPU_SLOTS: '2', EMULATOR_SERVICE_MEAN_MS: '40', EMULATOR_SERVICE_P95_MS: '60' });
    expect(stack.llm).toEqual({ EMULATOR_LLM_SLOTS: '3' });
    expect(stack.backend).toEqual({ DETECTION_WORKERS: '4' });
  });

  it('an unknown key or a bad value is one ConfigError naming it', () => {
    expect(() => parseWhatIf('detector.gpus=2')).toThrow(ConfigError);
    expect(() => parseWhatIf('detector.gpus=2')).toThrow(/--set detector.gpus: unknown key; known keys: detector.slots/);
    expect(() => parseWhatIf('detector.slots=0')).toThrow(/--set detector.slots=0: expected a whole number from 1 to 256/);
    expect(() => parseWhatIf('detector.slots')).toThrow(/expected key=value/);
  });
});

describe('the model before the run', () => {
  it('is the smallest c/S over the AI services, the LLM per batch of uploads', () => {
    const backendEnv = { BATCH_WINDOW_SECONDS: '10', BATCH_IDLE_TIMEOUT_SECONDS: '5' };
    const p = preRunPrediction({ detector: { url: '', slots: 1, serviceMs: 80 }, llm: { url: '', slots: 1, serviceMs: 180 }, backendEnv, fps: 1 })!;
    expect(p.bottleneck).toBe('detector');
    expect(p.uploadsPerSec).toBeCloseTo(12.5);
    expect(p.cameras).toBe(12);
    expect(p.perStage.find((s) => s.stage === 'llm')!.uploadsPerSec).toBeCloseTo((1 / 0.18) * 10);
    const twoSlots = preRunPrediction({ detector: { url: '', slots: 2, serviceMs: 80 }, llm: { url: '', slots: 1, serviceMs: 180 }, backendEnv, fps: 1 })!;
    expect(twoSlots.uploadsPerSec / p.uploadsPerSec).toBeCloseTo(2);
  });

  it('one upload per batch when a batch closes at one detection or the camera idles out', () => {
    expect(uploadsPerBatch(0.25, { windowSeconds: 90, idleSeconds: 30, maxDetections: 1 })).toBe(1);
    expect(uploadsPerBatch(0.01, { windowSeconds: 90, idleSeconds: 30, maxDetections: 500 })).toBe(1);
    expect(uploadsPerBatch(1, { windowSeconds: 90, idleSeconds: 30, maxDetections: 500 })).toBe(90);
  });

  it('no slots and no service time: no prediction', () => {
    expect(preRunPrediction({ detector: { url: '', error: 'down' }, llm: { url: '', error: 'down' }, backendEnv: {}, fps: 1 })).toBeNull();
  });
});

/** A step's backlog drift: limit 0.1 jobs/s, se 0.05 (decided when 2 se away). */
function drift(slope: number, over: Partial<BacklogDrift> = {}): BacklogDrift {
  const limit = 0.1;
  return { slope, se: 0.05, criticalSlope: 0.08, limit, sigma: 0.4, spanSec: 24, decided: Math.abs(slope - limit) >= 0.1, sustained: slope <= limit, ...over };
}

describe('the SLOs of a step', () => {
  it('a quiet window holds every SLO; analyze and VRAM are n/a without data', () => {
    const slos = evaluateWindowSlos(window(), 10, SETTINGS);
    expect(slos.filter((s) => s.ok === false)).toEqual([]);
    expect(slos.find((s) => s.name === SLO.analyze)!.ok).toBeNull();
    expect(slos.find((s) => s.name === SLO.vram)).toMatchObject({ ok: null, detail: 'no GPU telemetry' });
  });

  it('each SLO fails on its own counter-example', () => {
    const failing = (w: Partial<WindowMeasure>) => evaluateWindowSlos(window(w), 10, SETTINGS).filter((s) => s.ok === false).map((s) => s.name);
    expect(failing({ detectP95Ms: 2100 })).toEqual([SLO.detect]);
    expect(failing({ analyzeP95Ms: 31000 })).toEqual([SLO.analyze]);
    // one window's backlog slope is informational: the step's drift judges the queue
    expect(failing({ backlogSlopePerSec: 3 })).toEqual([]);
    expect(evaluateWindowSlos(window({ backlogSlopePerSec: 3 }), 10, SETTINGS).find((s) => s.name === SLO.backlog)).toMatchObject({ ok: null, value: 3 });
    expect(failing({ deadLetterGrowth: 1 })).toEqual([SLO.deadLetters]);
    expect(failing({ vramUsedFraction: 0.95 })).toEqual([SLO.vram]);
  });

  it('step SLOs: dropped iterations, failed thresholds; an unstable p95 is reported', () => {
    const judge = { uploadsPerSec: 10, backlog: drift(0.05), settings: SETTINGS, failedFast: false, thresholds: [] };
    const names = (slos: { name: string; ok: boolean | null }[]) => slos.filter((s) => s.ok === false).map((s) => s.name);
    expect(names(stepSlos([window()], { ...judge, verdict: { state: 'stable', p95Ms: 300 }, droppedIterations: 0 }))).toEqual([]);
    expect(names(stepSlos([window()], { ...judge, verdict: { state: 'stable', p95Ms: 300 }, droppedIterations: 3 }))).toEqual([SLO.dropped]);
    const unstable = stepSlos([window()], { ...judge, verdict: { state: 'unstable', rising: true, p95Ms: 900 }, droppedIterations: 0 });
    expect(names(unstable)).toEqual([]); // reported, not a failure: the backlog and the budgets judge an overload
    expect(unstable.find((s) => s.name === SLO.stable)).toMatchObject({ ok: null, detail: 'not stable: p95 still rising after the last window' });
    const thresholds = [{ metric: 'http_req_failed', threshold: 'rate<0.01', ok: false, abortOnFail: false }];
    expect(names(stepSlos([window()], { ...judge, thresholds, verdict: { state: 'stable', p95Ms: 300 }, droppedIterations: 0 }))).toEqual([SLO.thresholds]);
  });

  it("the queue SLO is the whole step's backlog drift against its limit, not one noisy window's", () => {
    const stable = { state: 'stable' as const, p95Ms: 300 };
    const judge = { uploadsPerSec: 10, settings: SETTINGS, failedFast: false, thresholds: [] };
    const names = (slos: { name: string; ok: boolean | null }[]) => slos.filter((s) => s.ok === false).map((s) => s.name);
    // one window jumped +1.2 jobs/s, the other −1.2: over the step the backlog did not grow
    expect(names(stepSlos([window({ backlogSlopePerSec: 1.2 }), window({ backlogSlopePerSec: -1.2 })], { ...judge, backlog: drift(0.02), verdict: stable, droppedIterations: 0 }))).toEqual([]);
    const growing = stepSlos([window(), window()], { ...judge, backlog: drift(0.4), verdict: stable, droppedIterations: 0 });
    expect(names(growing)).toEqual([SLO.backlog]);
    expect(growing.find((s) => s.name === SLO.backlog)!.detail).toMatch(/^slope \+0\.400 ± 0\.050 jobs\/s; decided: 6\.0 standard errors from the limit$/);
    const undecided = stepSlos([window()], { ...judge, backlog: drift(0.12, { decided: false }), verdict: stable, droppedIterations: 0 });
    expect(undecided.find((s) => s.name === SLO.backlog)).toMatchObject({ ok: false, detail: expect.stringMatching(/undecided at the window bound/) });
  });

  it('over several windows an SLO fails when it fails in any of them', () => {
    const slos = stepSlos([window(), window({ detectP95Ms: 2500 })], { uploadsPerSec: 10, backlog: drift(0), settings: SETTINGS, failedFast: false, thresholds: [], verdict: { state: 'stable', p95Ms: 2500 }, droppedIterations: 0 });
    expect(slos.find((s) => s.name === SLO.detect)).toMatchObject({ ok: false, value: 2500 });
  });
});
