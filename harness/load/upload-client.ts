import { type Dispatcher, FormData, request } from 'undici';
import { HSI_ROUTES, routePath } from '../contract/hsi-api.ts';
import type { PreparedUpload } from './multipart.ts';
import type { RequestMeter, RequestTiming } from './request-timing.ts';
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
    const res = await request(`${options.backendUrl}/api/cameras/${encodeURIComponent(options.cameraId)}/uploads`, {
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
  private readonly live = new Set<Dispatcher.DispatchController>();
  /** other work to stop with the scope (a WebSocket session) */
  private readonly stoppers = new Set<() => void>();

  get aborted(): boolean {
    return this.stopped;
  }

  abort(reason: Error = new Error('aborted')): void {
    this.stopped = true;
    const live = [...this.live];
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

  /** @internal */
  enter(controller: Dispatcher.DispatchController): void {
    if (this.stopped) controller.abort(new Error('aborted'));
    else this.live.add(controller);
  }

  /** @internal */
  leave(controller: Dispatcher.DispatchController): void {
    this.live.delete(controller);
  }
}

export interface DispatchUploadOptions {
  /** a Pool or Client bound to the backend's origin */
  dispatcher: Dispatcher;
  /** request path, e.g. uploadPath('front_door') */
  path: string;
  cameraId: string;
  prepared: PreparedUpload;
  trace: OutgoingTraceContext;
  /** the baggage header value (formatBaggage) */
  baggage: string;
  timeoutMs?: number;
  scope?: AbortScope;
  /** read `id`/`file_path` from a 202 answer (default true; the error text is always read) */
  parseAnswer?: boolean;
  /** measures k6's timing split (the dispatcher must be the meter's connection) */
  meter?: RequestMeter;
}

/** `/api/cameras/{camera_id}/uploads` under an optional base path. */
export function uploadPath(cameraId: string, basePath = ''): string {
  return `${basePath.replace(/\/+$/, '')}${routePath(HSI_ROUTES.upload, { camera_id: cameraId })}`;
}

/**
 * The same upload as sendUpload (multipart body prepared ahead, traceparent, baggage; 202
 * means accepted; `id` and `file_path` read from the answer) on undici's dispatch API: no
 * response stream, no per-request AbortSignal. This is the load driver's hot path.
 * Never rejects: errors are recorded with status 0.
 */
export function dispatchUpload(options: DispatchUploadOptions): Promise<UploadRecord> {
  const { trace, meter } = options;
  const started = performance.now();
  meter?.dispatched(started);
  return new Promise<UploadRecord>((resolve) => {
    let status = 0;
    let chunks: Buffer[] | undefined;
    let controller: Dispatcher.DispatchController | undefined;
    const finish = (error?: Error) => {
      if (controller) options.scope?.leave(controller);
      const end = performance.now();
      const record: UploadRecord = {
        cameraId: options.cameraId,
        fixture: options.prepared.fileName,
        traceId: trace.traceId,
        clientSpanId: trace.spanId,
        sampled: trace.sampled,
        status: error ? 0 : status,
        accepted: !error && status === 202,
        latencyMs: end - started,
      };
      if (meter) record.timing = meter.timing(end);
      if (error) {
        record.error = error.message;
        resolve(record);
        return;
      }
      if (status === 202 && options.parseAnswer === false) {
        resolve(record);
        return;
      }
      const text = chunks === undefined ? '' : chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8');
      let answer: { id?: unknown; file_path?: unknown; error?: unknown } = {};
      if (text.length > 0 && text.charCodeAt(0) === 123 /* { */) {
        try {
          answer = JSON.parse(text) as typeof answer;
        } catch {
          // recorded by its status alone
        }
      }
      if (typeof answer.id === 'string') record.uploadId = answer.id;
      if (typeof answer.file_path === 'string') record.filePath = answer.file_path;
      if (status !== 202) record.error = typeof answer.error === 'string' ? answer.error : text.slice(0, 200);
      resolve(record);
    };
    const timeout = options.timeoutMs ?? 30_000;
    try {
      options.dispatcher.dispatch(
        {
          path: options.path,
          method: 'POST',
          body: options.prepared.body,
          // a flat array is the cheapest header form for undici to process
          headers: ['content-type', options.prepared.contentType, 'traceparent', trace.traceparent, 'baggage', options.baggage],
          headersTimeout: timeout,
          bodyTimeout: timeout,
        },
        {
          onRequestStart(c) {
            controller = c;
            options.scope?.enter(c);
            meter?.started();
          },
          onRequestSent() {
            meter?.sent();
          },
          onResponseStart(_c, statusCode) {
            status = statusCode;
            meter?.headers();
          },
          onResponseData(_c, chunk) {
            (chunks ??= []).push(chunk);
          },
          onResponseEnd() {
            finish();
          },
          onResponseError(_c, error) {
            finish(error);
          },
        },
      );
    } catch (error) {
      finish(error as Error);
    }
  });
}
