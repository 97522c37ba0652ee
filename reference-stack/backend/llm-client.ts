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
import { HSI_CURRENT } from '../../harness/contract/profiles.ts';
import { retryDelayMs } from './retry.ts';
import type { Semaphore } from './semaphore.ts';
import type { BackendSettings } from './settings.ts';
import { AiCallError, AiUnavailableError, transportError } from './ai-errors.ts';
import { probeJson, type ProbeResult } from './http-probe.ts';

/**
 * Client of the Nemotron LLM behind llama.cpp's server (`POST {NEMOTRON_URL}/completion`), as
 * HSI's analyzer: connect timeout AI_CONNECT_TIMEOUT, read timeout NEMOTRON_READ_TIMEOUT,
 * NEMOTRON_MAX_RETRIES attempts in total on transient failures (connection errors, timeouts,
 * 5xx, 408, 429, and answers whose content holds no valid risk JSON) with backoff 2^attempt s
 * capped at 30 s (±10 % jitter). Every attempt is a CLIENT span `llm_inference` that carries
 * traceparent and baggage (HSI_DEFECT_LLM_CLIENT_DROPS_BAGGAGE: traceparent only).
 */

export const LLM_MODEL_NAME = 'nemotron';
export const SPAN_LLM_INFERENCE = 'llm_inference';

/** The contract's request body (llama.cpp /completion). */
export const COMPLETION_PARAMETERS = {
  temperature: 0.7,
  top_p: 0.95,
  max_tokens: 1536,
  stop: ['<|im_end|>', '<|im_start|>'],
} as const;

/**
 * The risk JSON as a JSON Schema for llama.cpp's grammar-constrained decoding (`json_schema` of
 * /completion): any model, even one with random weights, can only produce a valid assessment.
 * Strings are limited by `pattern` so that the grammar keeps them short, printable text.
 */
export const RISK_JSON_SCHEMA = {
  type: 'object',
  properties: {
    risk_score: { type: 'integer', minimum: 0, maximum: 100 },
    risk_level: { enum: ['low', 'medium', 'high', 'critical'] },
    summary: { type: 'string', pattern: '^[A-Za-z][A-Za-z ,.]{7,79}$' },
    reasoning: { type: 'string', pattern: '^[A-Za-z][A-Za-z ,.]{7,159}$' },
  },
  required: ['risk_score', 'risk_level', 'summary', 'reasoning'],
  additionalProperties: false,
} as const;

const optionalNumber = z.number().optional();

/** llama.cpp's `timings` of one completion (the emulator sends the same fields). */
export const completionTimingsSchema = z
  .object({
    prompt_n: optionalNumber,
    prompt_ms: optionalNumber,
    prompt_per_second: optionalNumber,
    predicted_n: optionalNumber,
    predicted_ms: optionalNumber,
    predicted_per_second: optionalNumber,
    cache_n: optionalNumber,
  })
  .loose();
export type CompletionTimings = z.infer<typeof completionTimingsSchema>;

/** llama.cpp's /completion answer; only `content` is required. */
export const completionResponseSchema = z
  .object({
    content: z.string(),
    model: z.string().optional(),
    tokens_predicted: z.number().optional(),
    tokens_evaluated: z.number().optional(),
    timings: completionTimingsSchema.optional(),
    usage: z.object({ prompt_tokens: z.number().optional(), completion_tokens: z.number().optional() }).loose().optional(),
  })
  .loose();
export type CompletionResponse = z.infer<typeof completionResponseSchema>;

export class LlmError extends AiCallError {
  override name = 'LlmError';
}

/** All attempts failed: the analysis falls back to the default risk. */
export class LlmUnavailableError extends AiUnavailableError<LlmError> {
  override name = 'LlmUnavailableError';
  constructor(attempts: number, last: LlmError) {
    super('LLM', attempts, last);
  }
}

function classify(error: unknown): LlmError {
  return transportError(error, LlmError);
}

export interface CompletionOutcome<T> {
  value: T;
  content: string;
  attempts: number;
  response: CompletionResponse;
}

export interface LlmClientOptions {
  settings: Pick<BackendSettings, 'nemotronUrl' | 'aiConnectTimeoutMs' | 'nemotronReadTimeoutMs' | 'nemotronMaxRetries'>;
  tracer: Tracer;
  semaphore: Semaphore;
  /** HSI_DEFECT_LLM_CLIENT_DROPS_BAGGAGE */
  dropBaggage?: boolean;
  /** HSI_DEFECT_LLM_CLIENT_NO_TRACE_CONTEXT: no traceparent, tracestate or baggage at all */
  dropTraceContext?: boolean;
  /** HSI_DEFECT_RETRY_WITHOUT_BACKOFF */
  retryWithoutBackoff?: boolean;
  /** Profile hsi-current: 4xx answers (408 and 429 included) are not retried. */
  noRetryOn4xx?: boolean;
  /** `completions`: readiness is `POST /v1/completions` (the real HSI); default `GET /health`. */
  readinessProbe?: 'health' | 'completions';
  /** Profile hsi-current: one `llm_inference` span covers every attempt (`llm_attempts`, `input_tokens`, `pipeline_stage`). */
  oneSpanForAllAttempts?: boolean;
}

