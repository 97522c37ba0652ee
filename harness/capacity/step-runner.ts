import { setTimeout as sleep } from 'node:timers/promises';
import type { CounterValues } from '../load/metrics.ts';
import type { LoadResult } from '../load/load-result.ts';
import { RunResults } from '../util/run-results.ts';
import type { CameraSpec, Scenario, Workload } from '../scenario/scenario-types.ts';
import { errorMessage } from '../errors.ts';
import { runLoadPhase, type AttachedTarget, type LoadPhaseOutcome } from '../experiment/phases.ts';
import type { JaegerQueryClient } from '../traces/jaeger-client.ts';
import type { NormalizedSpan } from '../traces/span-model.ts';
import type { CapacitySettings, CapacityStep, SloResult, WindowMeasure } from './capacity-types.ts';
import { HSI_TRACE_NAMES } from './hsi-stages.ts';
import { QueueMonitor, type QueueSample } from './probes.ts';
import { backlogAllowance, evaluateWindowSlos, SLO, stepSlos } from './slos.ts';
import { assessStability, backlogDrift, mean, percentile, slope, type BacklogDrift, type StabilityRule, type StabilityVerdict } from './stability.ts';
import { littlesLaw, pipelineLatencies, stageTable, type LittleCheck, type StageSlots } from './stage-model.ts';

/** A GPU source for the VRAM-headroom SLO (the GPU telemetry module plugs in here). */
export interface GpuHeadroomSource {
  /** e.g. "nvidia-smi", "/api/system/gpu", "none". */
  readonly source: string;
  /** Peak memory used fraction (0..1) over [fromMs, toMs), or null without data. */
  memoryUsedFraction(fromMs: number, toMs: number): number | null;
}

export interface StepContext {
  base: Scenario;
  target: AttachedTarget;
  /** The run's folder: each step writes its requests into steps/step-NN/. */
  runDir: string;
  jaeger: JaegerQueryClient;
  settings: CapacitySettings;
  slots: StageSlots;
  log: (line: string) => void;
  gpu?: GpuHeadroomSource;
  signal?: AbortSignal;
  /** Each step's load start (epoch ms), for the run's observers. */
  onLoadStart?: (epochMs: number) => void;
}

/**
 * A step's load in words: the offered rate is exact, so the cameras it stands for are
 * rate / fps (13.2 at 3.30/s and 0.25 fps); the step drives ceil of that many camera ids,
 * each a little slower than the scenario's fps (14 at 0.236 fps), never "14 cameras at 0.25 fps".
 */
export function stepLoadLabel(uploadsPerSec: number, fps: number): string {
  const equivalent = uploadsPerSec / fps;
  const ids = Math.max(1, Math.ceil(equivalent - 1e-9));
  const each = uploadsPerSec / ids;
  const whole = Math.abs(equivalent - Math.round(equivalent)) < 1e-6;
  return whole ? `${uploadsPerSec.toFixed(2)} uploads/s = ${ids} cameras at ${fps} fps` : `${uploadsPerSec.toFixed(2)} uploads/s = ${equivalent.toFixed(1)} cameras at ${fps} fps (${ids} cameras at ${each.toFixed(3)} fps)`;
}

/** The k6 scenario a step runs: `cameras` cameras of the base mix at `uploadsPerSec`, evenly spaced. */
export function stepScenario(base: Scenario, uploadsPerSec: number, durationMs: number, fps: number): { scenario: Scenario; cameras: number } {
  const cameras = Math.max(1, Math.ceil(uploadsPerSec / fps - 1e-9));
  const pool = base.cameras;
  const list: CameraSpec[] = Array.from({ length: cameras }, (_, i) => {
    const src = pool[i % pool.length]!;
    return { ...src, id: `cap_${String(i + 1).padStart(3, '0')}`, name: `Capacity ${i + 1}`, weight: 1 };
  });
  const name = Object.keys(base.scenarios)[0] ?? 'capacity';
  const workload: Workload = {
    executor: 'constant-arrival-rate',
    rate: Math.max(1, Math.round(uploadsPerSec * 100)),
    timeUnitMs: 100_000,
    durationMs,
    preAllocatedVUs: Math.ceil(uploadsPerSec) + 4,
    maxVUs: Math.ceil(uploadsPerSec * 10) + 20,
    startTimeMs: 0,
    gracefulStopMs: 5_000,
    tags: {},
    env: {},
    cameraIndexes: list.map((_, i) => i),
  };
  return {
    cameras,
    scenario: {
      ...base,
      scenarios: { [name]: workload },
      cameras: list,
      faults: [],
      expectations: [],
      limits: { maxDurationMs: durationMs + 60_000, maxRequests: Math.ceil(uploadsPerSec * (durationMs / 1000 + 10)) + 100 },
    },
  };
}

