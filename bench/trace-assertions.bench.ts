/**
 * Trace assertions against a real Jaeger (issue 6): traces fetched and asserted per second,
 * and memory growth with the number of traces processed. Same run, same Jaeger, same ids.
 *
 *   node --expose-gc bench/trace-assertions.bench.ts [--traces 4000] [--batch 200] [--concurrency 16]
 *                                                    [--rounds 3] [--slice 500] [--memory-passes 3] [--max-seconds 600] [--pin]
 *
 * 1. starts Jaeger (the local `hsi-chaos/jaeger:2.13.0-slim` image, in-memory storage) through JaegerContainer, with the
 *    harness's labels (managed, run id `bench-<random>`, owner pid/host, not detached); it is
 *    removed at the end, on error, on Ctrl-C/SIGTERM and when the time bound is hit;
 * 2. loads it with N synthetic HSI upload traces over OTLP/HTTP JSON (`/v1/traces`, B traces per
 *    POST): 12 spans each, two services (`nemotron-backend`, `ai-yolo26-emulator`), the shape of
 *    the reference stack's upload trace (upload SERVER → `detection_queue publish` →
 *    `detection_processing` → `yolo26_detection_request` → detector `POST /detect` →
 *    `yolo26_inference`, SQL and Redis spans, `batch_aggregation`), then waits until the first and
 *    the last trace are queryable with all their spans;
 * 3. rounds, each over all N ids in slices of S ids, C lookups at once; in each slice every path
 *    runs over the same S ids, one path after the other, in an order rotated from slice to slice.
 *    Two results per path: the median over rounds of its rate (all slices of a round added up), and
 *    the paired ratio to the peer: the median over all slices of (path's rate / peer's rate in the
 *    same slice). The passes of one slice run within seconds of each other, under the same
 *    background load, so the paired median is the number to trust on a shared machine (a
 *    whole-round ratio moves by ±10 % with other processes' load); the goal line uses it.
 *    - peer: raw `GET /api/v3/traces/{id}` with undici, body read as text, nothing else (it never
 *      parses the body: strictly less than any consumer of a trace can do);
 *    - floor: the peer's GET + `JSON.parse` of the body (the least any consumer does), for scale:
 *      what is left between it and the harness is validation, normalization and the checks;
 *    - harness: `JaegerQueryClient.forEachTrace` (the evaluator's bulk read: the same C requests
 *      in flight, each answer parsed, checked, normalized and built into a tree after the next
 *      requests are written) + `checkSpanTree([tree], hsiUploadTree())` + `checkHops([tree],
 *      hsiHops(), {sent})` on each, trees not retained;
 *    - presence: `checkTracePresence(client, ids, {expected: hsiCompleteness()})` (the sampling
 *      family's bulk lookup: forEachTrace + completeness against the upload tree);
 *    - fetch (not by default; `--paths peer,floor,fetch,harness`): forEachTrace alone, answers read
      into trees and dropped: fetch / floor is the bulk read's cost, harness / fetch the checks';
    and where each path's CPU went (this process, Jaeger's container, the docker-proxy of its
 *    query port, the rest of the machine: bench/cpu-accounting.ts) and the V8 heap it allocated per
 *    trace (bench/heap-allocation.ts: robust under load, unlike CPU time); `--paths` measures a subset;
 * 4. memory: the harness path again over `passes × N` traces, in chunks of 1,000; after each chunk
 *    (in-flight work drained) `global.gc()` and `process.memoryUsage().heapUsed`; growth per 1,000
 *    traces is the least-squares slope of that series. For scale, the cost of retaining 1,000
 *    trees is measured too (what a leak of one tree per trace would look like).
 * --pin (bench/core-pinning.ts): Jaeger's container (`docker update --cpuset-cpus`) and its query
 * port's docker-proxy on the last CPU, this process on CPU 0 (`taskset -a -p -c`), read back and
 * printed in the header. By default everything shares every CPU, and on a 2-CPU machine the bench
 * saturates it: each µs of this process's CPU (even the floor's JSON.parse) delays Jaeger's
 * answers, so the shared ratio measures the machine. Pinned, Jaeger works on its own core as a
 * production Jaeger would on its own machine, and the ratio says whether the harness keeps up with
 * Jaeger's answers. Refused (exit 2) with fewer than 2 CPUs or without taskset.
 * Goal: harness >= 1,000 traces/s and memory flat (slope <= 1 % of the first sample per 1,000
 * traces). Loopback only (ports published on 127.0.0.1); every step is bounded.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { hsiCompleteness, hsiHops, hsiUploadTree } from '../assertions/hsi/expectations.ts';
import { checkHops } from '../assertions/propagation/hops.ts';
import { assessCompleteness } from '../assertions/sampling/checks.ts';
import { checkTracePresence } from '../assertions/sampling/presence.ts';
import { checkSpanTree } from '../assertions/span-tree/evaluate.ts';
import { ownerLabels, removeRun } from '../harness/stack/cleanup.ts';
import { hsiLabels } from '../harness/stack/containers/container-hardening.ts';
import { localImages } from '../harness/stack/images/image-refs.ts';
import { registerTeardown, runTeardown } from '../harness/stack/teardown.ts';
import { configureTestcontainers } from '../harness/stack/testcontainers-env.ts';
import { installCliSignalHandlers } from '../harness/cli/signals.ts';
import { JaegerQueryClient } from '../harness/traces/jaeger-client.ts';
import { parseV3Traces } from '../harness/traces/jaeger-schemas.ts';
import { buildTraceTree, type TraceTree } from '../harness/traces/span-model.ts';
import { pinCores, pinRefusal, type Pinning } from './core-pinning.ts';
import { CpuMeter, CpuTotals, proxyPids } from './cpu-accounting.ts';
import { HeapAllocationMeter } from './heap-allocation.ts';

// testcontainers reads these when it is first imported (below, dynamically)
configureTestcontainers();

const IMAGE = localImages().jaeger;
const SPANS_PER_TRACE = 12;
const CHUNK = 1000;

const { values: args } = parseArgs({
  options: {
    traces: { type: 'string', default: '4000' },
    batch: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    slice: { type: 'string', default: '500' },
    'memory-passes': { type: 'string', default: '3' },
    'max-seconds': { type: 'string', default: '600' },
    paths: { type: 'string', default: 'peer,harness,presence,floor' },
    pin: { type: 'boolean', default: false },
  },
});
const PIN = args.pin;
const refusal = PIN ? pinRefusal() : undefined;
if (refusal !== undefined) {
  process.stderr.write(`${refusal}\n`);
  process.exit(2);
}
function bounded(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n)) {
    process.stderr.write(`--${name}: expected an integer, got "${text}"\n`);
    process.exit(2);
  }
  return Math.min(max, Math.max(min, n));
}
// Jaeger's memory store keeps 100,000 traces; stay well under it.
const TRACES = bounded('traces', args.traces, 1, 50_000);
const BATCH = bounded('batch', args.batch, 1, 1000);
const CONCURRENCY = bounded('concurrency', args.concurrency, 1, 256);
const ROUNDS = bounded('rounds', args.rounds, 1, 10);
const SLICE = bounded('slice', args.slice, 50, 50_000);
const MEMORY_PASSES = bounded('memory-passes', args['memory-passes'], 1, 10);
const MAX_SECONDS = bounded('max-seconds', args['max-seconds'], 30, 3600);

function line(text = ''): void {
  process.stdout.write(`${text}\n`);
}
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;
const kb = (bytes: number) => `${bytes >= 0 ? '+' : '−'}${Math.abs(bytes) >= 1024 * 1024 ? `${(Math.abs(bytes) / 1024 / 1024).toFixed(2)} MB` : `${(Math.abs(bytes) / 1024).toFixed(1)} KB`}`;

// ------------------------------------------------------------------ synthetic HSI traces (OTLP JSON)

interface OtlpAttribute {
  key: string;
  value: { stringValue: string } | { intValue: string } | { boolValue: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
  status: { code: number };
}
const KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;
const s = (key: string, value: string): OtlpAttribute => ({ key, value: { stringValue: value } });
const i = (key: string, value: number): OtlpAttribute => ({ key, value: { intValue: String(value) } });
const b = (key: string, value: boolean): OtlpAttribute => ({ key, value: { boolValue: value } });
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

const CAMERAS = ['front_door', 'backyard', 'garage', 'driveway'];

interface SyntheticTrace {
  traceId: string;
  /** The load driver's span (the upload's parent, never exported), for the traceparent hop. */
  driverSpanId: string;
  backend: OtlpSpan[];
  detector: OtlpSpan[];
}

