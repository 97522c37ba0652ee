import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { z } from 'zod';
import { fixtureProblem } from './fixture-check.ts';
import { ConfigError } from '../errors.ts';
import { activeDurationMs, plannedIterations } from '../load/schedule.ts';
import type { ThresholdSpec } from '../load/thresholds.ts';
import { formatDurationMs } from '../util/duration.ts';
import { type ExecutorParsed, ScenarioSchema } from './scenario-schema.ts';
import { runFeatures } from './run-features.ts';
import { type EmittedTags, thresholdMetricProblem, thresholdTagProblem } from './threshold-tags.ts';
import { normalizeWorkloadRequests, validateRequestKinds, validateWebSockets } from './validate-requests.ts';
import { requestName, UPLOAD_NAME } from '../load/request-names.ts';
import type { CameraSpec, RequestKind, Scenario, Workload } from './scenario-types.ts';

const IMAGE = /\.(jpe?g|png)$/i;
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `scenarios.steady.rate`, `cameras[2].fixtures`, `thresholds["http_req_duration{scenario:x}"][0]` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = String(part);
      out += IDENT.test(key) || /^[0-9A-Za-z_-]+$/.test(key) ? `${out === '' ? '' : '.'}${key}` : `[${JSON.stringify(key)}]`;
    }
  }
  return out === '' ? '(root)' : out;
}

function describeScenarioIssue(source: string, error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return `${source}: invalid`;
  const more = error.issues.length > 1 ? ` (+${error.issues.length - 1} more)` : '';
  return `${source}: ${formatPath(issue.path)}: ${issue.message}${more}`;
}

export interface ValidateScenarioOptions {
  /** fixture root: one folder of images per camera (fixtures/images) */
  fixturesDir: string;
  /** for messages: the scenario file (`scenarios/steady.ts`) */
  source: string;
  /** where relative paths in messages start (default: cwd) */
  root?: string;
}

/** Title case of a camera id: front_door -> "Front Door" (the watcher normalizes it back). */
export function cameraFolderName(id: string): string {
  return id
    .split('_')
    .filter((w) => w !== '')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');
}

type Parsed = z.infer<typeof ScenarioSchema>;
type Fail = (field: string, message: string) => never;

