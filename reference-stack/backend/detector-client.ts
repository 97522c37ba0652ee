import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { SpanKind, trace, type Span, type Tracer } from '@opentelemetry/api';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
} from '@opentelemetry/semantic-conventions';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { AbortedError, sleep } from '../common/timing.ts';
import { inSpan, injectHeaders } from '../telemetry/tracing.ts';
import { CircuitOpenError, type CallOutcome, type CircuitBreaker, type CircuitPermit } from './circuit-breaker.ts';
import { retryDelayMs } from './retry.ts';
import type { Semaphore } from './semaphore.ts';
import type { BackendSettings } from './settings.ts';
import { AiCallError, AiUnavailableError, transportError } from './ai-errors.ts';
import { probeJson, type ProbeResult } from './http-probe.ts';

/**
 * Client of the YOLO26 detector (`POST /detect`), as HSI's DetectorClient: connect and read
 * timeouts from the settings, DETECTOR_MAX_RETRIES attempts in total on transient failures
 * (connection errors, timeouts, 5xx, 408, 429, and calls rejected by the open circuit breaker)
 * with exponential backoff 1 s, 2 s, 4 s ... capped at 30 s and ±10 % jitter. Other 4xx and
 * malformed answers are not retried. Each call goes through the circuit breaker and the shared
 * AI semaphore. Every attempt that reaches the network is its own CLIENT span
 * `yolo26_detection_request` that carries traceparent/baggage.
 */

export const MODEL_NAME = 'yolo26';
export const SPAN_DETECTION_REQUEST = 'yolo26_detection_request';

export const detectResponseSchema = z.object({
  detections: z.array(
    z.object({
      class: z.string(),
      confidence: z.number(),
      bbox: z.object({ x: z.number(), y: z.number(), width: z.number(), height: z.number() }),
    }),
  ),
  inference_time_ms: z.number().optional(),
  image_width: z.number().optional(),
  image_height: z.number().optional(),
});
export type DetectResponse = z.infer<typeof detectResponseSchema>;
export type Detection = DetectResponse['detections'][number];

export class DetectorError extends AiCallError {
  override name = 'DetectorError';
}

/** All attempts failed (or a non-retryable failure): carries the attempt count for the DLQ entry. */
export class DetectorUnavailableError extends AiUnavailableError<DetectorError> {
  override name = 'DetectorUnavailableError';
  constructor(attempts: number, last: DetectorError) {
    super('detector', attempts, last);
  }
}

const RETRYABLE_STATUS = new Set([408, 429]);
/** A thrown transport error (refused, reset, timed out…) as a DetectorError. */
export function classifyTransportError(error: unknown): DetectorError {
  return transportError(error, DetectorError);
}

/** How the circuit breaker counts a failed call: 4xx answers (and aborts) do not count. */
export function breakerOutcome(error: unknown): CallOutcome {
  if (error instanceof AbortedError) return 'ignored';
  if (error instanceof DetectorError && error.status !== undefined && error.status >= 400 && error.status < 500) return 'ignored';
  return 'failure';
}

export interface DetectOutcome {
  response: DetectResponse;
  attempts: number;
}

export interface DetectorClientOptions {
  settings: BackendSettings;
  tracer: Tracer;
  breaker: CircuitBreaker;
  semaphore: Semaphore;
  /** HSI_DEFECT_RETRY_WITHOUT_BACKOFF */
  retryWithoutBackoff?: boolean;
  /** HSI_DEFECT_DETECTOR_CLIENT_STALE_BAGGAGE: the baggage header of the first call is reused for every later one. */
  staleBaggage?: boolean;
}

export class DetectorClient {
  private readonly settings: BackendSettings;
  private readonly tracer: Tracer;
  private readonly agent: Agent;
  private readonly detectUrl: URL;
  readonly breaker: CircuitBreaker;
  private readonly semaphore: Semaphore;
  /** The defect switches, read at each call (the backend's are live: POST /admin/defects). */
  private readonly defects: Pick<DetectorClientOptions, 'retryWithoutBackoff' | 'staleBaggage'>;
  /** The first call's baggage header (only with the stale-baggage defect). */
  private cachedBaggage: string | undefined;
  /** Completion times (ms) of successful inferences in the last minute, for inference_fps. */
  private readonly completions: number[] = [];