function syntheticTrace(n: number, startNs: bigint): SyntheticTrace {
  const traceId = hex(16);
  const driverSpanId = hex(8);
  const camera = CAMERAS[n % CAMERAS.length] ?? 'front_door';
  const filePath = `/export/foscam/${camera}/bench_${String(n).padStart(6, '0')}.jpg`;
  const batchId = `batch-${camera}-${Math.floor(n / 40)}`;
  const mk = (name: string, kind: number, parentSpanId: string, atMs: number, durationMs: number, attributes: OtlpAttribute[]): OtlpSpan => {
    const start = startNs + BigInt(Math.round(atMs * 1e6));
    return { traceId, spanId: hex(8), parentSpanId, name, kind, startTimeUnixNano: String(start), endTimeUnixNano: String(start + BigInt(Math.round(durationMs * 1e6))), attributes, status: { code: 0 } };
  };
  const upload = mk('POST /api/cameras/{camera_id}/uploads', KIND.server, driverSpanId, 0, 12, [
    s('http.request.method', 'POST'),
    s('http.route', '/api/cameras/{camera_id}/uploads'),
    s('url.path', `/api/cameras/${camera}/uploads`),
    i('http.response.status_code', 202),
    s('camera.id', camera),
    s('camera_id', camera),
    s('file_path', filePath),
    s('upload.id', hex(8)),
    i('upload.size_bytes', 48_213 + (n % 997)),
  ]);
  const select = mk('SELECT cameras', KIND.client, upload.spanId, 1, 0.8, [s('db.system.name', 'postgresql'), s('db.operation.name', 'SELECT'), s('db.collection.name', 'cameras'), s('server.address', 'toxiproxy')]);
  const write = mk('file_write', KIND.internal, upload.spanId, 2, 3, [s('file_path', filePath), i('file.size_bytes', 48_213 + (n % 997))]);
  const publish = mk('detection_queue publish', KIND.producer, upload.spanId, 6, 1, [
    s('messaging.system', 'redis'),
    s('messaging.destination.name', 'detection_queue'),
    s('messaging.operation.type', 'send'),
    s('camera_id', camera),
    s('file_path', filePath),
    i('messaging.message.body.size', 212),
  ]);
  const processing = mk('detection_processing', KIND.consumer, publish.spanId, 20, 60, [
    s('messaging.system', 'redis'),
    s('messaging.destination.name', 'detection_queue'),
    s('camera_id', camera),
    s('file_path', filePath),
    s('media_type', 'image'),
    s('camera.id', camera),
    s('request.source', 'hsi-chaos'),
    i('detector_attempts', 1),
    i('detection_count', 2),
    s('batch_id', batchId),
  ]);
  const detectRequest = mk('yolo26_detection_request', KIND.client, processing.spanId, 22, 30, [
    i('retry_attempt', 1),
    s('http.request.method', 'POST'),
    s('server.address', 'toxiproxy'),
    i('server.port', 8668),
    s('url.full', 'http://toxiproxy:8668/detect'),
    i('http.response.status_code', 200),
    i('ai.inference.detections', 2),
  ]);
  const detectServer = mk('POST /detect', KIND.server, detectRequest.spanId, 23, 28, [
    s('http.request.method', 'POST'),
    s('http.route', '/detect'),
    i('http.response.status_code', 200),
    s('camera.id', camera),
    s('request.source', 'hsi-chaos'),
    i('ai.inference.detections', 2),
  ]);
  const decode = mk('image_decode', KIND.internal, detectServer.spanId, 24, 2, [i('ai.inference.image_width', 1920), i('ai.inference.image_height', 1080)]);
  const inference = mk('yolo26_inference', KIND.internal, detectServer.spanId, 26, 24, [b('ai.emulated', true), s('ai.model', 'yolo26n'), i('ai.inference.queue_depth', n % 3), i('ai.inference.detections', 2)]);
  const insert = mk('INSERT detections', KIND.client, processing.spanId, 53, 3, [s('db.system.name', 'postgresql'), s('db.operation.name', 'INSERT'), s('db.collection.name', 'detections'), s('server.address', 'toxiproxy')]);
  const batch = mk('batch_aggregation', KIND.internal, processing.spanId, 57, 4, [s('batch_id', batchId), s('batch.id', batchId), s('camera_id', camera), s('file_path', filePath), i('batch.size', 1 + (n % 40)), b('batch.opened', n % 40 === 0)]);
  const evalsha = mk('EVALSHA', KIND.client, batch.spanId, 58, 1, [s('db.system.name', 'redis'), s('db.operation.name', 'EVALSHA'), s('server.address', 'toxiproxy')]);
  return { traceId, driverSpanId, backend: [upload, select, write, publish, processing, detectRequest, insert, batch, evalsha], detector: [detectServer, decode, inference] };
}