function flatten(trees: readonly { spans: readonly NormalizedSpan[] }[]): NormalizedSpan[] {
  return trees.flatMap((t) => t.spans);
}

interface LoadSettled {
  outcome?: LoadPhaseOutcome;
  error?: string;
}

/** One step: load at a fixed rate, windows until stable (bounded), verdict, drain, per-stage table. */
export class StepRunner {
  private readonly ctx: StepContext;

  constructor(ctx: StepContext) {
    this.ctx = ctx;
  }

  async run(index: number, phase: 'coarse' | 'bisect', uploadsPerSec: number): Promise<CapacityStep> {
    const { settings, log } = this.ctx;
    const started = Date.now();
    const { stability, windowMs, warmupMs, traceLagMs } = settings;
    const durationMs = warmupMs + stability.maxWindows * windowMs + traceLagMs + 2_000;
    const { scenario, cameras } = stepScenario(this.ctx.base, uploadsPerSec, durationMs, settings.fps);
    const results = new RunResults(`${this.ctx.runDir}/steps`, `step-${String(index).padStart(2, '0')}`);
    const monitor = new QueueMonitor(this.ctx.target.endpoints.backendUrl, 500, this.ctx.target.http).start();
    const abort = new AbortController();
    const onOuterAbort = () => abort.abort();
    this.ctx.signal?.addEventListener('abort', onOuterAbort, { once: true });
    const clock = { startMs: Date.now() };
    const notes: string[] = [];
    let markStarted = () => {};
    const loadStarted = new Promise<void>((resolve) => (markStarted = resolve));
    // settled into a value at once: a failing load must not become an unhandled rejection
    const load = runLoadPhase({ scenario, target: this.ctx.target, results, plannedFaults: [], log: () => {}, signal: abort.signal, onLoadStart: (epochMs) => ((clock.startMs = epochMs), this.ctx.onLoadStart?.(epochMs), markStarted()) }).then(
      (outcome): LoadSettled => ({ outcome }),
      (error: unknown): LoadSettled => (markStarted(), { error: errorMessage(error) }),
    );
    await loadStarted;
    let measuring: WindowsOutcome = { windows: [], verdict: { state: 'measuring' }, failedFast: false };
    try {
      measuring = await this.measureWindows(phase, uploadsPerSec, clock.startMs, monitor);
    } finally {
      abort.abort();
    }
    const { windows, verdict, failedFast } = measuring;
    const settled = await load;
    if (settled.error !== undefined) notes.push(`load: ${settled.error}`);
    const loadOutcome = settled.outcome;
    const drainSeconds = await this.drain(monitor, notes);
    await monitor.stop();
    this.ctx.signal?.removeEventListener('abort', onOuterAbort);
    const measured = verdictWindows(windows, verdict, settings.stability.stableWindows);
    const dropped = droppedIterations(loadOutcome?.loadResult);
    const backlog = this.drift(monitor, windows, clock.startMs, uploadsPerSec, phase);
    const slos = stepSlos(measured, { uploadsPerSec, backlog, settings, verdict, failedFast, droppedIterations: dropped, thresholds: loadOutcome?.loadResult.thresholds ?? [] });
    const { stages, little } = await this.explain(measured, monitor, notes, results, { loadStartMs: clock.startMs, fromMs: windows[0]?.startMs ?? clock.startMs });
    const sustained = slos.every((s) => s.ok !== false) && measured.length > 0;
    return {
      index,
      phase,
      uploadsPerSec,
      cameras,
      windows,
      stable: verdict.state === 'stable',
      sustained,
      slos,
      stages,
      little,
      backlogSlopePerSec: backlog.slope,
      backlog: driftRecord(backlog),
      drainSeconds,
      seconds: (Date.now() - started) / 1000,
      droppedIterations: dropped,
      notes,
    };
  }