  constructor(options: DetectorClientOptions) {
    const { settings } = options;
    this.settings = settings;
    this.tracer = options.tracer;
    this.breaker = options.breaker;
    this.semaphore = options.semaphore;
    this.defects = options;
    this.detectUrl = new URL(`${settings.yolo26Url}/detect`);
    this.agent = new Agent({
      connect: { timeout: settings.aiConnectTimeoutMs },
      headersTimeout: settings.yolo26ReadTimeoutMs,
      bodyTimeout: settings.yolo26ReadTimeoutMs,
      keepAliveTimeout: 10_000,
    });
  }

  /** Detect with retries; throws DetectorUnavailableError, or AbortedError when the signal aborts. */
  async detect(image: Buffer, filePath: string, mediaType: string, signal?: AbortSignal): Promise<DetectOutcome> {
    const maxAttempts = this.settings.detectorMaxRetries;
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.attempt(image, filePath, mediaType, attempt, signal);
        return { response, attempts: attempt + 1 };
      } catch (error) {
        if (signal?.aborted || error instanceof AbortedError) throw new AbortedError('detection aborted');
        const failure =
          error instanceof CircuitOpenError ? new DetectorError(error.message, 'circuit_open', true, undefined, { cause: error }) : classifyTransportError(error);
        if (!failure.retryable || attempt + 1 >= maxAttempts) throw new DetectorUnavailableError(attempt + 1, failure);
        const delay = retryDelayMs(attempt + 1, this.defects.retryWithoutBackoff ?? false);
        trace.getActiveSpan()?.addEvent('retry_scheduled', { retry_attempt: attempt + 1, 'retry.delay_ms': delay, 'error.type': failure.code });
        await sleep(delay, signal);
      }
    }
  }

  /** One attempt: circuit breaker, AI semaphore, then the HTTP call. */
  private async attempt(image: Buffer, filePath: string, mediaType: string, attempt: number, signal?: AbortSignal): Promise<DetectResponse> {
    const permit = this.breaker.acquire(); // throws CircuitOpenError (event on the active span)
    let release: (() => void) | undefined;
    try {
      const waitStarted = performance.now();
      release = await this.semaphore.acquire(signal);
      const waitMs = performance.now() - waitStarted;
      return await this.detectOnce(image, filePath, mediaType, attempt, signal, permit, waitMs);
    } catch (error) {
      permit.release(breakerOutcome(error));
      throw error;
    } finally {
      release?.();
    }
  }

  /**
   * One `POST /detect` inside the caller's span (profile hsi-current: one span covers several
   * attempts): circuit breaker, AI semaphore, the call; the outcome goes to the breaker.
   */
  async guardedPost(image: Buffer, filePath: string, mediaType: string, span: Span, signal?: AbortSignal): Promise<DetectResponse> {
    const permit = this.breaker.acquire(); // throws CircuitOpenError (event on the active span)
    let release: (() => void) | undefined;
    try {
      release = await this.semaphore.acquire(signal);
      span.setAttribute('circuit_breaker.state', permit.state);
      const result = await this.post(image, filePath, mediaType, signal, span);
      permit.release('success');
      return result;
    } catch (error) {
      permit.release(breakerOutcome(error));
      throw error;
    } finally {
      release?.();
    }
  }

  /** The request span's fixed attributes. */
  requestAttributes(): Record<string, string | number> {
    const url = this.detectUrl;
    return {
      'ai.model.name': MODEL_NAME,
      [ATTR_HTTP_REQUEST_METHOD]: 'POST',
      [ATTR_SERVER_ADDRESS]: url.hostname,
      [ATTR_SERVER_PORT]: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
      [ATTR_URL_FULL]: url.href,
    };
  }

  /** One `POST /detect` in its own CLIENT span; reports the outcome to the permit inside the span. */
  async detectOnce(
    image: Buffer,
    filePath: string,
    mediaType: string,
    attempt: number,
    signal?: AbortSignal,
    permit?: CircuitPermit,
    semaphoreWaitMs = 0,
  ): Promise<DetectResponse> {
    const url = this.detectUrl;
    const attributes = {
      retry_attempt: attempt,
      'ai.model.name': MODEL_NAME,
      [ATTR_HTTP_REQUEST_METHOD]: 'POST',
      [ATTR_SERVER_ADDRESS]: url.hostname,
      [ATTR_SERVER_PORT]: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
      [ATTR_URL_FULL]: url.href,
      'ai.inference.image_bytes': image.length,
      'ai.semaphore.wait_ms': Math.round(semaphoreWaitMs * 10) / 10,
      'circuit_breaker.state': permit?.state ?? this.breaker.state,
    };
    return inSpan(this.tracer, SPAN_DETECTION_REQUEST, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      try {
        const result = await this.post(image, filePath, mediaType, signal, span);
        // Inside the span: a state change (closed after a half-open trial) is an event of this span.
        permit?.release('success');
        return result;
      } catch (error) {
        permit?.release(breakerOutcome(error));
        throw error;
      }
    });
  }

  /** The stale-baggage defect: a header "cached for speed" on the first call, sent with every later one. */
  private withStaleBaggage(headers: Record<string, string>): Record<string, string> {
    if (!this.defects.staleBaggage) {
      this.cachedBaggage = undefined;
      return headers;
    }
    this.cachedBaggage ??= headers['baggage'];
    if (this.cachedBaggage !== undefined) headers['baggage'] = this.cachedBaggage;
    return headers;
  }

  private async post(image: Buffer, filePath: string, mediaType: string, signal: AbortSignal | undefined, span: Span): Promise<DetectResponse> {
    const url = this.detectUrl;
    const boundary = `----hsi-chaos-${randomBytes(12).toString('hex')}`;
    const filename = basename(filePath).replace(/["\r\n]/g, '_');
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${mediaType}\r\n\r\n`),
      image,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const headers = this.withStaleBaggage(injectHeaders({ 'content-type': `multipart/form-data; boundary=${boundary}`, accept: 'application/json' }));
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, { method: 'POST', headers, body, dispatcher: this.agent, signal });
    } catch (error) {
      if (signal?.aborted) throw new AbortedError('detection aborted');
      throw classifyTransportError(error);
    }
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
    let text: string;
    try {
      text = await res.body.text();
    } catch (error) {
      if (signal?.aborted) throw new AbortedError('detection aborted');
      throw classifyTransportError(error);
    }
    if (res.statusCode >= 400) {
      const retryable = res.statusCode >= 500 || RETRYABLE_STATUS.has(res.statusCode);
      throw new DetectorError(`detector answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`, `http_${res.statusCode}`, retryable, res.statusCode);
    }
    let parsed: DetectResponse;
    try {
      parsed = detectResponseSchema.parse(JSON.parse(text));
    } catch (error) {
      throw new DetectorError(`malformed detector answer: ${(error as Error).message.slice(0, 200)}`, 'malformed_response', false, res.statusCode);
    }
    if (parsed.inference_time_ms !== undefined) span.setAttribute('ai.inference.time_ms', parsed.inference_time_ms);
    span.setAttribute('ai.inference.detections', parsed.detections.length);
    this.noteCompletion();
    return parsed;
  }

  private noteCompletion(): void {
    const now = Date.now();
    this.completions.push(now);
    while (this.completions.length > 0 && (this.completions[0] ?? now) < now - 60_000) this.completions.shift();
    if (this.completions.length > 100_000) this.completions.splice(0, this.completions.length - 100_000);
  }

  /** Successful inferences per second over the last windowMs (default 10 s). */
  inferenceRate(windowMs = 10_000): number {
    const since = Date.now() - windowMs;
    let count = 0;
    for (let i = this.completions.length - 1; i >= 0 && (this.completions[i] ?? 0) >= since; i--) count++;
    return Math.round((count / (windowMs / 1000)) * 100) / 100;
  }

  /** GET <path> of the detector (default /health), bounded; never throws. */
  health(timeoutMs: number, path = '/health'): Promise<ProbeResult> {
    return probeJson(`${this.settings.yolo26Url}${path}`, this.agent, timeoutMs);
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}