function resource(service: string, version: string): { attributes: OtlpAttribute[] } {
  return { attributes: [s('service.name', service), s('service.version', version), s('deployment.environment.name', 'bench'), s('telemetry.sdk.language', 'nodejs'), s('telemetry.sdk.name', 'opentelemetry')] };
}

function otlpBody(traces: readonly SyntheticTrace[]): string {
  return JSON.stringify({
    resourceSpans: [
      { resource: resource('nemotron-backend', '0.1.0'), scopeSpans: [{ scope: { name: 'hsi-reference-backend' }, spans: traces.flatMap((t) => t.backend) }] },
      { resource: resource('ai-yolo26-emulator', '0.1.0'), scopeSpans: [{ scope: { name: 'hsi-detector-emulator' }, spans: traces.flatMap((t) => t.detector) }] },
    ],
  });
}

// ------------------------------------------------------------------ measuring

/** `fn` over every id, `concurrency` at a time. */
async function pool(ids: readonly string[], concurrency: number, fn: (id: string) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < ids.length) await fn(ids[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, ids.length)) }, worker));
}

interface PassResult {
  rate: number;
  /** Process CPU (user + system) per trace, µs: what the client side costs. */
  cpuUsPerTrace: number;
  /** V8 heap bytes allocated per trace (bench/heap-allocation.ts): robust under load, unlike CPU time. */
  allocBytesPerTrace: number;
}

async function timed(count: number, work: () => Promise<void>): Promise<PassResult> {
  const heap = new HeapAllocationMeter();
  heap.start();
  const cpu = process.cpuUsage();
  const start = performance.now();
  await work();
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { rate: count / seconds, cpuUsPerTrace: (used.user + used.system) / count, allocBytesPerTrace: heap.stop() / count };
}

const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc;
function heapAfterGc(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

/** Least-squares slope of y over x. */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The `q` quantile (0..1) of `xs`, linear between the closest ranks. */
function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (s[lo] ?? 0) + ((s[hi] ?? 0) - (s[lo] ?? 0)) * (at - lo);
}

type PathName = 'peer' | 'harness' | 'presence' | 'floor' | 'single' | 'fetch';
/**
 * Not measured by default: `single`, the harness's checks on per-id getTrace reads (the read
 * before forEachTrace), and `fetch`, forEachTrace alone (answers read into trees, no checks): with
 * floor and harness it splits the harness's cost into the bulk read's and the checks'.
 */
const ALL_PATHS: readonly PathName[] = ['peer', 'harness', 'presence', 'floor', 'single', 'fetch'];
/** The paths measured (`--paths`, e.g. `harness` alone under `--cpu-prof`), in the canonical order. */
const PATHS: readonly PathName[] = selectedPaths(args.paths);
function selectedPaths(text: string): PathName[] {
  const wanted = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const unknown = wanted.filter((p) => !(ALL_PATHS as readonly string[]).includes(p));
  if (unknown.length > 0 || wanted.length === 0) {
    process.stderr.write(`--paths: expected a comma-separated list of ${ALL_PATHS.join(', ')}, got "${text}"\n`);
    process.exit(2);
  }
  return ALL_PATHS.filter((p) => wanted.includes(p));
}
const has = (name: PathName) => PATHS.includes(name);

/**
 * Jaeger traces its own query handling into the same memory store (service `jaeger`, one trace
 * per read) and keeps 100,000 traces: past that, the oldest (the bench's) are evicted and the
 * lookups answer 404. The reads planned (warm-up, rounds, memory passes) must leave room.
 */
const STORE_TRACES = 100_000;
function plannedReads(): number {
  const warm = Math.min(TRACES, CHUNK);
  return TRACES + PATHS.length * (warm + ROUNDS * TRACES) + MEMORY_PASSES * TRACES + warm + 100;
}
if (plannedReads() > STORE_TRACES) {
  process.stderr.write(
    `--traces ${TRACES} × (--rounds ${ROUNDS} × ${PATHS.length} paths + --memory-passes ${MEMORY_PASSES}): ~${plannedReads().toLocaleString('en-US')} traces in Jaeger's store (it traces each read), more than the ${STORE_TRACES.toLocaleString('en-US')} it keeps; use fewer traces, rounds, paths or memory passes\n`,
  );
  process.exit(2);
}
type Pass = (list: readonly string[]) => Promise<PassResult>;

