import { type Dispatcher, FormData, request } from 'undici';
import { HSI_ROUTES, routePath } from '../contract/hsi-api.ts';
import type { PreparedUpload } from './multipart.ts';
import { type Abortable, type ExchangeHandler, type Http1Connection, readingOf } from './http1/connection.ts';
import { RequestTemplate } from './http1/request-template.ts';
import { type MeteredConnection, type RequestTiming, TimedExchange } from './request-timing.ts';
import { formatBaggage, newTraceContext, type OutgoingTraceContext } from './trace-context.ts';

/** What one camera upload did, as the load driver records it. */
export interface UploadRecord {
  cameraId: string;
  fixture: string;
  traceId: string;
  /** The span id sent in traceparent: the parent the backend's server span must name. */
  clientSpanId: string;
  sampled: boolean;
  status: number;
  accepted: boolean;
  latencyMs: number;
  uploadId?: string;
  filePath?: string;
  error?: string;
  /** k6's timing split and bytes, when the upload went through a metered connection (request-timing.ts) */
  timing?: RequestTiming;
}

export interface UploadOptions {
  backendUrl: string;
  cameraId: string;
  fileName: string;
  bytes: Buffer;
  sampled?: boolean;
  requestSource?: string;
  timeoutMs?: number;
  /** connection pool to send through (default: undici's global dispatcher) */
  dispatcher?: Dispatcher;
  /** the multipart body encoded ahead (encodeMultipartFile); default: built from bytes */
  prepared?: PreparedUpload;
  /** a trace context minted by the caller (default: a new one with `sampled`) */
  trace?: OutgoingTraceContext;
  /** extra baggage entries after camera.id and request.source */
  baggage?: Readonly<Record<string, string>>;
  /** aborts the request (recorded with status 0 and the abort as error) */
  signal?: AbortSignal;
}

/** POST /api/cameras/{camera_id}/uploads, multipart field `file`, with traceparent and baggage. */
export async function sendUpload(options: UploadOptions): Promise<UploadRecord> {
  const trace: OutgoingTraceContext = options.trace ?? newTraceContext(options.sampled ?? true);
  let body: FormData | Buffer;
  const headers: Record<string, string> = {
    traceparent: trace.traceparent,
    baggage: formatBaggage({ 'camera.id': options.cameraId, 'request.source': options.requestSource ?? 'hsi-chaos', ...options.baggage }),
  };
  if (options.prepared) {
    body = options.prepared.body;
    headers['content-type'] = options.prepared.contentType;
  } else {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(options.bytes)], { type: 'image/jpeg' }), options.fileName);
    body = form;
  }
  const started = performance.now();
  const base: Omit<UploadRecord, 'status' | 'accepted' | 'latencyMs'> = {
    cameraId: options.cameraId,
    fixture: options.fileName,
    traceId: trace.traceId,
    clientSpanId: trace.spanId,
    sampled: trace.sampled,
  };
  try {
    const res = await request(`${options.backendUrl}${routePath(HSI_ROUTES.upload, { camera_id: options.cameraId })}`, {
      method: 'POST',
      body,
      headers,
      headersTimeout: options.timeoutMs ?? 30_000,
      bodyTimeout: options.timeoutMs ?? 30_000,
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const text = await res.body.text();
    const latencyMs = performance.now() - started;
    let answer: { id?: unknown; file_path?: unknown; detail?: unknown; error?: unknown } = {};
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      // a non-JSON answer is recorded by its status alone
    }
    const record: UploadRecord = { ...base, status: res.statusCode, accepted: res.statusCode === 202, latencyMs };
    if (typeof answer.id === 'string') record.uploadId = answer.id;
    if (typeof answer.file_path === 'string') record.filePath = answer.file_path;
    if (res.statusCode !== 202) record.error = typeof answer.error === 'string' ? answer.error : text.slice(0, 200);
    return record;
  } catch (error) {
    return { ...base, status: 0, accepted: false, latencyMs: performance.now() - started, error: (error as Error).message };
  }
}