export class LlmClient {
  private readonly o: LlmClientOptions;
  private readonly agent: Agent;
  private readonly url: URL;

  constructor(options: LlmClientOptions) {
    this.o = options;
    this.url = new URL(`${options.settings.nemotronUrl}/completion`);
    this.agent = new Agent({
      connect: { timeout: options.settings.aiConnectTimeoutMs },
      headersTimeout: options.settings.nemotronReadTimeoutMs,
      bodyTimeout: options.settings.nemotronReadTimeoutMs,
      keepAliveTimeout: 10_000,
    });
  }

  /**
   * Completion with retries; `interpret` turns the content into a value (throwing makes the
   * attempt a retryable `invalid_response`). Throws LlmUnavailableError, or AbortedError.
   */
  async complete<T>(prompt: string, interpret: (content: string) => T, signal?: AbortSignal): Promise<CompletionOutcome<T>> {
    if (!this.o.oneSpanForAllAttempts) return this.retrying(prompt, interpret, signal);
    const attributes = { ...this.spanAttributes(prompt), pipeline_stage: 'analysis', input_tokens: Math.ceil(prompt.length / 4) };
    return inSpan(this.o.tracer, SPAN_LLM_INFERENCE, { kind: SpanKind.CLIENT, attributes }, (span) => this.retrying(prompt, interpret, signal, span));
  }

  /** The retry loop; with `span` (one span for all attempts) each attempt records into it. */
  private async retrying<T>(prompt: string, interpret: (content: string) => T, signal: AbortSignal | undefined, span?: Span): Promise<CompletionOutcome<T>> {
    const maxAttempts = this.o.settings.nemotronMaxRetries;
    for (let attempt = 0; ; attempt++) {
      span?.setAttributes({ llm_attempts: attempt + 1, retry_attempt: attempt });
      try {
        const { response, value } = await this.attempt(prompt, attempt, interpret, signal, span);
        return { value, content: response.content, attempts: attempt + 1, response };
      } catch (error) {
        if (signal?.aborted || error instanceof AbortedError) throw new AbortedError('LLM call aborted');
        const failure = classify(error);
        if (!failure.retryable || attempt + 1 >= maxAttempts) throw new LlmUnavailableError(attempt + 1, failure);
        const delay = retryDelayMs(attempt + 1, this.o.retryWithoutBackoff ?? false);
        trace.getActiveSpan()?.addEvent('retry_scheduled', { retry_attempt: attempt + 1, 'retry.delay_ms': delay, 'error.type': failure.code });
        await sleep(delay, signal);
      }
    }
  }

  private spanAttributes(prompt: string): Record<string, string | number> {
    const url = this.url;
    return {
      'ai.model.name': LLM_MODEL_NAME,
      [ATTR_HTTP_REQUEST_METHOD]: 'POST',
      [ATTR_SERVER_ADDRESS]: url.hostname,
      [ATTR_SERVER_PORT]: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
      [ATTR_URL_FULL]: url.href,
      'ai.llm.prompt_chars': prompt.length,
      'ai.llm.max_tokens': COMPLETION_PARAMETERS.max_tokens,
    };
  }

  /** One attempt: the AI semaphore, then the call, in its own span unless the caller's `outer` span covers every attempt. */
  private async attempt<T>(prompt: string, attempt: number, interpret: (content: string) => T, signal?: AbortSignal, outer?: Span): Promise<{ response: CompletionResponse; value: T }> {
    const waitStarted = performance.now();
    const release = await this.o.semaphore.acquire(signal);
    const waitMs = Math.round((performance.now() - waitStarted) * 10) / 10;
    try {
      if (outer !== undefined) {
        outer.setAttribute('ai.semaphore.wait_ms', waitMs);
        return await this.post(prompt, interpret, outer, signal);
      }
      const attributes = { ...this.spanAttributes(prompt), retry_attempt: attempt, 'ai.semaphore.wait_ms': waitMs };
      return await inSpan(this.o.tracer, SPAN_LLM_INFERENCE, { kind: SpanKind.CLIENT, attributes }, (span) => this.post(prompt, interpret, span, signal));
    } finally {
      release();
    }
  }