/** What the paths found while measuring (answers that were not 200, failed checks, answer sizes). */
class PathTally {
  peerBad = 0;
  floorBad = 0;
  fetchBad = 0;
  harnessFailures = 0;
  firstFailure = '';
  presenceIncomplete = 0;
  /** Bytes and count of the peer's answers since the last `startRound`, and the mean of each finished round. */
  private bytes = 0;
  private answers = 0;
  min = Infinity;
  max = 0;
  readonly roundMeans: number[] = [];
  answer(length: number): void {
    this.bytes += length;
    this.answers += 1;
    this.min = Math.min(this.min, length);
    this.max = Math.max(this.max, length);
  }
  endRound(): void {
    if (this.answers > 0) this.roundMeans.push(this.bytes / this.answers);
    this.bytes = 0;
    this.answers = 0;
  }
  /** Forget what the warm-up saw (its answer sizes stay, as the first round mean). */
  reset(): void {
    this.endRound();
    this.peerBad = this.floorBad = this.fetchBad = this.harnessFailures = this.presenceIncomplete = 0;
    this.firstFailure = '';
    this.min = Infinity;
    this.max = 0;
  }
}

interface BenchContext {
  queryUrl: string;
  client: JaegerQueryClient;
  sent: ReadonlyMap<string, string>;
  tally: PathTally;
}

function getAnswer(queryUrl: string, id: string) {
  return request(`${queryUrl}/api/v3/traces/${id}`, { method: 'GET', headers: { accept: 'application/json' }, headersTimeout: 10_000, bodyTimeout: 10_000 });
}

/**
 * The harness path over a list of ids: the evaluator's bulk read (`forEachTrace`, as presence and
 * the pipeline fetch use it) + span tree + hops on each trace, trees not retained.
 */
function harnessPass(ctx: BenchContext): (ids: readonly string[]) => Promise<void> {
  const check = harnessChecks(ctx);
  return async (ids) => {
    let handed = 0;
    await ctx.client.forEachTrace(ids, { concurrency: CONCURRENCY }, (r) => {
      handed++;
      if (r.ok) check(r.traceId, r.tree);
      else check(r.traceId, undefined, r.error);
    });
    // every id checked, none skipped: a pass that checked fewer would only look faster
    if (handed !== ids.length) throw new Error(`harness: forEachTrace handed over ${handed} of ${ids.length} lookups`);
  };
}

/** The same checks on per-id getTrace reads (`single`): each worker parses and checks before it asks again. */
function singlePass(ctx: BenchContext): (ids: readonly string[]) => Promise<void> {
  const check = harnessChecks(ctx);
  return (ids) =>
    pool(ids, CONCURRENCY, async (id) => {
      try {
        check(id, await ctx.client.getTrace(id));
      } catch (error) {
        check(id, undefined, error instanceof Error ? error : new Error(String(error)));
      }
    });
}

/** Span tree + hops on one trace; a missing trace, a failed read or a failed check is tallied. */
function harnessChecks(ctx: BenchContext): (id: string, t: TraceTree | undefined, error?: Error) => void {
  const tree = hsiUploadTree();
  const hops = hsiHops();
  const failed = (message: string) => {
    ctx.tally.harnessFailures++;
    ctx.tally.firstFailure ||= message;
  };
  return (id, t, error) => {
    if (error) return failed(`trace ${id}: ${error.message}`);
    if (!t) return failed(`trace ${id} not found`);
    const st = checkSpanTree([t], tree);
    const hopResults = checkHops([t], hops, { sent: ctx.sent });
    if (!st.passed || hopResults.some((h) => !h.passed)) failed(st.passed ? (hopResults.find((h) => !h.passed)?.message ?? '') : st.message);
  };
}

function pathPasses(ctx: BenchContext): Record<PathName, Pass> {
  const { queryUrl, client, tally } = ctx;
  const completeness = hsiCompleteness();
  const harness = harnessPass(ctx);
  const single = singlePass(ctx);
  return {
    single: (list) => timed(list.length, () => single(list)),
    fetch: (list) =>
      timed(list.length, async () => {
        let handed = 0;
        await client.forEachTrace(list, { concurrency: CONCURRENCY }, (r) => {
          handed++;
          if (!r.ok || r.tree === undefined) tally.fetchBad++;
        });
        if (handed !== list.length) throw new Error(`fetch: forEachTrace handed over ${handed} of ${list.length} lookups`);
      }),
    peer: (list) =>
      timed(list.length, () =>
        pool(list, CONCURRENCY, async (id) => {
          const res = await getAnswer(queryUrl, id);
          const text = await res.body.text();
          tally.answer(text.length);
          if (res.statusCode !== 200) {
            tally.peerBad++;
            tally.firstFailure ||= `peer: HTTP ${res.statusCode} for ${id}: ${text.slice(0, 200)}`;
          }
        }),
      ),
    floor: (list) =>
      timed(list.length, () =>
        pool(list, CONCURRENCY, async (id) => {
          const res = await getAnswer(queryUrl, id);
          const doc = JSON.parse(await res.body.text()) as { result?: unknown };
          if (res.statusCode !== 200 || doc.result === undefined) tally.floorBad++;
        }),
      ),
    harness: (list) => timed(list.length, () => harness(list)),
    presence: (list) =>
      timed(list.length, async () => {
        const results = await checkTracePresence(client, list, { concurrency: CONCURRENCY, expected: completeness });
        tally.presenceIncomplete += results.filter((r) => !r.complete).length;
      }),
  };
}

/** Every path's passes: per round (all slices added up) and per slice (the paired comparisons). */
interface Measured {
  rounds: Record<PathName, PassResult[]>;
  slices: Record<PathName, PassResult[]>;
  /** Every pass of a path added up: where its CPU went. */
  cpu: Record<PathName, CpuTotals>;
}

