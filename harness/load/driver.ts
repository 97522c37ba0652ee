import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { Client } from 'undici';
import { ConfigError } from '../errors.ts';
import type { NdjsonWriter, RunResults } from '../report/run-results.ts';
import type { Scenario, Workload } from '../scenario/scenario-types.ts';
import { formatDurationMs } from '../util/duration.ts';
import { seededRandom } from '../util/random.ts';
import { cameraSequence } from './camera-mix.ts';
import { Histogram } from './histogram.ts';
import {
  type AbortReason,
  type LoadRequestRecord,
  type LoadResult,
  prepareStore,
  scenarioMetrics,
  TimeSeriesBuilder,
} from './load-result.ts';
import { MetricStore } from './metrics.ts';
import { encodeMultipartFile, mediaTypeOf, type PreparedUpload } from './multipart.ts';
import { type ClosedPlan, type ExecutorPlan, type OpenPlan, planWorkload, vusAt } from './schedule.ts';
import { THRESHOLD_EVAL_PERIOD_MS, ThresholdEvaluator } from './thresholds.ts';
import { formatBaggage, newTraceContext } from './trace-context.ts';
import { AbortScope, dispatchUpload, uploadPath } from './upload-client.ts';

/**
 * The native load driver: k6's executors on undici.
 * - Arrival-rate executors are an open model: every iteration's intended start is planned
 *   ahead (schedule.ts) and latency counts from that intended time, so a slow backend or a
 *   late driver shows up in the latency (no coordinated omission). An iteration that finds
 *   all maxVUs busy is dropped (dropped_iterations), as in k6.
 * - VU executors are closed-model loops (one request per iteration).
 * Connections: one undici Client (keep-alive, pipelining 1) per VU, as k6 gives each VU its
 * own connections: a pool sized by the scenario's VUs (maxVUs for arrival-rate executors),
 * created lazily. Metrics in HDR histograms; thresholds with
 * k6's semantics evaluated every 2 s (abortOnFail) and at the end; records streamed to
 * requests.ndjson; hard bounds on duration and request count; AbortSignal stops it cleanly.
 */
export interface LoadClock {
  /** monotonic ms */
  now(): number;
  /** wall clock, epoch ms */
  epochMs(): number;
}

export const systemClock: LoadClock = { now: () => performance.now(), epochMs: () => Date.now() };

export interface LoadProgress {
  elapsedMs: number;
  sent: number;
  completed: number;
  failed: number;
  dropped: number;
  inFlight: number;
  /** completed per second over the last second */
  rps: number;
  p95Ms: number;
  lagP99Ms: number;
}

export interface RunLoadOptions {
  /** backend base URL (`http://127.0.0.1:8000`) for the http transport */
  backendUrl: string;
  /** fixture root to read the cameras' images from (default: the paths the scenario was validated with) */
  fixturesDir?: string;
  /** the drop folder (`/cameras`) for the drop-folder transport */
  dropDir?: string;
  /** where requests.ndjson and load-result.json go */
  results?: RunResults;
  signal?: AbortSignal;
  onProgress?: (progress: LoadProgress) => void;
  clock?: LoadClock;
  /** live progress line on stderr (default: when stderr is a TTY) */
  progressLine?: boolean;
  /** name of the records file in the results folder (default requests.ndjson) */
  recordsFile?: string;
  /**
   * Called once when the load's clock starts, before the first request: t0 on `clock.now()`
   * (performance.now() by default) and the same instant in epoch ms. Record times
   * (`intendedMs`, `sentMs`, ...) count from it, e.g. to align a fault timeline.
   */
  onStart?: (startMono: number, startEpochMs: number) => void;
}

const URL_NAME = 'POST /api/cameras/{camera_id}/uploads';
const PROGRESS_EVERY_MS = 500;

interface Fixture {
  name: string;
  bytes: Buffer;
  prepared: PreparedUpload;
}

interface CameraRuntime {
  index: number;
  id: string;
  name: string;
  fixtures: Fixture[];
  next: number;
  path: string;
  baggage: string;
}

