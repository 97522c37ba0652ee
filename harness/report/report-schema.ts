import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CapacityResultSchema } from '../capacity/capacity-schema.ts';
import { describeIssue } from '../config/validation.ts';
import { ConfigError, errorMessage } from '../errors.ts';
import { REPORT_SCHEMA_VERSION, type RunReportModel } from './report-model.ts';
import { ReplayFidelitySchema } from './replay-fidelity.ts';

/**
 * The zod twin of `RunReportModel`, for everything read back from disk (compare, a
 * report re-rendered from an old run). A compile-time check below keeps the two equal:
 * a field added to the model without its schema fails `tsc`.
 */
export const SUMMARY_FILE = 'summary.json';

const nullableNumber = z.number().nullable();
const TimeSeriesPointSchema = z.object({ tSec: z.number(), requests: z.number(), errors: z.number(), p50Ms: nullableNumber, p95Ms: nullableNumber, p99Ms: nullableNumber });

const phase = z.object({ p95Ms: nullableNumber, errorRate: z.number(), requests: z.number() });
const impactSchema = z.object({ before: phase, during: phase, after: phase, recoverySeconds: nullableNumber });

const gpuPeaks = z.object({
  utilizationPct: nullableNumber,
  memoryUsedMiB: nullableNumber,
  memoryTotalMiB: nullableNumber,
  memoryUsedFraction: nullableNumber,
  temperatureC: nullableNumber,
  powerW: nullableNumber,
});
const GpuPointSchema = z.object({
  tSec: z.number(),
  utilizationPct: nullableNumber,
  memoryUsedMiB: nullableNumber,
  memoryTotalMiB: nullableNumber,
  temperatureC: nullableNumber,
  powerW: nullableNumber,
});
const GpuReportViewSchema = z.object({
  available: z.boolean(),
  source: z.string(),
  tried: z.array(z.object({ source: z.string(), reason: z.string() })),
  sampleCount: z.number(),
  malformedLines: z.number(),
  readFailures: z.number(),
  lastReadFailure: z.string().nullable(),
  lost: z.array(z.object({ index: z.number(), name: z.string().nullable(), atSec: z.number() })),
  peaks: gpuPeaks,
  perGpu: z.array(gpuPeaks.extend({ index: z.number(), name: z.string().nullable() })),
  series: z.array(z.object({ index: z.number(), name: z.string().nullable(), points: z.array(GpuPointSchema) })),
  knee: z.object({ tSec: z.number(), label: z.string() }).optional(),
});
const aiMode = z.enum(['emulated', 'real']);
const percentiles = z.object({ count: z.number(), mean: nullableNumber, p50: nullableNumber, p95: nullableNumber });
const enginePoint = z.object({ tSec: z.number(), count: z.number(), value: nullableNumber, promptMs: nullableNumber.optional() });

export const RunReportModelSchema = z.object({
  schemaVersion: z.literal(REPORT_SCHEMA_VERSION),
  runId: z.string().min(1),
  scenario: z.object({ name: z.string(), description: z.string().optional() }),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  verdict: z.enum(['passed', 'failed', 'error', 'interrupted']),
  exitCode: z.number().int(),
  stack: z.object({
    kind: z.enum(['embedded', 'external', 'compose']),
    composeFile: z.string().optional(),
    startSeconds: z.number().optional(),
    defects: z.array(z.string()),
    backendUrl: z.string().optional(),
    jaegerUrl: z.string().optional(),
    ai: z.object({ detector: aiMode, llm: aiMode }).optional(),
    profile: z.enum(['reference', 'hsi-current']).optional(),
    dialect: z.object({ name: z.enum(['reference', 'hsi-current']), detected: z.boolean(), reason: z.string() }).optional(),
  }),
  aiEngines: z
    .object({
      bucketSec: z.number(),
      llm: z
        .object({
          mode: aiMode,
          tokensPerSecond: percentiles,
          promptMs: percentiles,
          promptTokens: percentiles,
          generatedTokens: percentiles,
          callMs: percentiles,
          series: z.array(enginePoint),
        })
        .optional(),
      detector: z
        .object({ mode: aiMode, weights: z.string().nullable(), device: z.string().nullable(), inferenceMs: percentiles, callMs: percentiles, series: z.array(enginePoint) })
        .optional(),
    })
    .optional(),
  load: z
    .object({
      driver: z.enum(['native', 'k6']),
      durationSec: z.number(),
      httpReqs: z.number(),
      httpReqsPerSec: z.number(),
      httpReqFailedRate: z.number(),
      httpReqDuration: z.object({ avg: z.number(), min: z.number(), med: z.number(), max: z.number(), p90: z.number(), p95: z.number(), p99: z.number() }),
      iterations: z.number(),
      droppedIterations: z.number(),
      sendLagMs: z.object({ p50: z.number(), p99: z.number(), max: z.number() }).optional(),
      runnablePerCpu: z.number().nonnegative().optional(),
    })
    .optional(),
  timeSeries: z.array(TimeSeriesPointSchema),
  pipelineTimeSeries: z.object({ bucketSec: z.number(), eventsNotTraced: z.number(), uploadToDetection: z.array(TimeSeriesPointSchema), uploadToEvent: z.array(TimeSeriesPointSchema) }).optional(),
  thresholds: z.array(
    z.object({ metric: z.string(), expression: z.string(), ok: z.boolean(), value: z.number().optional(), noSamples: z.literal(true).optional(), abortOnFail: z.boolean().optional() }),
  ),
  faults: z.array(
    z.object({
      name: z.string(),
      target: z.string(),
      faultType: z.string(),
      plannedStartSec: z.number(),
      plannedEndSec: z.number(),
      startSec: nullableNumber,
      endSec: nullableNumber,
      applyLagMs: nullableNumber,
      removeLagMs: nullableNumber,
      error: z.string().optional(),
      impact: impactSchema.optional(),
      pipelineImpact: z.object({ uploadToDetection: impactSchema, uploadToEvent: impactSchema }).optional(),
    }),
  ),
  assertions: z.array(
    z.object({
      family: z.string(),
      name: z.string(),
      passed: z.boolean(),
      judged: z.literal(false).optional(),
      measured: z.string(),
      bound: z.string(),
      message: z.string(),
      exampleTraceIds: z.array(z.string()),
    }),
  ),
  operations: z.array(
    z.object({
      service: z.string(),
      name: z.string(),
      count: z.number(),
      p50Ms: z.number(),
      p90Ms: z.number(),
      p95Ms: z.number(),
      p99Ms: z.number(),
      budget: z.object({ percentile: z.number(), maxMs: z.number(), ok: z.boolean() }).optional(),
    }),
  ),
  exampleTraces: z.array(
    z.object({
      label: z.string(),
      traceId: z.string(),
      spans: z.array(
        z.object({
          spanId: z.string(),
          parentSpanId: z.string().optional(),
          service: z.string(),
          name: z.string(),
          startOffsetMs: z.number(),
          durationMs: z.number(),
          error: z.boolean(),
        }),
      ),
    }),
  ),
  serviceMap: z.array(z.object({ from: z.string(), to: z.string(), calls: z.number(), broken: z.boolean() })),
  gpu: GpuReportViewSchema.optional(),
  errors: z.array(z.string()),
  capacity: CapacityResultSchema.optional(),
  replayFidelity: ReplayFidelitySchema.optional(),
  eventStream: z
    .object({
      path: z.string(),
      subscribed: z.boolean(),
      note: z.string().optional(),
      frames: z.object({ single: z.number(), batch: z.number(), other: z.number(), invalid: z.number() }),
      storedEvents: z.number(),
      broadcastEvents: z.number(),
      gaps: z.number(),
      uploadToEventMs: z.object({ count: z.number(), p50Ms: nullableNumber, p95Ms: nullableNumber, p99Ms: nullableNumber, maxMs: nullableNumber }),
    })
    .optional(),
  rateLimit: z
    .object({ responses429: z.number().int().nonnegative(), retries: z.number().int().nonnegative(), gaveUp: z.number().int().nonnegative(), waitedMs: z.number().nonnegative(), byPath: z.record(z.string(), z.number().int()) })
    .optional(),
});