/**
 * Rounds over all ids, each cut in slices of `SLICE` ids; in each slice every path runs over the
 * same ids one after the other, in an order rotated from slice to slice (so every path runs
 * first, second, … equally often, and Jaeger's answers, which grow by one warning per read, are
 * alike on average). The paths of one slice run seconds apart, under the same background load:
 * their rate ratio is the paired comparison, and the median of those ratios is far less at the
 * mercy of the machine's load than a ratio of whole-round medians.
 */
async function measureInterleaved(ids: readonly string[], passes: Record<PathName, Pass>, tally: PathTally, meter: CpuMeter): Promise<Measured> {
  const rounds: Record<PathName, PassResult[]> = { peer: [], harness: [], presence: [], floor: [], single: [], fetch: [] };
  const slices: Record<PathName, PassResult[]> = { peer: [], harness: [], presence: [], floor: [], single: [], fetch: [] };
  const cpu: Record<PathName, CpuTotals> = { peer: new CpuTotals(), harness: new CpuTotals(), presence: new CpuTotals(), floor: new CpuTotals(), single: new CpuTotals(), fetch: new CpuTotals() };
  let turn = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const sums = new Map<PathName, { count: number; seconds: number; cpuUs: number; allocBytes: number }>(PATHS.map((p) => [p, { count: 0, seconds: 0, cpuUs: 0, allocBytes: 0 }]));
    for (let first = 0; first < ids.length; first += SLICE) {
      const slice = ids.slice(first, first + SLICE);
      for (let k = 0; k < PATHS.length; k++) {
        const name = PATHS[(k + turn) % PATHS.length]!;
        const before = meter.read();
        const r = await passes[name](slice);
        cpu[name].add(slice.length, CpuMeter.since(before, meter.read()));
        slices[name].push(r);
        const sum = sums.get(name)!;
        sum.count += slice.length;
        sum.seconds += slice.length / r.rate;
        sum.cpuUs += r.cpuUsPerTrace * slice.length;
        sum.allocBytes += r.allocBytesPerTrace * slice.length;
      }
      turn++;
    }
    for (const [name, sum] of sums) rounds[name].push({ rate: sum.count / sum.seconds, cpuUsPerTrace: sum.cpuUs / sum.count, allocBytesPerTrace: sum.allocBytes / sum.count });
    tally.endRound();
  }
  return { rounds, slices, cpu };
}

/**
 * A 95 % confidence interval of the median of `xs`, distribution-free: the k-th smallest and k-th
 * largest value, k the largest with P(Binomial(n, ½) < k) ≤ 2.5 % (n = 40: the 14th and 27th of
 * 40). NaN where n < 6 (no such k). It says how far a run's median of paired ratios can be from
 * the machine's: the p25–p75 spread is that of single slices, not of their median.
 */
function medianInterval(xs: readonly number[]): { low: number; high: number } {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  let below = 0; // P(Binomial(n, ½) < k), k = 1, 2, …
  let term = 0.5 ** n; // P(X = k - 1)
  let k = 0;
  for (let j = 0; j < n; j++) {
    if (below + term > 0.025) break;
    below += term;
    term = (term * (n - j)) / (j + 1);
    k = j + 1;
  }
  return k === 0 ? { low: Number.NaN, high: Number.NaN } : { low: s[k - 1]!, high: s[n - k]! };
}

/** Paired ratios `a / b` over the slices, in %. */
function pairedRatios(m: Measured, a: PathName, b: PathName): { median: number; p25: number; p75: number; n: number; ci: { low: number; high: number } } {
  // a path not measured (--paths) has no slices: its ratios read NaN
  const ratios = m.slices[b].length === 0 ? [] : m.slices[a].map((r, j) => (r.rate / m.slices[b][j]!.rate) * 100);
  return { median: quantile(ratios, 0.5), p25: quantile(ratios, 0.25), p75: quantile(ratios, 0.75), n: ratios.length, ci: medianInterval(ratios) };
}

/** heapUsed after GC over `MEMORY_PASSES × N` traces of the harness path, a sample per 1,000; and what retaining 1,000 trees costs. */
async function measureMemory(ctx: BenchContext, ids: readonly string[]): Promise<{ samples: { x: number; y: number }[]; processed: number; retainedPerTrace: number }> {
  const harness = harnessPass(ctx);
  const samples: { x: number; y: number }[] = [{ x: 0, y: heapAfterGc() }];
  let processed = 0;
  for (let pass = 0; pass < MEMORY_PASSES; pass++) {
    for (let first = 0; first < ids.length; first += CHUNK) {
      const chunk = ids.slice(first, first + CHUNK);
      await harness(chunk);
      processed += chunk.length;
      if (processed % CHUNK === 0 || first + CHUNK >= ids.length) samples.push({ x: processed, y: heapAfterGc() });
    }
  }
  const retainIds = ids.slice(0, Math.min(ids.length, CHUNK));
  const before = heapAfterGc();
  const kept: (TraceTree | undefined)[] = [];
  await pool(retainIds, CONCURRENCY, async (id) => {
    kept.push(await ctx.client.getTrace(id));
  });
  const retainedPerTrace = (heapAfterGc() - before) / kept.length;
  kept.length = 0;
  return { samples, processed, retainedPerTrace };
}