  /** The request headers: traceparent (+ tracestate) and, unless the defect is on, baggage. */
  headers(): Record<string, string> {
    const headers = injectHeaders({ 'content-type': 'application/json', accept: 'application/json' });
    if (this.o.dropBaggage || this.o.dropTraceContext) delete headers['baggage'];
    if (this.o.dropTraceContext) {
      delete headers['traceparent'];
      delete headers['tracestate'];
    }
    return headers;
  }

  private async post<T>(prompt: string, interpret: (content: string) => T, span: Span, signal?: AbortSignal): Promise<{ response: CompletionResponse; value: T }> {
    // llama.cpp reads max_tokens as n_predict; json_schema makes it decode under a grammar.
    const body = JSON.stringify({ prompt, ...COMPLETION_PARAMETERS, json_schema: RISK_JSON_SCHEMA });
    let res: Awaited<ReturnType<typeof request>>;
    let text: string;
    try {
      res = await request(this.url, { method: 'POST', headers: this.headers(), body, dispatcher: this.agent, signal });
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
      text = await res.body.text();
    } catch (error) {
      if (signal?.aborted) throw new AbortedError('LLM call aborted');
      throw classify(error);
    }
    if (res.statusCode >= 400) {
      // Profile hsi-current: the real analyzer does not retry any 4xx (429 included).
      const retryable = res.statusCode >= 500 || (!this.o.noRetryOn4xx && (res.statusCode === 408 || res.statusCode === 429));
      throw new LlmError(`LLM answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`, `http_${res.statusCode}`, retryable, res.statusCode);
    }
    let response: CompletionResponse;
    try {
      response = completionResponseSchema.parse(JSON.parse(text));
    } catch (error) {
      throw new LlmError(`malformed LLM answer: ${(error as Error).message.slice(0, 200)}`, 'malformed_response', false, res.statusCode);
    }
    const promptTokens = response.tokens_evaluated ?? response.usage?.prompt_tokens ?? response.timings?.prompt_n;
    const completionTokens = response.tokens_predicted ?? response.usage?.completion_tokens ?? response.timings?.predicted_n;
    if (promptTokens !== undefined) span.setAttribute('ai.llm.prompt_tokens', promptTokens);
    if (completionTokens !== undefined) span.setAttribute('ai.llm.completion_tokens', completionTokens);
    if (response.model !== undefined) span.setAttribute('ai.llm.response_model', response.model);
    span.setAttributes(timingAttributes(response.timings));
    try {
      return { response, value: interpret(response.content) };
    } catch (error) {
      throw new LlmError((error as Error).message, 'invalid_response', true, res.statusCode, { cause: error });
    }
  }

  /** GET /health of the llama.cpp server (profile hsi-current: the real readiness probe, POST /v1/completions), bounded; never throws. */
  health(timeoutMs: number): Promise<ProbeResult> {
    if (this.o.readinessProbe === 'completions') {
      return probeJson(`${this.o.settings.nemotronUrl}${HSI_CURRENT.llmProbePath}`, this.agent, timeoutMs, { prompt: 'ping', max_tokens: 1, temperature: 0 });
    }
    return probeJson(`${this.o.settings.nemotronUrl}/health`, this.agent, timeoutMs);
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/**
 * Span attributes from llama.cpp's `timings`: prompt and generated tokens, prompt time, generation
 * time and tokens/s, and their sum as `ai.inference.time_ms`. Missing or non-finite fields are left out.
 */
export function timingAttributes(t: CompletionTimings | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (t === undefined) return out;
  const put = (key: string, value: number | undefined) => {
    if (value !== undefined && Number.isFinite(value)) out[key] = value;
  };
  put('ai.llm.timings.prompt_tokens', t.prompt_n);
  put('ai.llm.timings.prompt_ms', t.prompt_ms === undefined ? undefined : round1(t.prompt_ms));
  put('ai.llm.timings.cached_tokens', t.cache_n);
  put('ai.llm.timings.generated_tokens', t.predicted_n);
  put('ai.llm.timings.generation_ms', t.predicted_ms === undefined ? undefined : round1(t.predicted_ms));
  const tps = t.predicted_per_second ?? (t.predicted_n !== undefined && t.predicted_ms !== undefined && t.predicted_ms > 0 ? (t.predicted_n * 1000) / t.predicted_ms : undefined);
  put('ai.llm.timings.tokens_per_second', tps === undefined ? undefined : round1(tps));
  if (t.prompt_ms !== undefined || t.predicted_ms !== undefined) out['ai.inference.time_ms'] = round1((t.prompt_ms ?? 0) + (t.predicted_ms ?? 0));
  return out;
}
