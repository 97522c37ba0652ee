import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { NdjsonWriter } from '../util/run-results.ts';
import type { Scenario, Transport } from '../scenario/scenario-types.ts';
import type { LoadRequestRecord } from './load-result.ts';
import { encodeMultipartFile, mediaTypeOf, type PreparedUpload } from './multipart.ts';
import type { IterationSinks, RequestMetrics, RequestSinks } from './request-metrics.ts';
import { UPLOAD_NAME } from './request-names.ts';
import type { Http1Connection } from './http1/connection.ts';
import type { Http1Pool } from './http1/pool.ts';
import { RequestTemplate } from './http1/request-template.ts';
import type { RequestTiming } from './request-timing.ts';
import type { RunState } from './run-state.ts';
import type { IterationDone, IterationRunner, ScenarioRuntime } from './scenario-runtime.ts';
import { formatBaggage, newTraceContext, type OutgoingTraceContext } from './trace-context.ts';
import { type AbortScope, captureSettlers, takeReject, takeResolve, UploadExchange, type UploadRecord, uploadHeaders, uploadPath } from './upload-client.ts';


interface Fixture {
  name: string;
  bytes: Buffer;
  prepared: PreparedUpload;
  /** the upload's bytes (uploadHeaders' headers, the multipart body), built once; each request fills in its traceparent */
  template: RequestTemplate;
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

/**
 * Reads and encodes every camera's fixtures once, before the run, with each upload's header
 * list (`extraHeaders`: flat name/value pairs every request of the run carries, the API key).
 */
export function loadCameras(scenario: Scenario, backendUrl: string, fixturesDir: string | undefined, extraHeaders: readonly string[] = []): CameraRuntime[] {
  const { pathname: basePath, host } = new URL(backendUrl);
  return scenario.cameras.map((c, index) => {
    const baggage = formatBaggage({ 'camera.id': c.id, 'request.source': scenario.tracing.requestSource, ...scenario.tracing.baggage });
    const path = uploadPath(c.id, basePath);
    const request: UploadRequest = { host, path, baggage, extraHeaders };
    return { index, id: c.id, name: c.name, next: 0, path, baggage, fixtures: c.files.map((file) => loadFixture(scenario, c, file, fixturesDir, request)) };
  });
}

/** What every upload of one camera carries beside its fixture. */
interface UploadRequest {
  host: string;
  path: string;
  baggage: string;
  extraHeaders: readonly string[];
}

function loadFixture(scenario: Scenario, c: Scenario['cameras'][number], file: string, fixturesDir: string | undefined, request: UploadRequest): Fixture {
  const path = fixturesDir ? join(fixturesDir, c.fixtures, basename(file)) : file;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${scenario.source}: camera ${c.id}: cannot read fixture ${path}: ${(error as Error).message}`);
  }
  const name = basename(path);
  const prepared = encodeMultipartFile({ fileName: name, bytes, mediaType: mediaTypeOf(name) });
  const headers = uploadHeaders(prepared.contentType, request.baggage, request.extraHeaders);
  return { name, bytes, prepared, template: new RequestTemplate({ method: 'POST', path: request.path, host: request.host, headers, body: prepared.body }) };
}

export { RequestMetrics } from './request-metrics.ts';

export interface UploadIterationOptions {
  scenario: Scenario;
  cameras: CameraRuntime[];
  state: RunState;
  metrics: RequestMetrics;
  pool: Http1Pool;
  random: () => number;
  writer: NdjsonWriter | undefined;
  dropDir: string | undefined;
}

/** What one iteration is, beside its outcome: what the record and the metrics need. */
interface IterationFacts {
  rt: ScenarioRuntime;
  vu: number;
  iteration: number;
  seq: number;
  camera: CameraRuntime;
  fixture: Fixture;
  trace: OutgoingTraceContext;
  intendedMs: number;
  sentMs: number;
  open: boolean;
  scope: AbortScope;
}

/** An iteration that ended: its facts and outcome (an upload exchange, or a dropped file). */
interface SettledUpload extends IterationFacts {
  readonly status: number;
  readonly accepted: boolean;
  /** k6's timing split (http only) */
  timing(): RequestTiming | undefined;
  /** the answer's id / file_path, or the error (read only for the records file and failures) */
  details(): Pick<UploadRecord, 'uploadId' | 'filePath' | 'error'>;
}

/**
 * One camera upload of the driver: the exchange (handler, timing, outcome) with the
 * iteration's facts; its end settles the iteration synchronously and resolves the one promise
 * the executor waits on.
 */
class DriverUpload extends UploadExchange implements SettledUpload {
  // set by UploadIterations.run before the request is sent
  rt!: ScenarioRuntime;
  vu = 0;
  iteration = 0;
  seq = 0;
  camera!: CameraRuntime;
  fixture!: Fixture;
  trace!: OutgoingTraceContext;
  intendedMs = 0;
  sentMs = 0;
  open = false;
  declare readonly scope: AbortScope;
  done!: IterationDone;
  private readonly runner: UploadIterations;

  constructor(runner: UploadIterations, connection: Http1Connection, scope: AbortScope, parseAnswer: boolean, dispatchedAt: number) {
    super(connection, scope, parseAnswer, dispatchedAt);
    this.runner = runner;
  }

  timing(): RequestTiming {
    return this;
  }

  details(): Pick<UploadRecord, 'uploadId' | 'filePath' | 'error'> {
    return this.answer();
  }

  protected override finished(): void {
    try {
      this.runner.settle(this, this.endAt);
    } catch (error) {
      this.done.iterationFailed(this.vu, error);
      return;
    }
    this.done.iterationEnded(this.vu);
  }
}

/** An iteration started through run(): its end settles run's promise. */
class PromisedIteration implements IterationDone {
  private readonly resolve: () => void;
  private readonly reject: (reason: unknown) => void;
  constructor(resolve: () => void, reject: (reason: unknown) => void) {
    this.resolve = resolve;
    this.reject = reject;
  }
  iterationEnded(): void {
    this.resolve();
  }
  iterationFailed(_vu: number, error: unknown): void {
    this.reject(error);
  }
}

/** A file written into the drop folder (transport drop-folder): the iteration's facts, copied, and its outcome. */
interface DroppedFile extends IterationFacts {}
class DroppedFile implements SettledUpload {
  accepted = false;
  readonly status = 0;
  filePath: string | undefined;
  error: string | undefined;

  constructor(f: IterationFacts) {
    Object.assign(this, f);
  }

  timing(): undefined {
    return undefined;
  }

  details(): Pick<UploadRecord, 'filePath' | 'error'> {
    return this.error !== undefined ? { error: this.error } : this.filePath !== undefined ? { filePath: this.filePath } : {};
  }
}

/**
 * The tags and resolved metric sinks of one scenario's uploads from one camera, by status
 * (the last status seen answers without a lookup): built once, not per request.
 */
class UploadKind {
  readonly iteration: IterationSinks;
  private readonly byStatus = new Map<number, RequestSinks>();
  private lastStatus = -1;
  private last: RequestSinks | undefined;
  private readonly metrics: RequestMetrics;
  private readonly rt: ScenarioRuntime;
  private readonly camera: CameraRuntime;
  private readonly http: boolean;

  constructor(metrics: RequestMetrics, rt: ScenarioRuntime, camera: CameraRuntime, http: boolean) {
    this.metrics = metrics;
    this.rt = rt;
    this.camera = camera;
    this.http = http;
    this.iteration = metrics.iterationSinksOf(rt.iterationTags);
  }

  sinks(status: number): RequestSinks {
    if (status === this.lastStatus && this.last !== undefined) return this.last;
    let s = this.byStatus.get(status);
    if (!s) {
      const ok = this.http ? status === 202 : true;
      const { rt, camera } = this;
      const tags = { ...rt.tags, scenario: rt.name, status: String(status), method: 'POST', name: UPLOAD_NAME, expected_response: ok ? 'true' : 'false', camera: camera.id };
      s = this.metrics.sinksOf(tags);
      this.byStatus.set(status, s);
    }
    this.lastStatus = status;
    this.last = s;
    return s;
  }
}

/** An iteration = one camera upload (http) or one file dropped into the camera's folder. */
export class UploadIterations implements IterationRunner {
  private readonly transport: Transport;
  private readonly sampledFraction: number;
  /** per scenario: the upload kinds by camera index, built once */
  private readonly kinds = new Map<ScenarioRuntime, UploadKind[]>();
  private readonly dirsMade = new Set<string>();

  private readonly o: UploadIterationOptions;

  /** the http transport's request timeout */
  private readonly timeoutMs: number;

  constructor(o: UploadIterationOptions) {
    this.o = o;
    this.transport = o.scenario.transport;
    this.timeoutMs = this.transport.type === 'http' ? this.transport.timeoutMs : 0;
    this.sampledFraction = o.scenario.tracing.sampledFraction;
  }

  drop(rt: ScenarioRuntime, dueMs: number): void {
    this.o.state.counts.dropped++;
    this.o.metrics.dropped(rt, dueMs);
  }

  /** Starts the iteration; its promise resolves when it is settled (metrics and record done). */
  run(rt: ScenarioRuntime, vu: number, intendedMs: number, scope: AbortScope, open: boolean): Promise<void> {
    if (this.transport.type !== 'http') return this.runDrop(this.facts(rt, vu, intendedMs, scope, open));
    const promise = new Promise<void>(captureSettlers);
    this.send(rt, vu, intendedMs, scope, open, new PromisedIteration(takeResolve<void>(), takeReject()));
    return promise;
  }

  /** Starts the iteration; `done` hears when it is settled (metrics and record done). */
  start(rt: ScenarioRuntime, vu: number, intendedMs: number, scope: AbortScope, open: boolean, done: IterationDone): void {
    if (this.transport.type === 'http') return this.send(rt, vu, intendedMs, scope, open, done);
    this.runDrop(this.facts(rt, vu, intendedMs, scope, open)).then(
      () => done.iterationEnded(vu),
      (error: unknown) => done.iterationFailed(vu, error),
    );
  }

  /** one upload on the VU's connection: written in this call when the connection is open */
  private send(rt: ScenarioRuntime, vu: number, intendedMs: number, scope: AbortScope, open: boolean, done: IterationDone): void {
    const { state, pool } = this.o;
    const connection = pool.connection(rt.name, vu);
    const iteration = rt.iterations++;
    const camera = this.cameraOf(rt, iteration);
    const fixture = camera.fixtures[camera.next++ % camera.fixtures.length] as Fixture;
    const trace = this.newTrace();
    rt.begin();
    const sentMs = state.now();
    const u = new DriverUpload(this, connection, scope, this.o.writer !== undefined, state.monotonicOf(sentMs));
    u.sentMs = sentMs;
    u.rt = rt;
    u.vu = vu;
    u.iteration = iteration;
    u.seq = ++state.counts.sent;
    u.camera = camera;
    u.fixture = fixture;
    u.trace = trace;
    u.intendedMs = intendedMs;
    u.open = open;
    u.done = done;
    // written in this call on an open connection: the fixture's bytes with this traceparent
    u.sendOn(connection, fixture.template, trace.traceparent, this.timeoutMs);
  }

  private facts(rt: ScenarioRuntime, vu: number, intendedMs: number, scope: AbortScope, open: boolean): IterationFacts {
    const iteration = rt.iterations++;
    const camera = this.cameraOf(rt, iteration);
    const fixture = camera.fixtures[camera.next++ % camera.fixtures.length] as Fixture;
    const trace = this.newTrace();
    const seq = ++this.o.state.counts.sent;
    rt.begin();
    return { rt, vu, iteration, seq, camera, fixture, trace, intendedMs, sentMs: this.o.state.now(), open, scope };
  }

  /** The camera of a scenario's n-th iteration (the scenario's camera sequence, round robin). */
  private cameraOf(rt: ScenarioRuntime, iteration: number): CameraRuntime {
    return this.o.cameras[rt.sequence[iteration % rt.sequence.length] ?? 0] as CameraRuntime;
  }

  /** A new trace context, sampled with the scenario's fraction. */
  private newTrace(): OutgoingTraceContext {
    return newTraceContext(this.sampledFraction >= 1 ? true : this.o.random() < this.sampledFraction);
  }

  private kindOf(rt: ScenarioRuntime, camera: CameraRuntime): UploadKind {
    let byCamera = this.kinds.get(rt);
    if (!byCamera) {
      byCamera = [];
      this.kinds.set(rt, byCamera);
    }
    return (byCamera[camera.index] ??= new UploadKind(this.o.metrics, rt, camera, this.transport.type === 'http'));
  }

  /** @internal an iteration ended (at `endAt`, a performance.now() reading, when known): counts, metrics, its record */
  settle(u: SettledUpload, endAt?: number): void {
    const { state, metrics } = this.o;
    const endMs = endAt === undefined ? state.now() : state.sinceT0(endAt);
    u.rt.end();
    const interrupted = !u.accepted && u.scope.aborted;
    const latencyMs = endMs - u.intendedMs;
    if (interrupted) state.counts.interrupted++;
    else {
      state.counts.completed++;
      if (u.accepted) state.counts.accepted++;
      else state.counts.failed++;
      if (u.open) metrics.lag.record(u.sentMs - u.intendedMs);
      const kind = this.kindOf(u.rt, u.camera);
      const sinks = kind.sinks(u.status);
      metrics.requestDone(sinks, endMs, latencyMs, u.accepted);
      metrics.iterationDone(kind.iteration, latencyMs);
      const timing = u.timing();
      if (timing !== undefined) metrics.timingDone(sinks, timing);
    }
    if (this.o.writer) this.o.writer.write(this.record(u, endMs, latencyMs, interrupted));
  }

  private record(u: SettledUpload, endMs: number, latencyMs: number, interrupted: boolean): LoadRequestRecord {
    const { trace } = u;
    const record: LoadRequestRecord = {
      seq: u.seq,
      scenario: u.rt.name,
      vu: u.vu,
      iteration: u.iteration,
      camera: u.camera.id,
      fixture: u.fixture.name,
      transport: this.transport.type,
      intendedEpochMs: round3(this.o.state.wall0 + u.intendedMs),
      intendedMs: round3(u.intendedMs),
      sentMs: round3(u.sentMs),
      endMs: round3(endMs),
      latencyMs: round3(latencyMs),
      serviceMs: round3(endMs - u.sentMs),
      lagMs: round3(u.sentMs - u.intendedMs),
      status: u.status,
      ok: u.accepted,
      traceId: trace.traceId,
      spanId: trace.spanId,
      sampled: trace.sampled,
    };
    const details = u.details();
    if (details.uploadId !== undefined) record.uploadId = details.uploadId;
    if (details.filePath !== undefined) record.filePath = details.filePath;
    if (details.error !== undefined) record.error = details.error;
    if (interrupted) record.interrupted = true;
    return record;
  }

  /** Drop-folder transport: <dropDir>/<Camera Name>/<stem>-<seq><ext>, written then renamed. */
  private async runDrop(f: IterationFacts): Promise<void> {
    const dropped = new DroppedFile(f);
    try {
      const dir = join(this.o.dropDir as string, f.camera.name);
      if (!this.dirsMade.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.dirsMade.add(dir);
      }
      const ext = extname(f.fixture.name);
      const target = join(dir, `${basename(f.fixture.name, ext)}-${String(f.seq).padStart(6, '0')}${ext}`);
      const tmp = join(dir, `.${basename(target)}.part`);
      await writeFile(tmp, f.fixture.bytes);
      await rename(tmp, target);
      dropped.accepted = true;
      dropped.filePath = target;
    } catch (e) {
      dropped.error = (e as Error).message;
    }
    this.settle(dropped);
  }
}

export function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
