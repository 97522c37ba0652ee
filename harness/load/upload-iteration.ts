import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { NdjsonWriter } from '../report/run-results.ts';
import type { Scenario, Transport } from '../scenario/scenario-types.ts';
import { Histogram } from './histogram.ts';
import type { LoadRequestRecord, TimeSeriesBuilder } from './load-result.ts';
import { addToSink, type MetricStore, type Sink, type Tags, TIMING_METRICS } from './metrics.ts';
import { encodeMultipartFile, mediaTypeOf, type PreparedUpload } from './multipart.ts';
import type { RequestTiming } from './request-timing.ts';
import { TimedConnection } from './request-timing.ts';
import type { RunState } from './run-state.ts';
import type { IterationRunner, ScenarioRuntime } from './scenario-runtime.ts';
import { formatBaggage, newTraceContext } from './trace-context.ts';
import { type AbortScope, dispatchUpload, type UploadRecord, uploadPath } from './upload-client.ts';

const URL_NAME = 'POST /api/cameras/{camera_id}/uploads';

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

/** Reads and encodes every camera's fixtures once, before the run. */
export function loadCameras(scenario: Scenario, backendUrl: string, fixturesDir: string | undefined): CameraRuntime[] {
  const basePath = new URL(backendUrl).pathname;
  return scenario.cameras.map((c, index) => ({
    index,
    id: c.id,
    name: c.name,
    next: 0,
    path: uploadPath(c.id, basePath),
    baggage: formatBaggage({ 'camera.id': c.id, 'request.source': scenario.tracing.requestSource, ...scenario.tracing.baggage }),
    fixtures: c.files.map((file) => {
      const path = fixturesDir ? join(fixturesDir, c.fixtures, basename(file)) : file;
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
}

/**
 * One connection (an undici Client, keep-alive, pipelining 1) per VU and scenario, as k6 gives
 * each VU its own connections; each measures its connects for k6's timing split (request-timing.ts).
 */
export class ConnectionPool {
  private readonly byScenario = new Map<string, TimedConnection[]>();
  private readonly all: TimedConnection[] = [];

  private readonly origin: string;

  constructor(origin: string) {
    this.origin = origin;
  }

  /** the VU's connection: created on its first request */
  connection(scenario: string, vu: number): TimedConnection {
    let connections = this.byScenario.get(scenario);
    if (!connections) {
      connections = [];
      this.byScenario.set(scenario, connections);
    }
    let connection = connections[vu];
    if (!connection) {
      connection = new TimedConnection(this.origin, { keepAliveTimeoutMs: 30_000, connectTimeoutMs: 10_000 });
      connections[vu] = connection;
      this.all.push(connection);
    }
    return connection;
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((c) => c.close().catch(() => undefined)));
  }
}

/** The sinks of one tag set, resolved once (callers reuse their tag objects). */
interface RequestSinks {
  reqs: Sink[];
  duration: Sink[];
  failed: Sink[];
}
interface IterationSinks {
  iterations: Sink[];
  duration: Sink[];
}
/** k6's timing split and wire bytes of a request (defined whenever the run speaks HTTP) */
interface TimingSinks {
  blocked: Sink[];
  connecting: Sink[];
  tls: Sink[];
  sending: Sink[];
  waiting: Sink[];
  receiving: Sink[];
  sent: Sink[];
  received: Sink[];
}


function feed(sinks: readonly Sink[], value: number): void {
  for (let i = 0; i < sinks.length; i++) addToSink(sinks[i] as Sink, value);
}

/** The metric sinks one finished request feeds: one lookup per tag set, not one per metric. */
export class RequestMetrics {
  readonly lag = new Histogram();
  private readonly requestSinks = new WeakMap<Tags, RequestSinks>();
  private readonly iterationSinks = new WeakMap<Tags, IterationSinks>();
  private readonly timingSinks = new WeakMap<Tags, TimingSinks>();

  readonly store: MetricStore;
  readonly series: TimeSeriesBuilder;

  constructor(store: MetricStore, series: TimeSeriesBuilder) {
    this.store = store;
    this.series = series;
  }

  private sinksOf(tags: Tags): RequestSinks {
    let s = this.requestSinks.get(tags);
    if (!s) {
      s = { reqs: this.store.sinksFor('http_reqs', tags), duration: this.store.sinksFor('http_req_duration', tags), failed: this.store.sinksFor('http_req_failed', tags) };
      this.requestSinks.set(tags, s);
    }
    return s;
  }

  private iterationSinksOf(tags: Tags): IterationSinks {
    let s = this.iterationSinks.get(tags);
    if (!s) {
      s = { iterations: this.store.sinksFor('iterations', tags), duration: this.store.sinksFor('iteration_duration', tags) };
      this.iterationSinks.set(tags, s);
    }
    return s;
  }

  private timingSinksOf(tags: Tags): TimingSinks {
    let s = this.timingSinks.get(tags);
    if (!s) {
      const [blocked, connecting, tls, sending, waiting, receiving, sent, received] = TIMING_METRICS.map((m) => this.store.sinksFor(m, tags)) as [Sink[], Sink[], Sink[], Sink[], Sink[], Sink[], Sink[], Sink[]];
      s = { blocked, connecting, tls, sending, waiting, receiving, sent, received };
      this.timingSinks.set(tags, s);
    }
    return s;
  }

  /** k6's timing split and bytes of one HTTP request (uploads and request kinds) */
  timing(t: RequestTiming, tags: Tags): void {
    const s = this.timingSinksOf(tags);
    feed(s.blocked, t.blockedMs);
    feed(s.connecting, t.connectingMs);
    feed(s.tls, 0);
    feed(s.sending, t.sendingMs);
    feed(s.waiting, t.waitingMs);
    feed(s.receiving, t.receivingMs);
    feed(s.sent, t.bytesSent);
    feed(s.received, t.bytesReceived);
  }

  /** one request of one iteration (iteration metrics carry the iteration's tags, as in k6) */
  request(endMs: number, latencyMs: number, ok: boolean, tags: Tags, iterationTags: Tags): void {
    const s = this.sinksOf(tags);
    feed(s.reqs, 1);
    feed(s.duration, latencyMs);
    feed(s.failed, ok ? 0 : 1);
    const it = this.iterationSinksOf(iterationTags);
    feed(it.iterations, 1);
    feed(it.duration, latencyMs);
    this.series.record(endMs, latencyMs, !ok);
  }

  /**
   * One API request (request kinds): the upload metrics plus k6's timing split and bytes.
   * Iteration metrics come separately (iteration()), after the think time.
   */
  api(endMs: number, latencyMs: number, ok: boolean, answer: { waitingMs: number; receivingMs: number; bytesIn: number; timing?: RequestTiming | undefined }, tags: Tags): void {
    const s = this.sinksOf(tags);
    feed(s.reqs, 1);
    feed(s.duration, latencyMs);
    feed(s.failed, ok ? 0 : 1);
    if (answer.timing) this.timing(answer.timing, tags);
    else {
      this.store.add('http_req_waiting', answer.waitingMs, tags);
      this.store.add('http_req_receiving', answer.receivingMs, tags);
      this.store.add('data_received', answer.bytesIn, tags);
    }
    this.series.record(endMs, latencyMs, !ok);
  }

  iteration(durationMs: number, iterationTags: Tags): void {
    const it = this.iterationSinksOf(iterationTags);
    feed(it.iterations, 1);
    feed(it.duration, durationMs);
  }

  dropped(rt: ScenarioRuntime, dueMs: number): void {
    this.store.add('dropped_iterations', 1, rt.iterationTags);
    this.series.drop(dueMs);
  }
}

export interface UploadIterationOptions {
  scenario: Scenario;
  cameras: CameraRuntime[];
  state: RunState;
  metrics: RequestMetrics;
  pool: ConnectionPool;
  random: () => number;
  writer: NdjsonWriter | undefined;
  dropDir: string | undefined;
}

/** What one upload did, transport-neutral. */
type Outcome = Pick<UploadRecord, 'status' | 'accepted' | 'error' | 'uploadId' | 'filePath' | 'timing'>;

/** An iteration = one camera upload (http) or one file dropped into the camera's folder. */
export class UploadIterations implements IterationRunner {
  private readonly transport: Transport;
  private readonly sampledFraction: number;
  /** tag sets by scenario, then camera index and status, built once */
  private readonly tagCache = new Map<ScenarioRuntime, Map<number, Record<string, string>>>();
  private readonly dirsMade = new Set<string>();

  private readonly o: UploadIterationOptions;

  constructor(o: UploadIterationOptions) {
    this.o = o;
    this.transport = o.scenario.transport;
    this.sampledFraction = o.scenario.tracing.sampledFraction;
  }

  drop(rt: ScenarioRuntime, dueMs: number): void {
    this.o.state.counts.dropped++;
    this.o.metrics.dropped(rt, dueMs);
  }

  async run(rt: ScenarioRuntime, vu: number, intendedMs: number, scope: AbortScope, open: boolean): Promise<void> {
    const { state } = this.o;
    const iteration = rt.iterations++;
    const camera = this.o.cameras[rt.sequence[iteration % rt.sequence.length] ?? 0] as CameraRuntime;
    const fixture = camera.fixtures[camera.next++ % camera.fixtures.length] as Fixture;
    const trace = newTraceContext(this.sampledFraction >= 1 ? true : this.o.random() < this.sampledFraction);
    const seq = ++state.counts.sent;
    rt.begin();
    const sentMs = state.now();
    const transport = this.transport;
    const connection = transport.type === 'http' ? this.o.pool.connection(rt.name, vu) : undefined;
    const outcome: Outcome =
      transport.type === 'http' && connection !== undefined
        ? await dispatchUpload({
            dispatcher: connection.client,
            meter: connection.meter(),
            path: camera.path,
            cameraId: camera.id,
            prepared: fixture.prepared,
            trace,
            baggage: camera.baggage,
            timeoutMs: transport.timeoutMs,
            scope,
            parseAnswer: this.o.writer !== undefined,
          })
        : await this.dropFile(camera, fixture, seq);
    const endMs = state.now();
    rt.end();
    const interrupted = !outcome.accepted && scope.aborted;
    const latencyMs = endMs - intendedMs;
    if (interrupted) state.counts.interrupted++;
    else {
      state.counts.completed++;
      if (outcome.accepted) state.counts.accepted++;
      else state.counts.failed++;
      if (open) this.o.metrics.lag.record(sentMs - intendedMs);
      const tags = this.tagsFor(rt, camera, outcome.status);
      this.o.metrics.request(endMs, latencyMs, outcome.accepted, tags, rt.iterationTags);
      if (outcome.timing) this.o.metrics.timing(outcome.timing, tags);
    }
    if (!this.o.writer) return;
    const record: LoadRequestRecord = {
      seq,
      scenario: rt.name,
      vu,
      iteration,
      camera: camera.id,
      fixture: fixture.name,
      transport: this.transport.type,
      intendedEpochMs: round3(state.wall0 + intendedMs),
      intendedMs: round3(intendedMs),
      sentMs: round3(sentMs),
      endMs: round3(endMs),
      latencyMs: round3(latencyMs),
      serviceMs: round3(endMs - sentMs),
      lagMs: round3(sentMs - intendedMs),
      status: outcome.status,
      ok: outcome.accepted,
      traceId: trace.traceId,
      spanId: trace.spanId,
      sampled: trace.sampled,
    };
    if (outcome.uploadId !== undefined) record.uploadId = outcome.uploadId;
    if (outcome.filePath !== undefined) record.filePath = outcome.filePath;
    if (outcome.error !== undefined) record.error = outcome.error;
    if (interrupted) record.interrupted = true;
    this.o.writer.write(record);
  }

  private tagsFor(rt: ScenarioRuntime, camera: CameraRuntime, status: number): Record<string, string> {
    let cache = this.tagCache.get(rt);
    if (!cache) {
      cache = new Map();
      this.tagCache.set(rt, cache);
    }
    const key = camera.index * 1000 + status;
    let tags = cache.get(key);
    if (!tags) {
      const ok = this.transport.type === 'http' ? status === 202 : true;
      tags = { ...rt.tags, scenario: rt.name, status: String(status), method: 'POST', name: URL_NAME, expected_response: ok ? 'true' : 'false', camera: camera.id };
      cache.set(key, tags);
    }
    return tags;
  }

  /** Drop-folder transport: <dropDir>/<Camera Name>/<stem>-<seq><ext>, written then renamed. */
  private async dropFile(camera: CameraRuntime, fixture: Fixture, seq: number): Promise<Outcome> {
    try {
      const dir = join(this.o.dropDir as string, camera.name);
      if (!this.dirsMade.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.dirsMade.add(dir);
      }
      const ext = extname(fixture.name);
      const target = join(dir, `${basename(fixture.name, ext)}-${String(seq).padStart(6, '0')}${ext}`);
      const tmp = join(dir, `.${basename(target)}.part`);
      await writeFile(tmp, fixture.bytes);
      await rename(tmp, target);
      return { status: 0, accepted: true, filePath: target };
    } catch (e) {
      return { status: 0, accepted: false, error: (e as Error).message };
    }
  }
}

export function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
