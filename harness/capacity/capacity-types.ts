import type { SearchBounds } from './search.ts';
import type { StabilityRule } from './stability.ts';
import type { LittleCheck, ModelPrediction, StageRow } from './stage-model.ts';
import type { StageName } from './hsi-stages.ts';

/** capacity.json: versioned; bump when a field changes meaning. */
export const CAPACITY_SCHEMA_VERSION = 1 as const;

export interface CapacitySettings {
  /** Span budgets (contract: detect p95 < 2 s, analyze p95 < 30 s). */
  budgets: { detectP95Ms: number; analyzeP95Ms: number };
  stability: StabilityRule;
  bounds: SearchBounds;
  /** One measurement window. */
  windowMs: number;
  /** Discarded at the start of each step. */
  warmupMs: number;
  /** How long after a window its traces are read (span export delay). */
  traceLagMs: number;
  /** Backlog growth allowed, as a fraction of the offered load (jobs/s per upload/s). */
  backlogSlopeTolerance: number;
  /** Whole search, stack start excluded. */
  timeLimitMs: number;
  /** Longest wait for the pipeline to drain between steps. */
  drainTimeoutMs: number;
  /** VRAM used fraction allowed (1 − headroom). */
  maxVramUsedFraction: number;
  /** Frames per second of one camera (the scenario's cameras' mean fps, else 1). */
  fps: number;
  /** GPUs the stack used (for "per GPU"). */
  gpus: number;
  whatIfs: { key: string; value: string }[];
  /** --require N: cameras that must be sustained. */
  require?: number;
}

export interface SloResult {
  name: string;
  /** null: not applicable in this window (no data, e.g. no GPU telemetry). */
  ok: boolean | null;
  value: number | null;
  limit: string;
  detail?: string;
}

export interface WindowMeasure {
  index: number;
  startMs: number;
  endMs: number;
  /** Uploads whose server span started in the window. */
  uploads: number;
  /** Of those, still without detection when the window was read (counted at their age). */
  pendingDetections: number;
  detectP95Ms: number | null;
  analyzeP95Ms: number | null;
  uploadP95Ms: number | null;
  /** Least-squares slope of the backlog (queued + running), jobs/s. */
  backlogSlopePerSec: number;
  deadLetterGrowth: number;
  /** Detections completed per second (detection_processing spans). */
  detectionsPerSec: number;
  /** Peak VRAM used fraction in the window, when a GPU source exists. */
  vramUsedFraction: number | null;
}

export interface CapacityStep {
  index: number;
  phase: 'coarse' | 'bisect';
  uploadsPerSec: number;
  cameras: number;
  windows: WindowMeasure[];
  stable: boolean;
  sustained: boolean;
  /** The SLOs on the window(s) the verdict was taken from. */
  slos: SloResult[];
  stages: StageRow[];
  little: LittleCheck | null;
  /** Backlog slope over all measured windows of the step, jobs/s (the queue SLO). */
  backlogSlopePerSec: number;
  /** The queue SLO's evidence: the slope's standard error, its limit (a critically loaded queue's growth), decided or not. */
  backlog?: { slopePerSec: number; se: number | null; limitPerSec: number; criticalSlopePerSec: number; spanSec: number; decided: boolean };
  drainSeconds: number;
  seconds: number;
  /** Iterations the load driver could not start in time (k6's dropped_iterations) over the step. */
  droppedIterations: number;
  notes: string[];
}

/** The model's prediction before the run, from /health and the configuration. */
export interface PreRunPrediction {
  uploadsPerSec: number;
  cameras: number;
  bottleneck: StageName;
  basis: string;
  perStage: { stage: StageName; uploadsPerSec: number; basis: string }[];
}

export interface GpuPeaks {
  source: string;
  gpus: number;
  peakUtilisation: number | null;
  peakMemoryUsedFraction: number | null;
  peakTemperatureC: number | null;
}

export interface CapacityResult {
  schemaVersion: typeof CAPACITY_SCHEMA_VERSION;
  runId: string;
  scenario: { name: string; description?: string };
  startedAt: string;
  finishedAt?: string;
  settings: CapacitySettings;
  prediction: { before: PreRunPrediction | null; fromTraces: ModelPrediction | null; fromTracesCameras: number | null };
  steps: CapacityStep[];
  knee: {
    kind: 'knee' | 'below-min' | 'above-max' | 'time-limit' | 'none';
    /** Highest load that held (uploads/s). */
    uploadsPerSec: number | null;
    cameras: number | null;
    /** Lowest load that failed. */
    failedAtUploadsPerSec: number | null;
    /** The SLOs that failed at the lowest failing load. */
    limitedBy: string[];
    bottleneck: StageName | null;
  };
  /** Per-stage table at the knee (the highest step that held). */
  stages: StageRow[];
  little: LittleCheck | null;
  /** The emulators' own analytic capacities (requests/s), when they print them. */
  analytic: { detectorRps?: number; llmRps?: number };
  gpu: GpuPeaks | null;
  perGpu: { cameras: number | null; fps: number; gpus: number; statement: string };
  wallSeconds: number;
  verdict: 'passed' | 'failed' | 'error' | 'interrupted';
  exitCode: number;
  errors: string[];
}
