import { z } from 'zod';
import { HARNESS_METRICS, K6_BUILTIN_METRICS } from '../load/metrics.ts';
import { checkThreshold } from '../load/thresholds.ts';
import { DEFECT_NAMES, isDefectName } from '../stack/defects.ts';
import { parseDurationMs } from '../util/duration.ts';
import { requestOptions, workloadRequestOptions } from './request-schema.ts';
import { AiModesSetting } from '../config/real-ai-config.ts';

/**
 * The zod schema of a scenario definition (the default export of `scenarios/<name>.ts`).
 * Workload options use k6's vocabulary and defaults; durations are k6 strings ("500ms",
 * "30s", "1m30s") or numbers of ms and come out as ms. Cross-field checks that need the
 * whole definition (camera ids, fps-derived rate, limits) are in validate-scenario.ts.
 */
export const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDurationMs(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(value)} (use e.g. "500ms", "30s", "1m30s")` });
    return z.NEVER;
  }
  return ms;
});

const positiveDuration = duration.refine((ms) => ms > 0, { message: 'must be above 0' });
/** k6 refuses constant-vus and constant-arrival-rate shorter than 1s (executor Validate) */
const constantDuration = duration.refine((ms) => ms >= 1000, { error: (issue) => `must be at least 1s (k6 refuses shorter constant executors), got ${JSON.stringify(issue.input)}` });
const int = (what: string) => z.number({ error: `${what} must be a number` }).int(`${what} must be a whole number`);
const stringMap = z.record(z.string().min(1), z.string());
const SCENARIO_NAME = /^[0-9a-zA-Z_-]+$/; // k6's scenarioNameWhitelist
export const CAMERA_ID = /^[a-z0-9_]{1,64}$/;

function discriminator(input: unknown, key: string): unknown {
  return typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[key] : input;
}

const common = {
  startTime: duration.default(0),
  gracefulStop: duration.default(30_000),
  tags: stringMap.default({}),
  env: stringMap.default({}),
  /** hsi-chaos extension: which cameras of the mix this scenario uploads for (default: all). */
  cameras: z.array(z.string().min(1)).min(1).optional(),
  ...workloadRequestOptions,
};

/** The two iteration executors take the same options; they differ in how iterations are shared. */
const iterationOptions = {
  vus: int('vus').min(1).default(1),
  iterations: int('iterations').min(1).default(1),
  maxDuration: positiveDuration.default(600_000),
};

const stage = z.object({ duration, target: int('target').min(0, 'target must be 0 or more') }).strict();
const stages = z.array(stage).min(1, 'needs at least one stage');

export const ExecutorSchema = z.discriminatedUnion(
  'executor',
  [
    z
      .object({
        executor: z.literal('shared-iterations'),
        ...iterationOptions,
        ...common,
      })
      .strict(),
    z
      .object({
        executor: z.literal('per-vu-iterations'),
        ...iterationOptions,
        ...common,
      })
      .strict(),
    z
      .object({
        executor: z.literal('constant-vus'),
        vus: int('vus').min(1).default(1),
        duration: constantDuration,
        ...common,
      })
      .strict(),
    z
      .object({
        executor: z.literal('ramping-vus'),
        startVUs: int('startVUs').min(0).default(1),
        stages,
        gracefulRampDown: duration.default(30_000),
        ...common,
      })
      .strict()
      .refine((w) => w.startVUs > 0 || w.stages.some((s) => s.target > 0), {
        message: 'startVUs and every stage target are 0: nothing would run (k6 refuses it); raise startVUs or a target',
        path: ['stages'],
      }),
    z
      .object({
        executor: z.literal('constant-arrival-rate'),
        /** iterations per timeUnit; may be left out when every camera of the scenario has an fps */
        rate: int('rate').positive('rate must be above 0').optional(),
        timeUnit: positiveDuration.default(1000),
        duration: constantDuration,
        preAllocatedVUs: int('preAllocatedVUs').min(0),
        maxVUs: int('maxVUs').min(1).optional(),
        ...common,
      })
      .strict(),
    z
      .object({
        executor: z.literal('ramping-arrival-rate'),
        startRate: int('startRate').min(0, 'startRate must be 0 or more').default(0),
        timeUnit: positiveDuration.default(1000),
        stages,
        preAllocatedVUs: int('preAllocatedVUs').min(0),
        maxVUs: int('maxVUs').min(1).optional(),
        ...common,
      })
      .strict(),
  ],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `unknown executor ${JSON.stringify(discriminator(issue.input, 'executor'))}: use constant-arrival-rate, ramping-arrival-rate, constant-vus, ramping-vus, per-vu-iterations or shared-iterations`
        : undefined,
  },
);

export const CameraSchema = z
  .object({
    /** camera id as the backend knows it (`front_door`) */
    id: z.string().regex(CAMERA_ID, 'camera id: lower-case letters, digits and _ (e.g. "front_door")'),
    /** drop-folder name (`Front Door`); default: the id in title case */
    name: z.string().min(1).regex(/^[^/\\]+$/, 'no slashes in a camera name').optional(),
    /** share of the uploads; default: fps, else 1 */
    weight: z.number().positive('weight must be above 0').optional(),
    /** frames per second this camera sends; weights the mix and can set an arrival rate */
    fps: z.number().positive('fps must be above 0').optional(),
    /** fixture folder under fixtures/images/ (default: the id); several cameras may share one */
    fixtures: z.string().regex(CAMERA_ID, 'fixtures: a folder name under fixtures/images (e.g. "front_door")').optional(),
    /** which images of the folder (file names); default: all .jpg/.png */
    files: z.array(z.string().min(1).regex(/^[^/\\]+$/, 'a file name, no path')).min(1).optional(),
  })
  .strict();

export const ThresholdEntrySchema = z.union([
  z.string(),
  z
    .object({
      threshold: z.string(),
      abortOnFail: z.boolean().default(false),
      delayAbortEval: duration.optional(),
    })
    .strict(),
]);

export const TransportSchema = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('http'), timeout: positiveDuration.default(60_000) }).strict(),
    z.object({ type: z.literal('drop-folder') }).strict(),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? `unknown transport ${JSON.stringify(discriminator(issue.input, 'type'))}: use "http" or "drop-folder"` : undefined) },
);

const BAGGAGE_KEY = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export const TracingSchema = z
  .object({
    /** fraction of requests whose traceparent carries the sampled flag (0..1) */
    sampledFraction: z.number().min(0, 'sampledFraction must be in 0..1').max(1, 'sampledFraction must be in 0..1').default(1),
    /** extra W3C baggage entries; camera.id is set per request */
    baggage: z
      .record(z.string().regex(BAGGAGE_KEY, 'not a baggage key'), z.string())
      .refine((b) => !('camera.id' in b), { message: 'camera.id is set per request; remove it' })
      .default({}),
    /** baggage request.source */
    requestSource: z.string().min(1).default('hsi-chaos'),
  })
  .strict();

export const LimitsSchema = z
  .object({
    /** hard stop of the whole load (default 15m, at most 24h) */
    maxDuration: positiveDuration.refine((ms) => ms <= 86_400_000, { message: 'at most 24h' }).default(900_000),
    /** hard cap on requests sent (default 100000, at most 10000000) */
    maxRequests: int('maxRequests').min(1).max(10_000_000).default(100_000),
  })
  .strict();

/** k6's rule for metric names (metrics.checkName): letters, digits, _; at most 128, no leading digit */
const METRIC_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** A custom metric (k6's Counter, Gauge, Rate, Trend); `contains: 'time'` for a trend of ms. */
export const CustomMetricSchema = z
  .object({
    type: z.enum(['counter', 'gauge', 'rate', 'trend'], { error: 'type: use counter, gauge, rate or trend' }),
    contains: z.enum(['default', 'time', 'data']).default('default'),
  })
  .strict();

export const CustomMetricsSchema = z.record(z.string(), CustomMetricSchema).superRefine((metrics, ctx) => {
  for (const name of Object.keys(metrics)) {
    if (!METRIC_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'metric names: letters, digits and _, not starting with a digit, at most 128 (k6 rule)' });
    else if (name in K6_BUILTIN_METRICS || name in HARNESS_METRICS) ctx.addIssue({ code: 'custom', path: [name], message: `${name} is a k6 built-in metric; pick another name` });
  }
});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envMap = z.record(z.string(), z.string()).superRefine((env, ctx) => {
  for (const key of Object.keys(env)) if (!ENV_NAME.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'not an environment variable name' });
});

/** Settings of the embedded reference stack for this scenario (an external stack gets the backend's run-time ones, harness/experiment/external-settings.ts). */
export const StackSettingsSchema = z
  .object({
    /** defect switches of the reference stack (harness/stack/defects.ts) */
    defects: z
      .array(z.string().refine((name) => isDefectName(name), { error: (issue) => `unknown defect ${JSON.stringify(issue.input)}; known: ${DEFECT_NAMES.join(', ')}` }))
      .optional(),
    /** extra environment per service */
    backend: envMap.optional(),
    detector: envMap.optional(),
    llm: envMap.optional(),
    /** `emulated` (default) or `real` for both AI services, or `{detector, llm}`; `--ai` overrides it. */
    ai: AiModesSetting.optional(),
  })
  .strict();

export const ScenarioSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'name: lower-case letters, digits and - (e.g. "motion-burst")'),
    description: z.string().default(''),
    /** the workload: k6 scenarios by name */
    scenarios: z
      .record(z.string(), ExecutorSchema)
      .superRefine((s, ctx) => {
        if (Object.keys(s).length === 0) ctx.addIssue({ code: 'custom', message: 'needs at least one scenario' });
        for (const key of Object.keys(s)) {
          if (!SCENARIO_NAME.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'scenario names: letters, digits, _ and - (k6 rule)' });
        }
      }),
    cameras: z.array(CameraSchema).min(1, 'needs at least one camera'),
    transport: TransportSchema.default({ type: 'http', timeout: 60_000 }),
    tracing: TracingSchema.default({ sampledFraction: 1, baggage: {}, requestSource: 'hsi-chaos' }),
    thresholds: z.record(z.string().min(1), z.array(ThresholdEntrySchema).min(1, 'needs at least one threshold')).default({}),
    ...requestOptions,
    /** custom metrics (k6's Counter, Gauge, Rate, Trend) the workload feeds and thresholds may name */
    metrics: CustomMetricsSchema.default({}),
    limits: LimitsSchema.default({ maxDuration: 900_000, maxRequests: 100_000 }),
    /** fault timeline (defined by the chaos issue; objects for now) */
    faults: z.array(z.record(z.string(), z.unknown())).default([]),
    /** trace expectations (defined by a later issue; objects for now) */
    expectations: z.array(z.record(z.string(), z.unknown())).default([]),
    /** seed for the sampled-flag draws (default: random per run) */
    seed: z.union([z.string(), z.number()]).optional(),
    stack: StackSettingsSchema.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    for (const [metric, entries] of Object.entries(s.thresholds)) {
      entries.forEach((entry, i) => {
        const text = typeof entry === 'string' ? entry : entry.threshold;
        const problem = checkThreshold(metric, text, { ...K6_BUILTIN_METRICS, ...HARNESS_METRICS, ...s.metrics });
        if (problem) ctx.addIssue({ code: 'custom', path: ['thresholds', metric, i], message: problem });
      });
    }
  });

export type ScenarioSchemaInput = z.input<typeof ScenarioSchema>;
export type ScenarioSchemaOutput = z.output<typeof ScenarioSchema>;
export type ExecutorInput = z.input<typeof ExecutorSchema>;
export type ExecutorParsed = z.output<typeof ExecutorSchema>;