/**
 * Aborts a group of in-flight uploads at once (a scenario, a VU) without an AbortSignal
 * listener per request: dispatchUpload registers its request here while it runs.
 */
export class AbortScope {
  private stopped = false;
  /** the one request in flight (a VU's scope, or an open scenario at a modest rate): no Set work */
  private one: Abortable | undefined;
  /** the others in flight */
  private readonly live = new Set<Abortable>();
  /** other work to stop with the scope (a WebSocket session) */
  private readonly stoppers = new Set<() => void>();

  get aborted(): boolean {
    return this.stopped;
  }

  abort(reason: Error = new Error('aborted')): void {
    this.stopped = true;
    const live = [...this.live];
    if (this.one !== undefined) live.push(this.one);
    this.one = undefined;
    this.live.clear();
    for (const c of live) if (!c.aborted) c.abort(reason);
    const stoppers = [...this.stoppers];
    this.stoppers.clear();
    for (const stop of stoppers) stop();
  }

  /** Calls `stop` when the scope aborts (now, if it has); returns the unregister function. */
  onAbort(stop: () => void): () => void {
    if (this.stopped) {
      stop();
      return () => undefined;
    }
    this.stoppers.add(stop);
    return () => this.stoppers.delete(stop);
  }

  /** @internal a request's controller (the driver's own client's, or undici's DispatchController) */
  enter(controller: Abortable): void {
    if (this.stopped) controller.abort(new Error('aborted'));
    else if (this.one === undefined) this.one = controller;
    else this.live.add(controller);
  }

  /** @internal */
  leave(controller: Abortable): void {
    if (this.one === controller) this.one = undefined;
    else this.live.delete(controller);
  }
}

export interface DispatchUploadOptions {
  /** a Pool or Client bound to the backend's origin (undici) */
  dispatcher?: Dispatcher;
  /** or the driver's own metered connection (http1/): the upload records k6's timing split and wire bytes on it */
  connection?: Http1Connection;
  /** request path, e.g. uploadPath('front_door') */
  path: string;
  cameraId: string;
  prepared: PreparedUpload;
  trace: OutgoingTraceContext;
  /** the baggage header value (formatBaggage) */
  baggage: string;
  /** headers sent on every request of the run (flat name/value pairs: the API key), after the upload's own */
  extraHeaders?: readonly string[];
  timeoutMs?: number;
  scope?: AbortScope;
  /** read `id`/`file_path` from a 202 answer (default true; the error text is always read) */
  parseAnswer?: boolean;
}

/** `/api/cameras/{camera_id}/uploads` under an optional base path. */
export function uploadPath(cameraId: string, basePath = ''): string {
  return `${basePath.replace(/\/+$/, '')}${routePath(HSI_ROUTES.upload, { camera_id: cameraId })}`;
}

/**
 * The header list of an upload: content-type, traceparent, baggage, then the run's own
 * (`extra`). A flat array is the cheapest form for undici; TRACEPARENT_SLOT is where each
 * request's traceparent goes in a copy.
 */
export function uploadHeaders(contentType: string, baggage: string, extra: readonly string[] = []): string[] {
  return ['content-type', contentType, 'traceparent', '', 'baggage', baggage, ...extra];
}
export const TRACEPARENT_SLOT = 3;

/**
 * One request with k6's timing split (TimedExchange), sent on the driver's own HTTP/1.1 client
 * (sendOn: the load driver's path) or on undici's dispatch API (dispatchOn): the handler's
 * callbacks, the abort scope's bookkeeping and the end, once, in one object per request, no
 * closures. Subclasses keep the body (`onResponseData`) and act on the outcome in `finished()`,
 * which runs once, synchronously in the response's last callback (or the failure's). Never
 * throws: errors end it with status 0.
 */
export abstract class DispatchExchange extends TimedExchange implements Dispatcher.DispatchHandler, ExchangeHandler {
  status = 0;
  error: Error | undefined;
  /** end of the exchange (performance.now()), once finished */
  endAt = 0;
  readonly scope: AbortScope | undefined;
  private controller: Abortable | undefined;