/** Cameras: unique ids, a fixture folder (or files) each, every fixture a usable image. */
function validateCameras(list: Parsed['cameras'], options: ValidateScenarioOptions, fail: Fail): CameraSpec[] {
  const rel = (p: string) => {
    const r = relative(options.root ?? process.cwd(), p);
    return r === '' || r.startsWith('..') ? p : r;
  };
  if (!existsSync(options.fixturesDir) || !statSync(options.fixturesDir).isDirectory()) {
    throw new ConfigError(`fixtures folder ${options.fixturesDir} does not exist; create it with one sub-folder of JPEGs per camera, or set fixturesDir in hsi-chaos.config.json`);
  }
  const seen = new Set<string>();
  return list.map((c, i) => {
    if (seen.has(c.id)) fail(`cameras[${i}].id`, `camera "${c.id}" appears twice`);
    seen.add(c.id);
    const folderName = c.fixtures ?? c.id;
    const field = c.fixtures !== undefined ? `cameras[${i}].fixtures` : `cameras[${i}].id`;
    const folder = join(options.fixturesDir, folderName);
    if (!existsSync(folder) || !statSync(folder).isDirectory()) {
      fail(field, `no fixture folder ${rel(folder)}${c.fixtures === undefined ? ` (set fixtures: '<folder>' to reuse another camera's images)` : ''}`);
    }
    let files: string[];
    if (c.files) {
      files = c.files.map((f, j) => {
        const path = join(folder, f);
        if (!existsSync(path) || !statSync(path).isFile()) fail(`cameras[${i}].files[${j}]`, `no fixture file ${rel(path)}`);
        return path;
      });
    } else {
      files = readdirSync(folder)
        .filter((f) => IMAGE.test(f))
        .sort()
        .map((f) => join(folder, f));
      if (files.length === 0) fail(field, `fixture folder ${rel(folder)} has no .jpg/.png images`);
    }
    files.forEach((path) => {
      const problem = fixtureProblem(path);
      if (problem !== undefined) fail(field, `fixture ${rel(path)} ${problem}; replace or remove it`);
    });
    const spec: CameraSpec = { id: c.id, name: c.name ?? cameraFolderName(c.id), weight: c.weight ?? c.fps ?? 1, fixtures: folderName, files };
    if (c.fps !== undefined) spec.fps = c.fps;
    return spec;
  });
}

/** The hard bounds: every workload ends within limits.maxDuration, the plan stays within limits.maxRequests. */
function enforceLimits(scenarios: Record<string, Workload>, limits: Parsed['limits'], fail: Fail): void {
  let planned = 0;
  for (const [name, w] of Object.entries(scenarios)) {
    // iteration executors: maxDuration is a cap like limits.maxDuration; the smaller one wins
    if ((w.executor === 'per-vu-iterations' || w.executor === 'shared-iterations') && w.startTimeMs + w.maxDurationMs > limits.maxDuration) {
      w.maxDurationMs = Math.max(0, limits.maxDuration - w.startTimeMs);
      if (w.maxDurationMs === 0) fail(`scenarios.${name}.startTime`, `starts at ${formatDurationMs(w.startTimeMs)}, at or after limits.maxDuration`);
    }
    const end = w.startTimeMs + activeDurationMs(w);
    if (end > limits.maxDuration) {
      fail(`scenarios.${name}`, `runs until ${formatDurationMs(end)}, beyond limits.maxDuration (${formatDurationMs(limits.maxDuration)}); shorten it or raise limits.maxDuration`);
    }
    planned += plannedIterations(w) ?? 0;
  }
  if (planned > limits.maxRequests) {
    fail('limits.maxRequests', `the workload plans ${planned} requests, above limits.maxRequests (${limits.maxRequests}); lower the rate or raise limits.maxRequests`);
  }
}

/** Thresholds on metrics and tags this workload emits, normalized. */
function validateThresholds(s: Parsed, emitted: EmittedTags, fail: Fail): Record<string, ThresholdSpec[]> {
  const thresholds: Record<string, ThresholdSpec[]> = {};
  for (const [metric, entries] of Object.entries(s.thresholds)) {
    const problem = thresholdMetricProblem(metric, emitted) ?? thresholdTagProblem(metric, emitted);
    if (problem) fail(`thresholds[${JSON.stringify(metric)}]`, problem);
    thresholds[metric] = entries.map((e): ThresholdSpec => {
      if (typeof e === 'string') return { threshold: e, abortOnFail: false };
      const spec: ThresholdSpec = { threshold: e.threshold, abortOnFail: e.abortOnFail };
      if (e.delayAbortEval !== undefined) spec.delayAbortEvalMs = e.delayAbortEval;
      return spec;
    });
  }
  return thresholds;
}

function stackOf(stack: NonNullable<Parsed['stack']>): NonNullable<Scenario['stack']> {
  const out: NonNullable<Scenario['stack']> = {};
  if (stack.defects) out.defects = stack.defects;
  if (stack.backend) out.backend = stack.backend;
  if (stack.detector) out.detector = stack.detector;
  if (stack.llm) out.llm = stack.llm;
  if (stack.ai !== undefined) out.ai = stack.ai;
  return out;
}

/**
 * Validates a scenario definition (the default export of a scenario module) and returns its
 * normalized form. Every problem is a ConfigError of one line naming the source and field.
 */
export function validateScenario(value: unknown, options: ValidateScenarioOptions): Scenario {
  const { source } = options;
  const fail = (field: string, message: string): never => {
    throw new ConfigError(`${source}: ${field}: ${message}`);
  };
  const parsed = ScenarioSchema.safeParse(value);
  if (!parsed.success) throw new ConfigError(describeScenarioIssue(source, parsed.error));
  const s = parsed.data;

  const cameras = validateCameras(s.cameras, options, fail);
  const cameraIndex = new Map(cameras.map((c, i) => [c.id, i]));

  // request kinds, setup params, WebSocket subscribers
  const setupParams = s.setup?.params ?? {};
  const requests = validateRequestKinds(s.requests, setupParams, s.metrics, fail);
  const websockets = validateWebSockets(s.websockets, fail);

  // workload: camera subsets, fps-derived rates, k6's own cross-field rules
  const scenarios: Record<string, Workload> = {};
  for (const [name, w] of Object.entries(s.scenarios)) {
    const at = (field: string) => `scenarios.${name}.${field}`;
    const cameraIndexes = (w.cameras ?? cameras.map((c) => c.id)).map((id, j) => {
      const index = cameraIndex.get(id);
      if (index === undefined) return fail(`${at('cameras')}[${j}]`, `unknown camera "${id}" (cameras: ${cameras.map((c) => c.id).join(', ')})`);
      return index;
    });
    scenarios[name] = { ...normalizeWorkload(name, w, cameraIndexes, cameras, fail), ...normalizeWorkloadRequests(name, w, requests, websockets, fail) };
  }
  enforceLimits(scenarios, s.limits, fail);
  const emitted = emittedTags(scenarios, cameras, requests, Object.keys(s.metrics), s.transport.type === 'http');

  const scenario: Scenario = {
    name: s.name,
    description: s.description,
    source,
    scenarios,
    cameras,
    transport: s.transport.type === 'http' ? { type: 'http', timeoutMs: s.transport.timeout } : { type: 'drop-folder' },
    tracing: { sampledFraction: s.tracing.sampledFraction, baggage: s.tracing.baggage, requestSource: s.tracing.requestSource },
    thresholds: validateThresholds(s, emitted, fail),
    metrics: s.metrics,
    requests,
    setupParams,
    websockets,
    limits: { maxDurationMs: s.limits.maxDuration, maxRequests: s.limits.maxRequests },
    faults: s.faults,
    expectations: s.expectations,
  };
  if (s.seed !== undefined) scenario.seed = s.seed;
  if (s.stack !== undefined) scenario.stack = stackOf(s.stack);
  return scenario;
}

/** The tags this workload can put on its metrics (see threshold-tags.ts). */
function emittedTags(
  scenarios: Readonly<Record<string, Workload>>,
  cameras: readonly CameraSpec[],
  kinds: Readonly<Record<string, RequestKind>>,
  customMetrics: string[],
  httpTransport: boolean,
): EmittedTags {
  const scenarioTags = new Map<string, Set<string>>();
  const add = (map: Map<string, Set<string>>, k: string, v: string) => map.set(k, (map.get(k) ?? new Set()).add(v));
  for (const w of Object.values(scenarios)) for (const [k, v] of Object.entries(w.tags)) add(scenarioTags, k, v);
  const workloads = Object.values(scenarios);
  const features = runFeatures(workloads, kinds, httpTransport);
  const uploads = workloads.some((w) => w.requests === undefined && w.websocket === undefined);
  const used = Object.values(kinds).filter((k) => workloads.some((w) => w.requests?.[k.name] !== undefined));
  const requestTags = new Map<string, Set<string>>();
  for (const k of used) for (const [tag, v] of Object.entries(k.tags)) if (tag !== 'name') add(requestTags, tag, v);
  return {
    scenarios: Object.keys(scenarios),
    cameras: uploads ? cameras.map((c) => c.id) : [],
    requestNames: [...(uploads ? [UPLOAD_NAME] : []), ...used.map(requestName)],
    methods: [...new Set([...(uploads ? ['POST'] : []), ...used.map((k) => k.method)])],
    checks: used.flatMap((k) => Object.keys(k.checks)),
    scenarioTags,
    requestTags,
    customMetrics,
    http: features.http,
    websockets: features.websockets,
  };
}

function normalizeWorkload(
  name: string,
  w: ExecutorParsed,
  cameraIndexes: number[],
  cameras: readonly CameraSpec[],
  fail: (field: string, message: string) => never,
): Workload {
  const at = (field: string) => `scenarios.${name}.${field}`;
  const common = { startTimeMs: w.startTime, gracefulStopMs: w.gracefulStop, tags: w.tags, env: w.env, cameraIndexes };
  switch (w.executor) {
    case 'shared-iterations':
      if (w.iterations < w.vus) fail(at('iterations'), `${w.iterations} iterations can't be fewer than vus (${w.vus}) (k6 rule)`);
      return { executor: w.executor, vus: w.vus, iterations: w.iterations, maxDurationMs: w.maxDuration, ...common };
    case 'per-vu-iterations':
      return { executor: w.executor, vus: w.vus, iterations: w.iterations, maxDurationMs: w.maxDuration, ...common };
    case 'constant-vus':
      return { executor: w.executor, vus: w.vus, durationMs: w.duration, ...common };
    case 'ramping-vus':
      return { executor: w.executor, startVUs: w.startVUs, stages: w.stages.map((st) => ({ durationMs: st.duration, target: st.target })), gracefulRampDownMs: w.gracefulRampDown, ...common };
    case 'constant-arrival-rate': {
      let rate = w.rate;
      if (rate === undefined) {
        const fps = cameraIndexes.map((i) => cameras[i]?.fps);
        if (fps.some((f) => f === undefined)) fail(at('rate'), 'required (or give every camera of this scenario an fps)');
        const perUnit = ((fps as number[]).reduce((a, b) => a + b, 0) * w.timeUnit) / 1000;
        if (!Number.isInteger(Math.round(perUnit * 1e9) / 1e9)) {
          fail(at('rate'), `the cameras' fps add up to ${perUnit} per ${formatDurationMs(w.timeUnit)}, not a whole number; set rate and timeUnit`);
        }
        rate = Math.round(perUnit);
      }
      const maxVUs = w.maxVUs ?? Math.max(w.preAllocatedVUs, 1);
      if (maxVUs < w.preAllocatedVUs) fail(at('maxVUs'), `${maxVUs} is below preAllocatedVUs (${w.preAllocatedVUs}) (k6 rule)`);
      return { executor: w.executor, rate, timeUnitMs: w.timeUnit, durationMs: w.duration, preAllocatedVUs: w.preAllocatedVUs, maxVUs, ...common };
    }
    case 'ramping-arrival-rate': {
      const maxVUs = w.maxVUs ?? Math.max(w.preAllocatedVUs, 1);
      if (maxVUs < w.preAllocatedVUs) fail(at('maxVUs'), `${maxVUs} is below preAllocatedVUs (${w.preAllocatedVUs}) (k6 rule)`);
      return {
        executor: w.executor,
        startRate: w.startRate,
        timeUnitMs: w.timeUnit,
        stages: w.stages.map((st) => ({ durationMs: st.duration, target: st.target })),
        preAllocatedVUs: w.preAllocatedVUs,
        maxVUs,
        ...common,
      };
    }
  }
}