/** Where the harness's client CPU goes: one trace's answer, in-process, no I/O. */
async function stageBreakdown(ctx: BenchContext, id: string): Promise<string> {
  const sample = await getAnswer(ctx.queryUrl, id);
  const sampleText = await sample.body.text();
  const REPS = 2000;
  // Steady state, as in the passes (each function has run thousands of times there): measured
  // after WARM untimed calls. Timed from the first call on, the JIT's warm-up counted in and
  // tripled the checks' figures (checkSpanTree 14-16 µs against 3.5-4.5 µs warm, checkHops
  // 12 against 2.5, normalize 35-47 against 8.5; a loop over one stored answer, 05:12, load 3).
  const WARM = 1000;
  // process CPU time, not wall time: what other processes take while it runs does not count
  const stage = <T>(fn: () => T): { us: number; value: T } => {
    let value = fn();
    for (let r = 0; r < WARM; r++) value = fn();
    const start = process.cpuUsage();
    for (let r = 0; r < REPS; r++) value = fn();
    const used = process.cpuUsage(start);
    return { us: (used.user + used.system) / REPS, value };
  };
  const tree = hsiUploadTree();
  const hops = hsiHops();
  const completeness = hsiCompleteness();
  const parsed = stage(() => JSON.parse(sampleText) as unknown);
  const normalized = stage(() => parseV3Traces(parsed.value));
  const built = stage(() => buildTraceTree(normalized.value, id));
  const treeCheck = stage(() => checkSpanTree([built.value], tree));
  const hopCheck = stage(() => checkHops([built.value], hops, { sent: ctx.sent }));
  const completeCheck = stage(() => assessCompleteness(built.value, completeness));
  // the whole per-answer work of the harness path in one loop (its GC included), for scale against JSON.parse alone
  const pipeline = stage(() => {
    const t = buildTraceTree(parseV3Traces(JSON.parse(sampleText)), id);
    return checkSpanTree([t], tree).passed && checkHops([t], hops, { sent: ctx.sent }).every((h) => h.passed);
  });
  const breakdown = [
    ['JSON.parse', parsed.us],
    ['validate + normalize (parseV3Traces)', normalized.us],
    ['buildTraceTree', built.us],
    ['checkSpanTree', treeCheck.us],
    ['checkHops', hopCheck.us],
    ['(presence) assessCompleteness', completeCheck.us],
    ['all of the harness path\'s in one loop (parse to hops)', pipeline.us],
  ] as const;
  return `harness CPU per trace (process CPU time), in-process on one ${int(sampleText.length)} B answer (${normalized.value.length} spans) × ${int(REPS)} after ${int(WARM)} untimed: ${breakdown.map(([name, us]) => `${name} ${us.toFixed(1)} µs`).join(', ')}`;
}

/** N synthetic traces posted over OTLP/HTTP JSON, B per POST; waits until the first and the last are complete in Jaeger. */
async function loadTraces(otlpUrl: string, client: JaegerQueryClient): Promise<{ ids: string[]; sent: Map<string, string> }> {
  const ids: string[] = [];
  const sent = new Map<string, string>();
  const loadStart = performance.now();
  const baseNs = BigInt(Date.now() - 60_000) * 1_000_000n;
  let posts = 0;
  let bodyBytes = 0;
  for (let first = 0; first < TRACES; first += BATCH) {
    const traces: SyntheticTrace[] = [];
    for (let n = first; n < Math.min(TRACES, first + BATCH); n++) {
      const t = syntheticTrace(n, baseNs + BigInt(n) * 10_000_000n);
      traces.push(t);
      ids.push(t.traceId);
      sent.set(t.traceId, t.driverSpanId);
    }
    const body = otlpBody(traces);
    bodyBytes += body.length;
    const res = await request(otlpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body, headersTimeout: 30_000, bodyTimeout: 30_000 });
    const answer = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`OTLP POST ${otlpUrl}: HTTP ${res.statusCode}: ${answer.slice(0, 200)}`);
    const rejected = Number((JSON.parse(answer || '{}') as { partialSuccess?: { rejectedSpans?: string | number } }).partialSuccess?.rejectedSpans ?? 0);
    if (rejected > 0) throw new Error(`OTLP POST: Jaeger rejected ${rejected} spans: ${answer.slice(0, 200)}`);
    posts++;
  }
  const sentSeconds = (performance.now() - loadStart) / 1000;
  const waitStart = performance.now();
  for (const id of [ids[0]!, ids.at(-1)!]) {
    const tree = await client.waitForTrace(id, { expectedServices: ['nemotron-backend', 'ai-yolo26-emulator'], timeoutMs: 60_000, pollIntervalMs: 100 });
    if (tree.spans.length !== SPANS_PER_TRACE) throw new Error(`trace ${id}: ${tree.spans.length} spans in Jaeger, sent ${SPANS_PER_TRACE}`);
  }
  line(
    `load: ${int(TRACES)} traces (${int(TRACES * SPANS_PER_TRACE)} spans) in ${posts} OTLP/HTTP JSON POSTs of ≤ ${BATCH} traces (${mb(bodyBytes)}), ` +
      `${sentSeconds.toFixed(2)} s (${int((TRACES * SPANS_PER_TRACE) / sentSeconds)} spans/s accepted); first and last trace complete in Jaeger ${((performance.now() - waitStart) / 1000).toFixed(2)} s later`,
  );
  return { ids, sent };
}