  /** `dispatchedAt`: performance.now() when the request is handed to the client (the caller's own reading) */
  constructor(connection: MeteredConnection | undefined, scope: AbortScope | undefined, dispatchedAt: number) {
    super(connection, dispatchedAt);
    this.scope = scope;
  }

  /** Hands the request to `dispatcher` (the connection's client when it has one); a refusal ends it. */
  dispatchOn(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions): void {
    try {
      dispatcher.dispatch(options, this);
    } catch (error) {
      this.end(error as Error, performance.now());
    }
  }

  /** Sends the request on the driver's connection (written in this call when it is open and idle). */
  sendOn(connection: Http1Connection, template: RequestTemplate, traceparent: string | undefined, timeoutMs: number): void {
    connection.send(template, traceparent, this, timeoutMs);
  }

  // the marks take the driver's connection's own clock readings (readingOf), undici's a fresh one
  onRequestStart(controller: Abortable): void {
    this.controller = controller;
    this.scope?.enter(controller);
    this.markStarted(readingOf(controller) ?? performance.now());
  }

  onRequestSent(controller?: Abortable): void {
    this.markSent(readingOf(controller ?? null) ?? performance.now());
  }

  onResponseStart(controller: Abortable, statusCode: number): void {
    this.status = statusCode;
    this.markHeaders(readingOf(controller) ?? performance.now());
  }

  /** does this exchange read the answer's body (asked by the driver's connection once the status is known)? */
  bodyWanted(): boolean {
    return true;
  }

  abstract onResponseData(controller: Abortable, chunk: Buffer): void;

  onResponseEnd(controller?: Abortable): void {
    this.end(undefined, readingOf(controller ?? null) ?? performance.now());
  }

  onResponseError(_controller: Abortable | null, error: Error): void {
    this.end(error, performance.now());
  }

  private end(error: Error | undefined, at: number): void {
    if (this.endAt !== 0) return;
    if (this.controller) this.scope?.leave(this.controller);
    this.endAt = at;
    if (error !== undefined) {
      this.error = error;
      this.status = 0;
    }
    this.settleTiming(this.endAt);
    this.finished();
  }

  /** The exchange ended (answer or failure): act on it. */
  protected abstract finished(): void;
}

/**
 * One upload (a DispatchExchange): 202 means accepted; the body is kept for the answer's
 * `id` / `file_path` unless the answer is a 202 and parseAnswer is false.
 */
export class UploadExchange extends DispatchExchange {
  /** the answer's body (read unless the answer is a 202 and parseAnswer is false) */
  private chunks: Buffer[] | undefined;
  private readonly keepBody: boolean;

  constructor(connection: MeteredConnection | undefined, scope: AbortScope | undefined, parseAnswer: boolean, dispatchedAt: number) {
    super(connection, scope, dispatchedAt);
    this.keepBody = parseAnswer;
  }

