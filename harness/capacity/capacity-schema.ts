import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { describeIssue } from '../config/validation.ts';
import { ConfigError, errorMessage } from '../errors.ts';
import { CAPACITY_SCHEMA_VERSION, type CapacityResult } from './capacity-types.ts';
import { STAGE_ORDER } from './hsi-stages.ts';

/** The zod twin of capacity.json (CapacityResult), for reading it back (compare, report). */
export const CAPACITY_FILE = 'capacity.json';

const n = z.number();
const nn = z.number().nullable();
const stage = z.enum(STAGE_ORDER as unknown as [string, ...string[]]).transform((s) => s as (typeof STAGE_ORDER)[number]);

const StageRowSchema = z.object({
  stage,
  label: z.string(),
  count: n,
  throughputPerSec: n,
  serviceMs: nn,
  waitMs: nn,
  p95Ms: nn,
  slots: nn,
  utilisation: nn,
  visitsPerUpload: nn,
  capacityUploadsPerSec: nn,
  hostWorkMs: n.optional(),
  capacityBasis: z.enum(['slots', 'host work', 'CPU']).optional(),
  cpus: n.optional(),
  threadsPerCall: n.optional(),
  sharedCpuMsPerUpload: n.optional(),
});
const LittleSchema = z.object({ observedL: n, predictedL: n, relativeError: n, ok: z.boolean() });
const SloSchema = z.object({ name: z.string(), ok: z.boolean().nullable(), value: nn, limit: z.string(), detail: z.string().optional() });
const WindowSchema = z.object({
  index: n,
  startMs: n,
  endMs: n,
  uploads: n,
  pendingDetections: n,
  detectP95Ms: nn,
  analyzeP95Ms: nn,
  uploadP95Ms: nn,
  backlogSlopePerSec: n,
  deadLetterGrowth: n,
  detectionsPerSec: n,
  vramUsedFraction: nn,
});
const StepSchema = z.object({
  index: n,
  phase: z.enum(['coarse', 'bisect']),
  uploadsPerSec: n,
  cameras: n,
  windows: z.array(WindowSchema),
  stable: z.boolean(),
  sustained: z.boolean(),
  slos: z.array(SloSchema),
  stages: z.array(StageRowSchema),
  little: LittleSchema.nullable(),
  backlogSlopePerSec: n,
  backlog: z.object({ slopePerSec: n, se: nn, limitPerSec: n, criticalSlopePerSec: n, spanSec: n, decided: z.boolean() }).optional(),
  drainSeconds: n,
  seconds: n,
  droppedIterations: n,
  notes: z.array(z.string()),
});
const PredictionSchema = z.object({
  uploadsPerSec: n,
  cameras: n,
  bottleneck: stage,
  basis: z.string(),
  perStage: z.array(z.object({ stage, uploadsPerSec: n, basis: z.string() })),
});

export const CapacityResultSchema = z.object({
  schemaVersion: z.literal(CAPACITY_SCHEMA_VERSION),
  runId: z.string(),
  scenario: z.object({ name: z.string(), description: z.string().optional() }),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  settings: z.object({
    budgets: z.object({ detectP95Ms: n, analyzeP95Ms: n }),
    stability: z.object({ tolerance: n, floorMs: n, stableWindows: n, minWindows: n, maxWindows: n }),
    bounds: z.object({ min: n, max: n, factor: n, resolution: n }),
    windowMs: n,
    warmupMs: n,
    traceLagMs: n,
    backlogSlopeTolerance: n,
    timeLimitMs: n,
    drainTimeoutMs: n,
    maxVramUsedFraction: n,
    fps: n,
    gpus: n,
    whatIfs: z.array(z.object({ key: z.string(), value: z.string() })),
    require: n.optional(),
  }),
  prediction: z.object({
    before: PredictionSchema.nullable(),
    fromTraces: z.object({ uploadsPerSec: n, bottleneck: stage, basis: z.string() }).nullable(),
    fromTracesCameras: nn,
  }),
  steps: z.array(StepSchema),
  knee: z.object({
    kind: z.enum(['knee', 'below-min', 'above-max', 'time-limit', 'none']),
    uploadsPerSec: nn,
    cameras: nn,
    failedAtUploadsPerSec: nn,
    limitedBy: z.array(z.string()),
    bottleneck: stage.nullable(),
  }),
  stages: z.array(StageRowSchema),
  little: LittleSchema.nullable(),
  analytic: z.object({ detectorRps: n.optional(), llmRps: n.optional() }),
  gpu: z.object({ source: z.string(), gpus: n, peakUtilisation: nn, peakMemoryUsedFraction: nn, peakTemperatureC: nn }).nullable(),
  perGpu: z.object({ cameras: nn, fps: n, gpus: n, statement: z.string() }),
  wallSeconds: n,
  verdict: z.enum(['passed', 'failed', 'error', 'interrupted']),
  exitCode: n,
  errors: z.array(z.string()),
});

// Compile-time: the schema's output and the type are the same.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const schemaMatchesType: Equal<z.output<typeof CapacityResultSchema>, CapacityResult> = true;
void schemaMatchesType;

/** capacity.json of a run folder; null when the run is not a capacity run. Bad content: ConfigError naming the file and field. */
export function readCapacityResult(dir: string): CapacityResult | null {
  const file = join(dir, CAPACITY_FILE);
  if (!existsSync(file)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${file}: not valid JSON (${errorMessage(error).split('\n')[0]})`);
  }
  const result = CapacityResultSchema.safeParse(parsed);
  if (!result.success) throw new ConfigError(describeIssue(file, result.error));
  return result.data;
}