const loadAverage = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function reportPaths(m: Measured, tally: PathTally, breakdown: string, hopCount: number): void {
  const med = (name: PathName) => median(m.rounds[name].map((r) => r.rate));
  const best = (name: PathName) => Math.max(...m.rounds[name].map((r) => r.rate));
  const cpuMed = (name: PathName) => median(m.rounds[name].map((r) => r.cpuUsPerTrace));
  const allocMed = (name: PathName) => median(m.rounds[name].map((r) => r.allocBytesPerTrace)) / 1024;
  const paired = (name: PathName) => pairedRatios(m, name, 'peer');
  const vsPeer = (x: () => number) => (has('peer') ? `${x().toFixed(1)} %` : 'n/a');
  line();
  line(`path                                                 traces/s median     best   cpu µs/trace   alloc KB/trace   vs peer (rounds)   vs peer (paired slices)   rounds`);
  const row = (name: PathName, label: string) =>
    has(name) &&
    line(
      `${label.padEnd(52)} ${int(med(name)).padStart(15)} ${int(best(name)).padStart(8)} ${int(cpuMed(name)).padStart(14)} ${allocMed(name).toFixed(1).padStart(16)} ${vsPeer(() => (med(name) / med('peer')) * 100).padStart(18)} ${vsPeer(() => paired(name).median).padStart(25)}   ${m.rounds[name].map((r) => int(r.rate)).join(', ')}`,
    );
  row('peer', 'peer: undici GET /api/v3/traces/{id}, body as text');
  row('floor', 'floor: the same GET + JSON.parse');
  row('harness', 'harness: forEachTrace + checkSpanTree + checkHops');
  row('presence', 'presence: checkTracePresence (+ completeness)');
  row('single', 'single: getTrace per id + the same checks');
  row('fetch', 'fetch: forEachTrace alone (trees, no checks)');
  line(`(a trace answer is ${int(tally.roundMeans.at(-1) ?? 0)} B of OTLP JSON on average in the last round, ${int(tally.min)}–${int(tally.max)} B; cpu µs/trace is this process only, Jaeger runs in its container on the same CPUs; alloc KB/trace: V8 heap allocated per trace, the same whatever the machine's load)`);
  // Jaeger's memory store hands its stored spans to the query adjusters, which append a clock-skew
  // warning ("parent span ID=… is not in the trace") to the root span on every read (the upload's
  // parent is the load driver's span, never exported): answers grow with each lookup.
  line(`(answers grow with every read: mean ${int(tally.roundMeans[0] ?? 0)} B in the warm-up, ${int(tally.roundMeans.at(-1) ?? 0)} B in the last round: Jaeger appends an @jaeger@warnings entry to the root span per read)`);
  line(breakdown);
  line(`checks: ${tally.harnessFailures === 0 ? `span tree and ${hopCount} hops pass on every trace` : `${tally.harnessFailures} harness lookups failed: ${tally.firstFailure}`}; presence: ${tally.presenceIncomplete === 0 ? 'every trace found and complete' : `${tally.presenceIncomplete} not complete`}`);
}

/** Where each path's CPU went, per trace over every pass of a path: this process, Jaeger, docker-proxy, the rest of the machine. */
function reportCpu(m: Measured, meter: CpuMeter): void {
  const us = (x: number | undefined) => (x === undefined ? 'n/a' : int(x));
  line();
  line(`where the CPU goes, per trace over every pass of a path (µs of CPU time; ${cpus().length} CPUs; proxy: ${meter.describeProxy()}${PIN ? '; --pin: Jaeger and proxy on their own core' : ''}):`);
  line(`path        wall µs/trace   node µs   node loop busy   jaeger µs   proxy µs   rest of machine µs   machine busy   per-CPU busy   jaeger sent B/trace`);
  for (const name of PATHS) {
    const r = m.cpu[name].row();
    const x = m.cpu[name].extras();
    const perCpu = x.perCpuBusy === undefined ? 'n/a' : x.perCpuBusy.map((f) => `${(f * 100).toFixed(0)}`).join('/') + ' %';
    line(
      `${name.padEnd(10)} ${int(r.wallUs).padStart(15)} ${int(r.nodeUs).padStart(9)} ${`${(r.loopBusy * 100).toFixed(0)} %`.padStart(16)} ${us(r.jaegerUs).padStart(11)} ${us(r.proxyUs).padStart(10)} ${us(r.restUs).padStart(20)} ${(r.machineBusy === undefined ? 'n/a' : `${(r.machineBusy * 100).toFixed(0)} %`).padStart(14)} ${perCpu.padStart(14)} ${us(x.txBytesPerTrace).padStart(21)}`,
    );
  }
  line(`(node: this process, every thread; loop busy: its event loop's share of the wall time; rest: the machine's busy time minus the three, i.e. the kernel's share not charged to them and other processes; per-CPU busy: cpu0/cpu1/…; jaeger sent: bytes out of its container's eth0 per trace, the answers with their HTTP headers: equal across paths when every path gets the same answers)`);
}

function reportMemory(memory: Awaited<ReturnType<typeof measureMemory>>): { grown: number; first: { x: number; y: number } } {
  const { samples, processed, retainedPerTrace } = memory;
  line();
  const first = samples[1] ?? samples[0]!;
  const grown = slope(samples.slice(1)) * CHUNK;
  const last = samples.at(-1)!;
  line(`memory: heapUsed after ${gc ? 'GC' : 'no GC (no --expose-gc)'}, harness path, ${int(processed)} traces (${MEMORY_PASSES} pass${MEMORY_PASSES === 1 ? '' : 'es'} over the ids), a sample after every ${int(CHUNK)}:`);
  line(`  ${samples.map((p) => `${p.x / 1000}k ${(p.y / 1024 / 1024).toFixed(2)}`).join(' | ')} (MB)`);
  line(
    `  growth per 1,000 traces ${kb(grown)} (least squares from the ${int(first.x)} sample; ${((grown / first.y) * 100).toFixed(2)} % of it), ` +
      `${int(first.x)} → ${int(last.x)}: ${kb(last.y - first.y)}; for scale, retaining each tree would add ${kb(retainedPerTrace * CHUNK)} per 1,000 traces`,
  );
  return { grown, first };
}