  /**
   * Windows until the verdict is clear, bounded: a backlog clearly growing ends the step; a
   * stable p95 with the backlog decided ends it; otherwise another window. Coarse steps (far
   * from the knee, as a rule) judge the backlog by its residuals and stop at 4 windows; bisection
   * steps (near the knee) by a random walk's error, up to --max-windows, so that a few per cent
   * of overload has time to show.
   */
  private async measureWindows(phase: 'coarse' | 'bisect', uploadsPerSec: number, loadStartMs: number, monitor: QueueMonitor): Promise<WindowsOutcome> {
    const { settings, log } = this.ctx;
    const rule: StabilityRule = { ...settings.stability, maxWindows: windowBound(phase, settings.stability) };
    const windows: WindowMeasure[] = [];
    let verdict: StabilityVerdict = { state: 'measuring' };
    for (let k = 1; k <= rule.maxWindows; k++) {
      const w = { startMs: loadStartMs + settings.warmupMs + (k - 1) * settings.windowMs, endMs: loadStartMs + settings.warmupMs + k * settings.windowMs };
      await sleep(Math.max(0, w.endMs + settings.traceLagMs - Date.now()));
      if (this.ctx.signal?.aborted) break;
      const m = await this.measureWindow(k, w, monitor, uploadsPerSec);
      windows.push(m);
      log(`  window ${k}: ${formatWindow(m)}`);
      verdict = assessStability(
        windows.map((x) => x.detectP95Ms),
        rule,
      );
      if (k < rule.minWindows) continue;
      const drift = this.drift(monitor, windows, loadStartMs, uploadsPerSec, phase);
      if (drift.decided && !drift.sustained) break;
      if (verdict.state === 'stable' && drift.decided) break;
      if (verdict.state === 'unstable') break;
      if (this.failsTwice(windows, uploadsPerSec)) return { windows, verdict, failedFast: true };
    }
    return { windows, verdict, failedFast: false };
  }

  /** The backlog's drift over every measured window so far (see backlogDrift). */
  private drift(monitor: QueueMonitor, windows: readonly WindowMeasure[], loadStartMs: number, uploadsPerSec: number, phase: 'coarse' | 'bisect'): BacklogDrift {
    const from = windows[0]?.startMs ?? loadStartMs;
    const to = windows[windows.length - 1]?.endMs ?? from;
    const points = monitor.between(from, to).map((q) => ({ t: q.atMs / 1000, y: q.backlog }));
    return backlogDrift(points, { loadStartSec: loadStartMs / 1000, allowancePerSec: backlogAllowance(uploadsPerSec, this.ctx.settings), z: 2, randomWalkError: phase === 'bisect' });
  }

  /** A step that breaks a hard SLO in two windows in a row has failed; no need to wait for stability. */
  private failsTwice(windows: readonly WindowMeasure[], uploadsPerSec: number): boolean {
    // one window's backlog slope is noise-prone: the early stop looks at the hard limits only
    const bad = (w: WindowMeasure) => evaluateWindowSlos(w, uploadsPerSec, this.ctx.settings).some((s) => s.ok === false && s.name !== SLO.backlog);
    return windows.length >= 2 && bad(windows[windows.length - 1]!) && bad(windows[windows.length - 2]!);
  }

  private async fetchSpans(w: { startMs: number; endMs: number }, uploadsPerSec: number): Promise<NormalizedSpan[]> {
    const seconds = (w.endMs - w.startMs) / 1000;
    const limit = Math.ceil(uploadsPerSec * seconds * 1.5) + 50;
    const trees = await this.ctx.jaeger.findTraces({ service: HSI_TRACE_NAMES.backendService, operation: HSI_TRACE_NAMES.upload, startMin: new Date(w.startMs), startMax: new Date(w.endMs), limit });
    return flatten(trees);
  }

  private async measureWindow(index: number, w: { startMs: number; endMs: number }, monitor: QueueMonitor, uploadsPerSec: number): Promise<WindowMeasure> {
    let spans: NormalizedSpan[] = [];
    try {
      spans = await this.fetchSpans(w, uploadsPerSec);
    } catch (error) {
      this.ctx.log(`  window ${index}: traces unreadable: ${errorMessage(error)}`);
    }
    return windowMeasure(index, w, spans, monitor, Date.now(), this.ctx.gpu);
  }

  /** Waits until nothing is queued or running (two samples in a row), bounded. */
  private async drain(monitor: QueueMonitor, notes: string[]): Promise<number> {
    const started = Date.now();
    let empty = 0;
    while (Date.now() - started < this.ctx.settings.drainTimeoutMs) {
      const s = await monitor.sampleOnce();
      empty = s && s.backlog === 0 ? empty + 1 : 0;
      if (empty >= 2) return (Date.now() - started) / 1000;
      await sleep(250);
    }
    notes.push(`the pipeline did not drain within ${this.ctx.settings.drainTimeoutMs / 1000} s`);
    return (Date.now() - started) / 1000;
  }