interface ScenarioRuntime {
  name: string;
  workload: Workload;
  plan: ExecutorPlan;
  sequence: number[];
  iterations: number;
  inFlight: number;
  scope: AbortScope;
  /** open model: free VU ids, and the next id never used */
  freeVus: number[];
  nextVu: number;
  vusAllocated: number;
  activeVus: number;
  idleWaiters: (() => void)[];
  tags: Record<string, string>;
  /** tag sets by camera index and status, built once */
  tagCache: Map<number, Record<string, string>>;
  /** one connection per VU id */
  clients: Client[];
}

export async function runLoad(scenario: Scenario, options: RunLoadOptions): Promise<LoadResult> {
  const clock = options.clock ?? systemClock;
  const transport = scenario.transport;
  if (transport.type === 'drop-folder' && !options.dropDir) {
    throw new ConfigError(`${scenario.source}: transport: drop-folder is not supported without a drop directory; pass dropDir (--drop-dir) or use transport http`);
  }

  // fixtures: read and encoded once
  const basePath = new URL(options.backendUrl).pathname;
  const cameras: CameraRuntime[] = scenario.cameras.map((c, index) => ({
    index,
    id: c.id,
    name: c.name,
    next: 0,
    path: uploadPath(c.id, basePath),
    baggage: formatBaggage({ 'camera.id': c.id, 'request.source': scenario.tracing.requestSource, ...scenario.tracing.baggage }),
    fixtures: c.files.map((file) => {
      const path = options.fixturesDir ? join(options.fixturesDir, c.fixtures, basename(file)) : file;
      let bytes: Buffer;
      try {
        bytes = readFileSync(path);
      } catch (error) {
        throw new ConfigError(`${scenario.source}: camera ${c.id}: cannot read fixture ${path}: ${(error as Error).message}`);
      }
      const name = basename(path);
      return { name, bytes, prepared: encodeMultipartFile({ fileName: name, bytes, mediaType: mediaTypeOf(name) }) };
    }),
  }));

  const runtimes: ScenarioRuntime[] = Object.entries(scenario.scenarios).map(([name, workload]) => {
    const plan = planWorkload(name, workload);
    const weights = workload.cameraIndexes.map((i) => scenario.cameras[i]?.weight ?? 1);
    const sequence = cameraSequence(weights).map((k) => workload.cameraIndexes[k] ?? 0);
    const pre = plan.kind === 'open' ? plan.preAllocatedVUs : 0;
    return {
      name,
      workload,
      plan,
      sequence,
      iterations: 0,
      inFlight: 0,
      scope: new AbortScope(),
      freeVus: Array.from({ length: pre }, (_, k) => pre - 1 - k),
      nextVu: pre,
      vusAllocated: pre,
      activeVus: 0,
      idleWaiters: [],
      tags: workload.tags,
      tagCache: new Map(),
      clients: [],
    };
  });

  const origin = new URL(options.backendUrl).origin;
  const http = transport.type === 'http';
  const allClients: Client[] = [];
  /** the VU's connection: created on its first request */
  const clientFor = (rt: ScenarioRuntime, vu: number): Client => {
    let client = rt.clients[vu];
    if (!client) {
      client = new Client(origin, { pipelining: 1, keepAliveTimeout: 30_000, connect: { timeout: 10_000 } });
      rt.clients[vu] = client;
      allClients.push(client);
    }
    return client;
  };

  const store = new MetricStore('hdr');
  prepareStore(store, runtimes.map((r) => r.name));
  const thresholds = new ThresholdEvaluator(scenario.thresholds);
  thresholds.register(store);
  const series = new TimeSeriesBuilder();
  const lag = new Histogram();
  const addReqs = store.handle('http_reqs');
  const addDuration = store.handle('http_req_duration');
  const addFailed = store.handle('http_req_failed');
  const addIterations = store.handle('iterations');
  const addIterationDuration = store.handle('iteration_duration');
  const durationSink = store.sink('http_req_duration');
  const writer: NdjsonWriter | undefined = options.results?.ndjsonWriter(options.recordsFile ?? 'requests.ndjson');
  const random = seededRandom(scenario.seed ?? `${Date.now()}-${Math.random()}`);
  const sampledFraction = scenario.tracing.sampledFraction;
  const dirsMade = new Set<string>();

  const t0 = clock.now();
  const wall0 = clock.epochMs();
  const now = () => clock.now() - t0;
  options.onStart?.(t0, wall0);

  const counts = { sent: 0, completed: 0, interrupted: 0, dropped: 0, accepted: 0, failed: 0 };
  let stopped = false;
  let abortReason: AbortReason | undefined;
  const runStop = new AbortController();
  const vuScopes = new Set<AbortScope>();
  let lastCompletedMark = 0;
  let completedAtMark = 0;

  const interruptAll = () => {
    for (const r of runtimes) r.scope.abort();
    for (const v of vuScopes) v.abort();
  };
  const stopRun = (reason: AbortReason, interrupt: boolean) => {
    if (!stopped) {
      stopped = true;
      abortReason = reason;
      runStop.abort();
    }
    if (interrupt) interruptAll();
  };
  const canSend = () => {
    if (stopped) return false;
    if (counts.sent >= scenario.limits.maxRequests) {
      stopRun('max-requests', false);
      return false;
    }
    return true;
  };

  const onUserAbort = () => stopRun('signal', true);
  if (options.signal?.aborted) stopRun('signal', true);
  options.signal?.addEventListener('abort', onUserAbort, { once: true });

  /** sleeps until `at` (ms since t0); resolves early when the run stops */
  const sleepUntil = (at: number): Promise<void> =>
    new Promise((resolve) => {
      const wait = at - now();
      if (wait <= 0 || stopped) return resolve();
      const done = () => {
        clearTimeout(timer);
        runStop.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      runStop.signal.addEventListener('abort', done, { once: true });
    });

  const finishOne = (rt: ScenarioRuntime) => {
    rt.inFlight--;
    if (rt.inFlight === 0 && rt.idleWaiters.length > 0) {
      const waiters = rt.idleWaiters;
      rt.idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  /** waits until the scenario has nothing in flight, or aborts what is left at `deadline` */
  const drain = (rt: ScenarioRuntime, deadline: number): Promise<void> =>
    new Promise((resolve) => {
      if (rt.inFlight === 0) return resolve();
      const timer = setTimeout(() => rt.scope.abort(), Math.max(0, deadline - now()));
      rt.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });

  const tagsFor = (rt: ScenarioRuntime, camera: CameraRuntime, status: number): Record<string, string> => {
    const key = camera.index * 1000 + status;
    let tags = rt.tagCache.get(key);
    if (!tags) {
      const ok = transport.type === 'http' ? status === 202 : true;
      tags = { ...rt.tags, scenario: rt.name, status: String(status), method: 'POST', name: URL_NAME, expected_response: ok ? 'true' : 'false', camera: camera.id };
      rt.tagCache.set(key, tags);
    }
    return tags;
  };

  /** one iteration = one upload */
  const iterate = async (rt: ScenarioRuntime, vu: number, intendedMs: number, scope: AbortScope, open: boolean): Promise<void> => {
    const iteration = rt.iterations++;
    const camera = cameras[rt.sequence[iteration % rt.sequence.length] ?? 0] as CameraRuntime;
    const fixture = camera.fixtures[camera.next++ % camera.fixtures.length] as Fixture;
    const trace = newTraceContext(sampledFraction >= 1 ? true : random() < sampledFraction);
    const seq = ++counts.sent;
    rt.inFlight++;
    const sentMs = now();
    let status = 0;
    let ok = false;
    let error: string | undefined;
    let uploadId: string | undefined;
    let filePath: string | undefined;
    if (http) {
      const rec = await dispatchUpload({
        dispatcher: clientFor(rt, vu),
        path: camera.path,
        cameraId: camera.id,
        prepared: fixture.prepared,
        trace,
        baggage: camera.baggage,
        timeoutMs: transport.type === 'http' ? transport.timeoutMs : 60_000,
        scope,
        parseAnswer: writer !== undefined,
      });
      status = rec.status;
      ok = rec.accepted;
      uploadId = rec.uploadId;
      filePath = rec.filePath;
      error = rec.error;
    } else {
      try {
        filePath = await dropFile(options.dropDir as string, camera.name, fixture, seq, dirsMade);
        ok = true;
      } catch (e) {
        error = (e as Error).message;
      }
    }
    const endMs = now();
    finishOne(rt);
    const interrupted = !ok && scope.aborted;
    const latencyMs = endMs - intendedMs;
    if (interrupted) counts.interrupted++;
    else {
      counts.completed++;
      if (ok) counts.accepted++;
      else counts.failed++;
      if (open) lag.record(sentMs - intendedMs);
      const tags = tagsFor(rt, camera, status);
      addReqs(1, tags);
      addDuration(latencyMs, tags);
      addFailed(ok ? 0 : 1, tags);
      addIterations(1, tags);
      addIterationDuration(latencyMs, tags);
      series.record(endMs, latencyMs, !ok);
    }
    if (!writer) return;
    const record: LoadRequestRecord = {
      seq,
      scenario: rt.name,
      vu,
      iteration,
      camera: camera.id,
      fixture: fixture.name,
      transport: transport.type,
      intendedEpochMs: round3(wall0 + intendedMs),
      intendedMs: round3(intendedMs),
      sentMs: round3(sentMs),
      endMs: round3(endMs),
      latencyMs: round3(latencyMs),
      serviceMs: round3(endMs - sentMs),
      lagMs: round3(sentMs - intendedMs),
      status,
      ok,
      traceId: trace.traceId,
      spanId: trace.spanId,
      sampled: trace.sampled,
    };
    if (uploadId !== undefined) record.uploadId = uploadId;
    if (filePath !== undefined) record.filePath = filePath;
    if (error !== undefined) record.error = error;
    if (interrupted) record.interrupted = true;
    writer.write(record);
  };

  const runOpen = async (rt: ScenarioRuntime, plan: OpenPlan): Promise<void> => {
    await sleepUntil(plan.startMs);
    if (stopped) return;
    const arrivals = plan.arrivals;
    const base = plan.startMs;
    let i = 0;
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let immediate: NodeJS.Immediate | undefined;
      const finish = () => {
        if (timer) clearTimeout(timer);
        if (immediate) clearImmediate(immediate);
        runStop.signal.removeEventListener('abort', finish);
        resolve();
      };
      runStop.signal.addEventListener('abort', finish, { once: true });
      const tick = () => {
        timer = undefined;
        immediate = undefined;
        const t = now();
        while (i < arrivals.length) {
          const due = base + (arrivals[i] ?? 0);
          if (due > t) break;
          i++;
          if (!canSend()) return finish();
          if (rt.inFlight >= plan.maxVUs) {
            counts.dropped++;
            store.add('dropped_iterations', 1, { ...rt.tags, scenario: rt.name });
            series.drop(due);
            continue;
          }
          const vu = rt.freeVus.pop() ?? rt.nextVu++;
          if (rt.nextVu > rt.vusAllocated) rt.vusAllocated = rt.nextVu;
          const release = () => {
            rt.freeVus.push(vu);
          };
          iterate(rt, vu, due, rt.scope, true).then(release, release);
        }
        if (i >= arrivals.length || stopped) return finish();
        const wait = base + (arrivals[i] ?? 0) - now();
        if (wait > 3) timer = setTimeout(tick, wait - 2);
        else immediate = setImmediate(tick);
      };
      tick();
    });
    await drain(rt, plan.startMs + plan.durationMs + plan.gracefulStopMs);
  };

  const runClosed = async (rt: ScenarioRuntime, plan: ClosedPlan): Promise<void> => {
    await sleepUntil(plan.startMs);
    if (stopped) return;
    const start = now();
    const endAt = start + plan.durationMs;
    let sharedLeft = plan.sharedIterations;
    const vus: { id: number; stopping: boolean; scope: AbortScope }[] = [];
    const loops: Promise<void>[] = [];
    const loop = async (vu: { id: number; stopping: boolean; scope: AbortScope }) => {
      rt.activeVus++;
      let done = 0;
      try {
        while (!stopped && !vu.stopping && now() < endAt) {
          if (plan.iterationsPerVu !== undefined && done >= plan.iterationsPerVu) break;
          if (sharedLeft !== undefined) {
            if (sharedLeft <= 0) break;
            sharedLeft--;
          }
          if (!canSend()) break;
          const t = now();
          await iterate(rt, vu.id, t, vu.scope, false);
          done++;
        }
      } finally {
        rt.activeVus--;
        vuScopes.delete(vu.scope);
      }
    };
    const setVus = (target: number) => {
      const running = vus.filter((v) => !v.stopping);
      for (let k = running.length; k < target; k++) {
        const vu = { id: vus.length, stopping: false, scope: new AbortScope() };
        vus.push(vu);
        vuScopes.add(vu.scope);
        loops.push(loop(vu));
      }
      for (let k = running.length - 1; k >= target; k--) {
        const vu = running[k];
        if (!vu) continue;
        vu.stopping = true;
        setTimeout(() => vu.scope.abort(), plan.gracefulRampDownMs).unref();
      }
      if (vus.length > rt.vusAllocated) rt.vusAllocated = vus.length;
    };
    for (const step of plan.steps) {
      await sleepUntil(start + step.atMs);
      if (stopped || now() >= endAt) break;
      setVus(vusAt(plan.steps, step.atMs));
    }
    const graceTimer = setTimeout(() => {
      for (const v of vus) v.scope.abort();
    }, Math.max(0, endAt + plan.gracefulStopMs - now()));
    // loops end at endAt (or when their iterations are done); graceTimer interrupts stragglers
    await Promise.all(loops);
    clearTimeout(graceTimer);
    for (const v of vus) vuScopes.delete(v.scope);
  };

  // periodic work: thresholds (abortOnFail), gauges, progress
  const thresholdTimer = setInterval(() => {
    const evaluation = thresholds.evaluate(store, now(), { ignoreEmptySinks: true });
    if (evaluation.abort) stopRun('threshold', true);
  }, THRESHOLD_EVAL_PERIOD_MS);
  const sampleGauges = () => {
    store.add('vus', runtimes.reduce((sum, r) => sum + (r.plan.kind === 'open' ? r.inFlight : r.activeVus), 0));
    store.add('vus_max', runtimes.reduce((sum, r) => sum + r.vusAllocated, 0));
  };
  sampleGauges();
  const gaugeTimer = setInterval(sampleGauges, 1000);
  const maxTimer = setTimeout(() => stopRun('max-duration', true), scenario.limits.maxDurationMs);
  const showLine = options.progressLine ?? Boolean(process.stderr.isTTY);
  let lineShown = false;
  const progress = (): LoadProgress => {
    const elapsedMs = now();
    const rps = elapsedMs - lastCompletedMark > 0 ? ((counts.completed - completedAtMark) * 1000) / (elapsedMs - lastCompletedMark) : 0;
    if (elapsedMs - lastCompletedMark >= 1000) {
      lastCompletedMark = elapsedMs;
      completedAtMark = counts.completed;
    }
    return {
      elapsedMs,
      sent: counts.sent,
      completed: counts.completed,
      failed: counts.failed,
      dropped: counts.dropped,
      inFlight: runtimes.reduce((sum, r) => sum + r.inFlight, 0),
      rps,
      p95Ms: durationSink?.type === 'trend' ? durationSink.trend.percentile(95) : 0,
      lagP99Ms: lag.percentile(99),
    };
  };
  const progressTimer =
    showLine || options.onProgress
      ? setInterval(() => {
          const p = progress();
          options.onProgress?.(p);
          if (showLine) {
            lineShown = true;
            process.stderr.write(`\r\x1b[K${formatProgress(scenario.name, p)}`);
          }
        }, PROGRESS_EVERY_MS)
      : undefined;

  try {
    await Promise.all(runtimes.map((rt) => (rt.plan.kind === 'open' ? runOpen(rt, rt.plan) : runClosed(rt, rt.plan))));
    // a stop (abort, bound) leaves in-flight requests of open scenarios: let them end or interrupt
    for (const rt of runtimes) if (rt.inFlight > 0) await drain(rt, now() + (abortReason === 'max-requests' ? rt.plan.gracefulStopMs : 0));
  } finally {
    clearInterval(thresholdTimer);
    clearInterval(gaugeTimer);
    clearTimeout(maxTimer);
    if (progressTimer) clearInterval(progressTimer);
    options.signal?.removeEventListener('abort', onUserAbort);
    sampleGauges();
    writer?.close();
    await Promise.all(allClients.map((c) => c.close().catch(() => undefined)));
  }
  if (lineShown) process.stderr.write(`\r\x1b[K${formatProgress(scenario.name, progress())}\n`);

  const durationMs = now();
  const evaluation = thresholds.evaluate(store, durationMs, { ignoreEmptySinks: false });
  const metrics = store.summary(durationMs);
  const result: LoadResult = {
    schemaVersion: 1,
    driver: 'native',
    scenario: scenario.name,
    startedAt: new Date(wall0).toISOString(),
    durationMs: round3(durationMs),
    aborted: abortReason !== undefined,
    thresholdsPassed: evaluation.ok,
    exitCode: evaluation.ok && abortReason !== 'threshold' ? 0 : 99,
    metrics,
    scenarios: Object.fromEntries(runtimes.map((r) => [r.name, scenarioMetrics(metrics, r.name, r.workload.executor)])),
    thresholds: evaluation.verdicts,
    timeSeries: series.points(),
    sendLag:
      lag.count === 0
        ? null
        : { count: lag.count, avg: round3(lag.mean), p50: round3(lag.percentile(50)), p99: round3(lag.percentile(99)), max: round3(lag.max) },
    requests: counts,
  };
  if (abortReason !== undefined) result.abortReason = abortReason;
  options.results?.writeJson('load-result.json', result);
  return result;
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

export function formatProgress(name: string, p: LoadProgress): string {
  const s = (p.elapsedMs / 1000).toFixed(1).padStart(6);
  return `[${s}s] ${name}: ${p.sent} sent, ${p.completed - p.failed} ok, ${p.failed} failed, ${p.dropped} dropped, ${p.inFlight} in flight, ${p.rps.toFixed(0)}/s, p95 ${p.p95Ms.toFixed(1)} ms, lag p99 ${p.lagP99Ms.toFixed(2)} ms`;
}

/** Drop-folder transport: <dropDir>/<Camera Name>/<stem>-<seq><ext>, written then renamed. */
async function dropFile(dropDir: string, cameraName: string, fixture: Fixture, seq: number, dirsMade: Set<string>): Promise<string> {
  const dir = join(dropDir, cameraName);
  if (!dirsMade.has(dir)) {
    await mkdir(dir, { recursive: true });
    dirsMade.add(dir);
  }
  const ext = extname(fixture.name);
  const target = join(dir, `${basename(fixture.name, ext)}-${String(seq).padStart(6, '0')}${ext}`);
  const tmp = join(dir, `.${basename(target)}.part`);
  await writeFile(tmp, fixture.bytes);
  await rename(tmp, target);
  return target;
}

export function describePlan(scenario: Scenario): string[] {
  return Object.entries(scenario.scenarios).map(([name, w]) => {
    const plan = planWorkload(name, w);
    const when = w.startTimeMs > 0 ? ` from ${formatDurationMs(w.startTimeMs)}` : '';
    return plan.kind === 'open'
      ? `${name}: ${w.executor}, ${plan.arrivals.length} iterations over ${formatDurationMs(plan.durationMs)}${when}, maxVUs ${plan.maxVUs}`
      : `${name}: ${w.executor}, up to ${plan.maxVUs} VUs for ${formatDurationMs(plan.durationMs)}${when}`;
  });
}