function reportGoals(m: Measured, memory: { grown: number; first: { x: number; y: number } }): void {
  const med = (name: PathName) => median(m.rounds[name].map((r) => r.rate));
  const pct = (x: number) => `${x.toFixed(1)} %`;
  const hp = pairedRatios(m, 'harness', 'peer');
  const hf = pairedRatios(m, 'harness', 'floor');
  const fp = pairedRatios(m, 'floor', 'peer');
  const pp = pairedRatios(m, 'presence', 'peer');
  line();
  if (!has('peer') || !has('harness') || !has('floor') || !has('presence')) line(`(--paths ${PATHS.join(',')}: ratios to a path not measured read NaN)`);
  line(
    `harness / peer      = ${pct(hp.median)} median of ${hp.n} paired slices (95 % CI of the median ${pct(hp.ci.low)}–${pct(hp.ci.high)}; p25–p75 ${pct(hp.p25)}–${pct(hp.p75)}); ${pct((med('harness') / med('peer')) * 100)} of the round medians  ` +
      `(goal >= 90 %; the peer reads each answer but never parses it, less than any consumer can do${PIN ? '; --pin: Jaeger on its own core, this process on another' : '; shared CPUs'})`,
  );
  line(`harness / floor     = ${pct(hf.median)} paired (95 % CI ${pct(hf.ci.low)}–${pct(hf.ci.high)}; p25–p75 ${pct(hf.p25)}–${pct(hf.p75)})  (floor: the peer + JSON.parse; floor / peer = ${pct(fp.median)} paired, 95 % CI ${pct(fp.ci.low)}–${pct(fp.ci.high)})`);
  line(`presence / peer     = ${pct(pp.median)} paired`);
  if (has('single')) {
    const hs = pairedRatios(m, 'harness', 'single');
    line(`harness / single    = ${pct(hs.median)} paired (p25–p75 ${pct(hs.p25)}–${pct(hs.p75)})  (single: the same checks on per-id getTrace reads, parsed before the next request)`);
  }
  if (has('fetch')) {
    const ff = pairedRatios(m, 'fetch', 'floor');
    const hx = pairedRatios(m, 'harness', 'fetch');
    line(`fetch / floor       = ${pct(ff.median)} paired (95 % CI ${pct(ff.ci.low)}–${pct(ff.ci.high)})  (the bulk read's cost beyond GET + JSON.parse: validation, normalization, tree, its own bookkeeping)`);
    line(`harness / fetch     = ${pct(hx.median)} paired (95 % CI ${pct(hx.ci.low)}–${pct(hx.ci.high)})  (the checks' cost: span tree and hops on each tree)`);
  }
  line(`load average        = ${loadAverage()}  (the machine's, at the end; each paired ratio compares passes run seconds apart, under the same load)`);
  const harnessRate = med('harness');
  line(`harness traces/s    = ${int(harnessRate)}  (goal >= 1,000)  ${harnessRate >= 1000 ? 'OK' : 'MISSED'}`);
  const flat = Math.abs(memory.grown) <= 0.01 * memory.first.y;
  line(`memory per 1,000    = ${kb(memory.grown)}  (goal flat: <= 1 % of ${mb(memory.first.y)})  ${gc ? (flat ? 'OK' : 'MISSED') : 'UNKNOWN (no --expose-gc)'}`);
}

async function main(): Promise<void> {
  installCliSignalHandlers();
  const runId = `bench-${hex(3)}`;
  const labels = { ...hsiLabels(runId, 'jaeger'), ...ownerLabels(false) };
  // runs last: whatever of this run is still there (a start interrupted half-way), by our run id only
  registerTeardown(`containers of ${runId}`, () => removeRun(runId));
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: time bound of ${MAX_SECONDS} s hit; tearing down\n`);
    void runTeardown().finally(() => process.exit(1));
  }, MAX_SECONDS * 1000);
  watchdog.unref();

  const { JaegerContainer } = await import('../harness/stack/containers/jaeger-container.ts');
  const startedAt = performance.now();
  const jaeger = await new JaegerContainer(IMAGE).withLabels(labels).start();
  registerTeardown('jaeger', () => jaeger.stop());
  const queryUrl = jaeger.getQueryUrl();
  const queryPort = new URL(queryUrl).port === '' ? 80 : Number(new URL(queryUrl).port);
  const pinning: Pinning | undefined = PIN ? await pinCores(jaeger.getId(), proxyPids(queryPort)) : undefined;
  line(
    `bench: ${int(TRACES)} traces × ${SPANS_PER_TRACE} spans (2 services), Jaeger ${IMAGE} (run ${runId}, started in ${((performance.now() - startedAt) / 1000).toFixed(1)} s) ` +
      `query ${queryUrl}, concurrency ${CONCURRENCY}, ${ROUNDS} round${ROUNDS === 1 ? '' : 's'} in slices of ${int(SLICE)}, ${cpus().length} CPUs, node ${process.version}, load average ${loadAverage()}`,
  );
  line(pinning === undefined ? 'bench: not pinned (every process on every CPU; --pin gives Jaeger its own core)' : `bench: ${pinning.describe()}`);
  if (!gc) line('bench: global.gc is not exposed: memory samples are without a forced GC and only indicative; run `node --expose-gc bench/trace-assertions.bench.ts`');

  const client = new JaegerQueryClient({ baseUrl: queryUrl });
  const { ids, sent } = await loadTraces(`${jaeger.getOtlpHttpUrl()}/v1/traces`, client);
  const tally = new PathTally();
  const ctx: BenchContext = { queryUrl, client, sent, tally };
  const passes = pathPasses(ctx);
  // warm-up, not counted: JIT, connections, Jaeger's caches
  const warm = ids.slice(0, Math.min(ids.length, CHUNK));
  for (const name of PATHS) await passes[name](warm);
  tally.reset();
  const meter = await CpuMeter.forContainer(jaeger.getId(), queryPort);
  const measured = await measureInterleaved(ids, passes, tally, meter);
  if (tally.peerBad > 0) throw new Error(`peer: ${tally.peerBad} lookups did not answer 200 (${tally.firstFailure}); Jaeger lost traces?`);
  if (tally.fetchBad > 0) throw new Error(`fetch: ${tally.fetchBad} lookups did not answer a trace; Jaeger lost traces?`);
  if (tally.floorBad > 0) throw new Error(`floor: ${tally.floorBad} lookups did not answer a trace; Jaeger lost traces?`);
  const memory = await measureMemory(ctx, ids);
  reportPaths(measured, tally, await stageBreakdown(ctx, ids[0]!), hsiHops().length);
  reportCpu(measured, meter);
  const grown = reportMemory(memory);
  reportGoals(measured, grown);
  if (tally.harnessFailures > 0 || tally.presenceIncomplete > 0) line('WARNING: some checks failed on the synthetic traces: the numbers above include failure paths');
  clearTimeout(watchdog);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await runTeardown();
}