  /** Per-stage table and Little's law over the windows the verdict was taken from (after the drain, so the traces are complete). */
  private async explain(measured: readonly WindowMeasure[], monitor: QueueMonitor, notes: string[], results: RunResults, step: { loadStartMs: number; fromMs: number }): Promise<{ stages: CapacityStep['stages']; little: LittleCheck | null }> {
    if (measured.length === 0) return { stages: [], little: null };
    const w = { startMs: measured[0]!.startMs, endMs: measured[measured.length - 1]!.endMs };
    let spans: NormalizedSpan[];
    try {
      spans = await this.fetchSpans(w, measured.reduce((a, m) => Math.max(a, m.uploads), 0) / ((measured[0]!.endMs - measured[0]!.startMs) / 1000));
    } catch (error) {
      notes.push(`per-stage table: traces unreadable: ${errorMessage(error)}`);
      return { stages: [], little: null };
    }
    // the step's evidence, kept for re-analysis: the spans the table was computed from and the queue samples
    results.writeJson('evidence.json', { ...recordEvidence(spans, monitor.between(step.fromMs, w.endMs), w, this.ctx.slots), loadStartMs: step.loadStartMs });
    const stages = stageTable(spans, w, this.ctx.slots, HSI_TRACE_NAMES, this.ctx.base.tracing.sampledFraction);
    return { stages, little: detectionLittle(spans, w, monitor, this.ctx.base.tracing.sampledFraction) };
  }
}

interface WindowsOutcome {
  windows: WindowMeasure[];
  verdict: StabilityVerdict;
  failedFast: boolean;
}

/** Coarse steps stop at 4 windows (or --max-windows, if lower); bisection steps at --max-windows. */
export function windowBound(phase: 'coarse' | 'bisect', rule: StabilityRule): number {
  return phase === 'coarse' ? Math.max(rule.minWindows, Math.min(4, rule.maxWindows)) : rule.maxWindows;
}

/** The drift as capacity.json keeps it. */
function driftRecord(d: BacklogDrift): CapacityStep['backlog'] {
  return { slopePerSec: d.slope, se: Number.isFinite(d.se) ? d.se : null, limitPerSec: d.limit, criticalSlopePerSec: d.criticalSlope, spanSec: d.spanSec, decided: d.decided };
}

/** The windows the verdict rests on: the stable ones, else the last. */
function verdictWindows(windows: readonly WindowMeasure[], verdict: StabilityVerdict, stableWindows: number): WindowMeasure[] {
  if (windows.length === 0) return [];
  return verdict.state === 'stable' ? windows.slice(-stableWindows) : windows.slice(-1);
}

function droppedIterations(load: LoadResult | undefined): number {
  const m = load?.metrics['dropped_iterations'] as { values?: CounterValues } | undefined;
  return m?.values?.count ?? 0;
}

/** One window's measures from its traces, the queue samples and the GPU source. */
export function windowMeasure(index: number, w: { startMs: number; endMs: number }, spans: readonly NormalizedSpan[], monitor: Pick<QueueMonitor, 'between'>, nowMs: number, gpu?: GpuHeadroomSource): WindowMeasure {
  const n = HSI_TRACE_NAMES;
  const inWin = (s: NormalizedSpan) => s.startTimeMs >= w.startMs && s.startTimeMs < w.endMs;
  const uploads = spans.filter((s) => s.name === n.upload && s.kind === 'server' && inWin(s));
  const latencies = pipelineLatencies(spans);
  const detected = new Set(latencies.detect.map((d) => d.traceId));
  const detect = latencies.detect.filter((d) => d.atMs >= w.startMs && d.atMs < w.endMs).map((d) => d.ms);
  // uploads with no detection yet count at their age: a lower bound, so an overload cannot hide
  const pending = uploads.filter((u) => !detected.has(u.traceId)).map((u) => nowMs - u.startTimeMs);
  const analyze = latencies.analyze.filter((d) => d.atMs >= w.startMs && d.atMs < w.endMs).map((d) => d.ms);
  const samples = monitor.between(w.startMs, w.endMs);
  const seconds = (w.endMs - w.startMs) / 1000;
  const detections = spans.filter((s) => s.name === n.detectionProcessing && s.startTimeMs + s.durationMs >= w.startMs && s.startTimeMs + s.durationMs < w.endMs).length;
  return {
    index,
    startMs: w.startMs,
    endMs: w.endMs,
    uploads: uploads.length,
    pendingDetections: pending.length,
    detectP95Ms: percentile([...detect, ...pending], 95),
    analyzeP95Ms: percentile(analyze, 95),
    uploadP95Ms: percentile(
      uploads.map((u) => u.durationMs),
      95,
    ),
    backlogSlopePerSec: slope(samples.map((s) => ({ t: s.atMs / 1000, y: s.backlog }))),
    deadLetterGrowth: samples.length >= 2 ? samples[samples.length - 1]!.deadLetters - samples[0]!.deadLetters : 0,
    detectionsPerSec: detections / seconds,
    vramUsedFraction: gpu?.memoryUsedFraction(w.startMs, w.endMs) ?? null,
  };
}

