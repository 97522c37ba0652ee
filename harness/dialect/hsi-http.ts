import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { HSI_API_KEY_HEADER } from '../contract/dialects.ts';
import { RateLimitLedger } from './rate-limit.ts';

export { RateLimitLedger, rateLimitLine, type RateLimitStats } from './rate-limit.ts';

/**
 * The harness's own requests to an HSI backend (queue status, health, GPU, settings, events),
 * in one client: the API key header on every request when a key is configured, and 429s
 * (the real HSI limits each client to 60 requests/min + burst 10) answered by waiting as
 * `Retry-After` says, bounded, then retrying a bounded number of times. Every 429 is counted
 * in a `RateLimitLedger` the run reports (summary.json `rateLimit`, one report line).
 */

/**
 * Milliseconds a `Retry-After` value asks for: delta-seconds or an HTTP date (RFC 9110 10.2.3).
 * Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  const text = raw.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export interface HsiHttpOptions {
  /** Sent as `apiKeyHeader` on every request when set. */
  apiKey?: string | undefined;
  /** Default `X-API-Key`. */
  apiKeyHeader?: string;
  /** Shared 429 counter; default one of its own. */
  ledger?: RateLimitLedger;
  /** Retries of one request after 429s; default 3. */
  maxRetries?: number;
  /** Longest wait before one retry (a longer Retry-After is cut to it); default 10 000 ms. */
  maxWaitMs?: number;
  /** Wait after a 429 without Retry-After: this, doubled per retry (capped by maxWaitMs); default 1000 ms. */
  fallbackWaitMs?: number;
  /** For tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface HsiRequest {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  body?: string;
  headers?: Record<string, string>;
  /** Per attempt; default 5000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface HsiResponse {
  status: number;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

export class HsiHttpClient {
  readonly ledger: RateLimitLedger;
  private readonly apiKey: string | undefined;
  private readonly apiKeyHeader: string;
  private readonly maxRetries: number;
  private readonly maxWaitMs: number;
  private readonly fallbackWaitMs: number;
  private readonly wait: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: HsiHttpOptions = {}) {
    this.apiKey = options.apiKey === '' ? undefined : options.apiKey;
    this.apiKeyHeader = options.apiKeyHeader ?? HSI_API_KEY_HEADER;
    this.ledger = options.ledger ?? new RateLimitLedger();
    this.maxRetries = Math.max(0, options.maxRetries ?? 3);
    this.maxWaitMs = Math.max(0, options.maxWaitMs ?? 10_000);
    this.fallbackWaitMs = Math.max(0, options.fallbackWaitMs ?? 1_000);
    this.wait = options.sleep ?? (async (ms, signal) => void (await sleep(ms, undefined, signal ? { signal } : {})));
  }

  /** The configured API key, for callers that must put it elsewhere than a header (WebSocket URLs, k6's environment). */
  get key(): string | undefined {
    return this.apiKey;
  }

  /** The headers every request carries (the API key when configured), for callers with their own HTTP code. */
  authHeaders(): Record<string, string> {
    return this.apiKey === undefined ? {} : { [this.apiKeyHeader]: this.apiKey };
  }

  /** Sends, waiting out 429s; the last answer is returned whatever its status. Network errors throw. */
  async send(url: URL, init: HsiRequest = {}): Promise<HsiResponse> {
    const timeoutMs = init.timeoutMs ?? 5_000;
    for (let attempt = 0; ; attempt += 1) {
      const res = await request(url, {
        method: init.method ?? 'GET',
        headers: { ...(init.headers ?? {}), ...this.authHeaders() },
        ...(init.body !== undefined ? { body: init.body } : {}),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        ...(init.signal ? { signal: init.signal } : {}),
      });
      const text = await res.body.text();
      const answer: HsiResponse = { status: res.statusCode, text, headers: res.headers };
      if (res.statusCode !== 429) return answer;
      this.ledger.record429(url.pathname);
      if (attempt >= this.maxRetries) {
        this.ledger.recordGaveUp();
        return answer;
      }
      const asked = parseRetryAfter(res.headers['retry-after']);
      const waitMs = Math.min(this.maxWaitMs, asked ?? this.fallbackWaitMs * 2 ** attempt);
      await this.wait(waitMs, init.signal);
      this.ledger.recordRetry(waitMs);
    }
  }

  /** GET a JSON answer: `{status, body}`; body undefined when the answer is not JSON. */
  async getJson(url: URL, timeoutMs = 5_000, signal?: AbortSignal): Promise<{ status: number; body: unknown }> {
    const res = await this.send(url, { timeoutMs, ...(signal ? { signal } : {}) });
    try {
      return { status: res.status, body: JSON.parse(res.text) as unknown };
    } catch {
      return { status: res.status, body: undefined };
    }
  }
}