  /** Hands the upload to `dispatcher` (the connection's client when it has one). */
  send(dispatcher: Dispatcher, path: string, body: Buffer, headers: string[], timeoutMs: number): void {
    this.dispatchOn(dispatcher, { path, method: 'POST', body, headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  }

  get accepted(): boolean {
    return this.error === undefined && this.status === 202;
  }

  get latencyMs(): number {
    return this.endAt - this.dispatchedAt;
  }

  /** The answer's `id` / `file_path` (202) or its error text; read on demand from the kept body. */
  answer(): Pick<UploadRecord, 'uploadId' | 'filePath' | 'error'> {
    if (this.error !== undefined) return { error: this.error.message };
    const chunks = this.chunks;
    const text = chunks === undefined ? '' : chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8');
    let parsed: { id?: unknown; file_path?: unknown; error?: unknown } = {};
    if (text.length > 0 && text.charCodeAt(0) === 123 /* { */) {
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        // recorded by its status alone
      }
    }
    const out: Pick<UploadRecord, 'uploadId' | 'filePath' | 'error'> = {};
    if (typeof parsed.id === 'string') out.uploadId = parsed.id;
    if (typeof parsed.file_path === 'string') out.filePath = parsed.file_path;
    if (this.status !== 202) out.error = typeof parsed.error === 'string' ? parsed.error : text.slice(0, 200);
    return out;
  }

  override bodyWanted(): boolean {
    return this.keepBody || this.status !== 202;
  }

  onResponseData(_controller: Abortable, chunk: Buffer): void {
    // a copy: the chunk is a view of the connection's read buffer
    if (this.bodyWanted()) (this.chunks ??= []).push(Buffer.from(chunk));
  }

  /** The exchange ended (answer or failure): override to act on it. */
  protected finished(): void {}
}

/**
 * `new Promise(captureSettlers)`, then `takeResolve()` and `takeReject()`: a promise and its
 * settle functions without a closure or object per promise (the executor runs synchronously,
 * so the slots are taken right away; Promise.withResolvers is ES2024, past this project's lib).
 */
let capturedResolve: ((value: never) => void) | undefined;
let capturedReject: ((reason: unknown) => void) | undefined;
export function captureSettlers(resolve: (value: never) => void, reject: (reason: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}
export function takeResolve<T>(): (value: T) => void {
  const resolve = capturedResolve as (value: T) => void;
  capturedResolve = undefined;
  return resolve;
}
export function takeReject(): (reason: unknown) => void {
  const reject = capturedReject as (reason: unknown) => void;
  capturedReject = undefined;
  return reject;
}

/** An UploadExchange whose outcome resolves a promise as an UploadRecord. */
class PromisedUpload extends UploadExchange {
  private readonly resolve: (record: UploadRecord) => void;
  private readonly options: DispatchUploadOptions;

  constructor(options: DispatchUploadOptions, resolve: (record: UploadRecord) => void) {
    super(options.connection, options.scope, options.parseAnswer !== false, performance.now());
    this.options = options;
    this.resolve = resolve;
  }

  protected override finished(): void {
    const { trace } = this.options;
    const record: UploadRecord = {
      cameraId: this.options.cameraId,
      fixture: this.options.prepared.fileName,
      traceId: trace.traceId,
      clientSpanId: trace.spanId,
      sampled: trace.sampled,
      status: this.status,
      accepted: this.accepted,
      latencyMs: this.latencyMs,
    };
    if (this.connection !== undefined) record.timing = this;
    if (!this.accepted || this.options.parseAnswer !== false) Object.assign(record, this.answer());
    this.resolve(record);
  }
}

/**
 * The same upload as sendUpload (multipart body prepared ahead, traceparent, baggage; 202
 * means accepted; `id` and `file_path` read from the answer) on undici's dispatch API, or on
 * the driver's own connection (`connection`: with k6's timing split): no response stream, no
 * per-request AbortSignal. Never rejects: errors are recorded with status 0. (The load driver
 * runs UploadExchange directly, on request templates built once per fixture.)
 */
export function dispatchUpload(options: DispatchUploadOptions): Promise<UploadRecord> {
  const { dispatcher, connection } = options;
  if (dispatcher === undefined && connection === undefined) throw new TypeError('dispatchUpload: pass a dispatcher or a connection');
  const promise = new Promise<UploadRecord>(captureSettlers);
  const resolve = takeResolve<UploadRecord>();
  takeReject();
  const headers = uploadHeaders(options.prepared.contentType, options.baggage, options.extraHeaders);
  const upload = new PromisedUpload(options, resolve);
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (dispatcher !== undefined) {
    headers[TRACEPARENT_SLOT] = options.trace.traceparent;
    upload.send(dispatcher, options.path, options.prepared.body, headers, timeoutMs);
  } else if (connection !== undefined) {
    const template = new RequestTemplate({ method: 'POST', path: options.path, host: connection.authority, headers, body: options.prepared.body });
    upload.sendOn(connection, template, options.trace.traceparent, timeoutMs);
  }
  return promise;
}
