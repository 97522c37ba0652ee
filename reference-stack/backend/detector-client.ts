import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { SpanKind, type Tracer } from '@opentelemetry/api';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
} from '@opentelemetry/semantic-conventions';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { AbortedError, backoffDelayMs, sleep } from '../common/timing.ts';
import { inSpan, injectHeaders } from '../telemetry/tracing.ts';
import type { BackendSettings } from './settings.ts';

/**
 * Client of the YOLO26 detector (`POST /detect`), as HSI's DetectorClient: connect and read
 * timeouts from the settings, DETECTOR_MAX_RETRIES attempts in total on transient failures
 * (connection errors, timeouts, 5xx, 408, 429) with exponential backoff 1 s, 2 s, 4 s ... capped
 * at 30 s and ±10 % jitter. Other 4xx and malformed answers are not retried.
 * Every attempt is its own CLIENT span `yolo26_detection_request` that carries traceparent/baggage.
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

export class DetectorError extends Error {
  override name = 'DetectorError';
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly code: string;
  constructor(message: string, code: string, retryable: boolean, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.retryable = retryable;
    this.status = status;
  }
}

/** All attempts failed (or a non-retryable failure): carries the attempt count for the DLQ entry. */
export class DetectorUnavailableError extends Error {
  override name = 'DetectorUnavailableError';
  readonly attempts: number;
  readonly last: DetectorError;
  constructor(attempts: number, last: DetectorError) {
    super(`detector failed after ${attempts} attempt(s): ${last.message}`, { cause: last });
    this.attempts = attempts;
    this.last = last;
  }
}

const RETRYABLE_STATUS = new Set([408, 429]);
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

function classifyTransportError(error: unknown): DetectorError {
  if (error instanceof DetectorError) return error;
  const err = error instanceof Error ? error : new Error(String(error));
  const code = (err as { code?: unknown }).code;
  const codeText = typeof code === 'string' ? code : err.name;
  // Network failures and timeouts are transient by nature; anything unknown is treated the same.
  const retryable = RETRYABLE_CODES.has(codeText) || !(err instanceof TypeError);
  return new DetectorError(`${codeText}: ${err.message}`, codeText, retryable, undefined, { cause: err });
}

export interface DetectOutcome {
  response: DetectResponse;
  attempts: number;
}

export class DetectorClient {
  private readonly settings: BackendSettings;
  private readonly tracer: Tracer;
  private readonly agent: Agent;
  private readonly detectUrl: URL;

  constructor(settings: BackendSettings, tracer: Tracer) {
    this.settings = settings;
    this.tracer = tracer;
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
        const response = await this.detectOnce(image, filePath, mediaType, attempt, signal);
        return { response, attempts: attempt + 1 };
      } catch (error) {
        if (signal?.aborted) throw new AbortedError('detection aborted');
        const failure = classifyTransportError(error);
        if (!failure.retryable || attempt + 1 >= maxAttempts) throw new DetectorUnavailableError(attempt + 1, failure);
        await sleep(backoffDelayMs(attempt + 1, { baseMs: 1000, capMs: 30_000, jitter: 0.1 }), signal);
      }
    }
  }

  /** One `POST /detect` in its own CLIENT span. */
  async detectOnce(image: Buffer, filePath: string, mediaType: string, attempt: number, signal?: AbortSignal): Promise<DetectResponse> {
    const url = this.detectUrl;
    const attributes = {
      retry_attempt: attempt,
      'ai.model.name': MODEL_NAME,
      [ATTR_HTTP_REQUEST_METHOD]: 'POST',
      [ATTR_SERVER_ADDRESS]: url.hostname,
      [ATTR_SERVER_PORT]: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
      [ATTR_URL_FULL]: url.href,
      'ai.inference.image_bytes': image.length,
    };
    return inSpan(this.tracer, SPAN_DETECTION_REQUEST, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      const boundary = `----hsi-chaos-${randomBytes(12).toString('hex')}`;
      const filename = basename(filePath).replace(/["\r\n]/g, '_');
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${mediaType}\r\n\r\n`),
        image,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      const headers = injectHeaders({ 'content-type': `multipart/form-data; boundary=${boundary}`, accept: 'application/json' });
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(url, { method: 'POST', headers, body, dispatcher: this.agent, signal });
      } catch (error) {
        throw classifyTransportError(error);
      }
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
      let text: string;
      try {
        text = await res.body.text();
      } catch (error) {
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
      return parsed;
    });
  }

  /** GET /health of the detector, bounded; never throws. */
  async health(timeoutMs: number): Promise<{ ok: boolean; status?: number; body?: unknown; error?: string }> {
    try {
      const res = await request(new URL(`${this.settings.yolo26Url}/health`), {
        method: 'GET',
        dispatcher: this.agent,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.body.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // keep the text
      }
      return { ok: res.statusCode === 200, status: res.statusCode, body };
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}