// Compile-time: the schema's output and the model are the same type. A field added to the
// model (even an optional one) without its schema makes this line fail `tsc`.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const schemaMatchesModel: Equal<z.infer<typeof RunReportModelSchema>, RunReportModel> = true;
void schemaMatchesModel;

/** Validates a parsed summary.json; one-line ConfigError naming `source` and the field. */
export function parseRunReport(value: unknown, source: string): RunReportModel {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${source}: (root): expected a JSON object (a run report), got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
  }
  const record = value as Record<string, unknown>;
  const version = record['schemaVersion'];
  if (record['kind'] === 'upload-trace-check') {
    throw new ConfigError(
      `${source}: kind: "upload-trace-check" is the first main job's summary, not a run report (schemaVersion ${REPORT_SCHEMA_VERSION} with verdict/timeSeries); re-run it with this hsi-chaos to get a comparable report`,
    );
  }
  if (version === undefined) {
    throw new ConfigError(`${source}: schemaVersion: missing; not a run report of hsi-chaos (expected schemaVersion ${REPORT_SCHEMA_VERSION})`);
  }
  if (version !== REPORT_SCHEMA_VERSION) {
    const older = typeof version === 'number' && version < REPORT_SCHEMA_VERSION;
    throw new ConfigError(
      `${source}: schemaVersion: ${JSON.stringify(version)} is ${older ? 'an older' : 'a newer or unknown'} report format; this hsi-chaos reads version ${REPORT_SCHEMA_VERSION}${older ? ' (re-run the baseline)' : ' (update hsi-chaos)'}`,
    );
  }
  const result = RunReportModelSchema.safeParse(value);
  if (!result.success) throw new ConfigError(describeIssue(source, result.error));
  return result.data;
}

/** The summary.json of a run folder (or the path of a summary.json itself). */
export function summaryPath(dirOrFile: string): string {
  if (dirOrFile.endsWith('.json')) return dirOrFile;
  return join(dirOrFile, SUMMARY_FILE);
}

/**
 * Reads and validates `results/<run-id>/summary.json`. Every problem (no such folder,
 * no file, not JSON, old version, bad field) is one ConfigError line naming the file
 * and, where there is one, the field: `results/r1/summary.json: timeSeries.3.requests: …`.
 */
export function readRunReport(dirOrFile: string): RunReportModel {
  const file = summaryPath(dirOrFile);
  if (!existsSync(file)) {
    const dirMissing = !dirOrFile.endsWith('.json') && !existsSync(dirOrFile);
    throw new ConfigError(
      dirMissing ? `${dirOrFile}: no such run folder (expected results/<run-id>/ with ${SUMMARY_FILE})` : `${file}: not found; is this a results/<run-id>/ folder of a finished run?`,
    );
  }
  if (statSync(file).isDirectory()) throw new ConfigError(`${file}: is a directory, expected the run's ${SUMMARY_FILE}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${file}: not valid JSON (${errorMessage(error).split('\n')[0]})`);
  }
  return parseRunReport(parsed, file);
}