/**
 * Little's law on the detection side: L (detection jobs queued + being worked on, polled from
 * the backend) against X·R from the traces (R = queue wait + detection_processing).
 */
export function detectionLittle(spans: readonly NormalizedSpan[], w: { startMs: number; endMs: number }, monitor: Pick<QueueMonitor, 'between'>, sampledFraction = 1): LittleCheck | null {
  const samples = monitor.between(w.startMs, w.endMs);
  const processing = spans.filter((s) => s.name === HSI_TRACE_NAMES.detectionProcessing && s.startTimeMs >= w.startMs && s.startTimeMs < w.endMs);
  if (samples.length === 0 || processing.length === 0) return null;
  const seconds = (w.endMs - w.startMs) / 1000;
  const x = processing.length / seconds / sampledFraction;
  const r = mean(processing.map((s) => s.durationMs + Number(s.attributes['queue_wait_ms'] ?? 0)))!;
  const l = mean(samples.map((s) => s.detection))!;
  return littlesLaw(l, x, r);
}

/** A step's recorded evidence (evidence.json): enough to recompute its per-stage table and Little's law. */
export interface StepEvidence {
  window: { startMs: number; endMs: number };
  slots: StageSlots;
  /** Queue samples of every measured window of the step (the backlog's drift), the table's window among them. */
  queue: QueueSample[];
  /** The step's load start (epoch ms), for re-judging the drift. */
  loadStartMs?: number;
  spans: RecordedSpan[];
}

export type RecordedSpan = Pick<NormalizedSpan, 'traceId' | 'spanId' | 'service' | 'name' | 'kind' | 'startTimeMs' | 'durationMs' | 'attributes'> & { parentSpanId?: string };

const KEPT_ATTRIBUTES = ['queue_wait_ms', 'ai.semaphore.wait_ms', 'ai.inference.queue_wait_ms', 'ai.inference.time_ms', 'ai.inference.decode_ms', 'ai.inference.preprocess_ms', 'ai.inference.postprocess_ms', 'ai.llm.timings.prompt_ms', 'ai.llm.timings.generation_ms', 'db.system.name'];

export function recordEvidence(spans: readonly NormalizedSpan[], queue: readonly QueueSample[], window: { startMs: number; endMs: number }, slots: StageSlots): StepEvidence {
  return {
    window,
    slots,
    queue: [...queue],
    spans: spans.map((s) => ({
      traceId: s.traceId,
      spanId: s.spanId,
      ...(s.parentSpanId !== undefined ? { parentSpanId: s.parentSpanId } : {}),
      service: s.service,
      name: s.name,
      kind: s.kind,
      startTimeMs: s.startTimeMs,
      durationMs: s.durationMs,
      attributes: Object.fromEntries(KEPT_ATTRIBUTES.filter((k) => s.attributes[k] !== undefined).map((k) => [k, s.attributes[k]!])),
    })),
  };
}

/** Evidence read back as spans (the fields the model does not use get neutral values). */
export function spansOfEvidence(evidence: StepEvidence): NormalizedSpan[] {
  return evidence.spans.map((s): NormalizedSpan => ({ ...s, startTimeUnixNano: BigInt(Math.round(s.startTimeMs * 1e6)), resource: {}, events: [], links: [], status: { code: 'unset' } }));
}

export function formatWindow(m: WindowMeasure): string {
  const ms = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(0)} ms`);
  return `detect p95 ${ms(m.detectP95Ms)}, analyze p95 ${ms(m.analyzeP95Ms)}, upload p95 ${ms(m.uploadP95Ms)}, ${m.detectionsPerSec.toFixed(2)} detections/s, backlog ${m.backlogSlopePerSec >= 0 ? '+' : ''}${m.backlogSlopePerSec.toFixed(2)}/s${m.pendingDetections > 0 ? `, ${m.pendingDetections} pending` : ''}`;
}

export type { SloResult };
