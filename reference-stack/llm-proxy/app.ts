import { SpanKind, type Tracer } from '@opentelemetry/api';
import { Agent, request } from 'undici';
import { json, readBody, route, type JsonResponse, type Route, type RouteRequest, createTracedServer, type TracedServer } from '../common/http.ts';
import type { Logger } from '../common/log.ts';
import { inSpan } from '../telemetry/tracing.ts';

/**
 * The instrumentation wrapper of the real LLM: llama.cpp's server emits no spans (the real
 * HSI's AI services are not instrumented either), so this thin reverse proxy in front of it
 * gives the LLM slot the same spans as the emulator: SERVER "POST /completion" (continuing the
 * caller's traceparent and baggage) > INTERNAL "llm_generate" with llama.cpp's timings. Bodies
 * pass through unchanged.
 */

export const DEFAULT_SERVICE_NAME = 'ai-llm';
export const SPAN_GENERATE = 'llm_generate';

export interface LlmProxyOptions {
  upstream: URL;
  tracer: Tracer;
  log: Logger;
  maxBodyBytes: number;
  timeoutMs: number;
}

interface Timings {
  prompt_n?: unknown;
  prompt_ms?: unknown;
  predicted_n?: unknown;
  predicted_ms?: unknown;
  predicted_per_second?: unknown;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Span attributes from an answer's llama.cpp timings (none when it has none). */
export function generateAttributes(body: string): Record<string, number> {
  let timings: Timings | undefined;
  try {
    timings = (JSON.parse(body) as { timings?: Timings }).timings;
  } catch {
    return {};
  }
  const out: Record<string, number> = {};
  const put = (k: string, v: unknown) => {
    const n = num(v);
    if (n !== undefined) out[k] = Math.round(n * 10) / 10;
  };
  put('ai.llm.timings.prompt_tokens', timings?.prompt_n);
  put('ai.llm.timings.prompt_ms', timings?.prompt_ms);
  put('ai.llm.timings.generated_tokens', timings?.predicted_n);
  put('ai.llm.timings.generation_ms', timings?.predicted_ms);
  put('ai.llm.timings.tokens_per_second', timings?.predicted_per_second);
  const p = num(timings?.prompt_ms);
  const g = num(timings?.predicted_ms);
  if (p !== undefined || g !== undefined) out['ai.inference.time_ms'] = Math.round(((p ?? 0) + (g ?? 0)) * 10) / 10;
  return out;
}

export class LlmProxy {
  readonly server: TracedServer;
  private readonly o: LlmProxyOptions;
  private readonly agent: Agent;

  constructor(options: LlmProxyOptions) {
    this.o = options;
    this.agent = new Agent({ headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs, keepAliveTimeout: 10_000 });
    const forward = (template: string, generate: boolean): Route['handler'] => (r) => this.forward(r, template, generate);
    this.server = createTracedServer({
      tracer: options.tracer,
      log: options.log,
      spanAttributes: { 'ai.emulated': false, 'ai.engine': 'llama.cpp' },
      routes: [
        route('POST', '/completion', forward('/completion', true)),
        route('POST', '/v1/chat/completions', forward('/v1/chat/completions', true)),
        route('POST', '/v1/completions', forward('/v1/completions', true)),
        route('GET', '/health', forward('/health', false)),
        route('GET', '/slots', forward('/slots', false)),
        route('GET', '/props', forward('/props', false)),
      ],
    });
  }

  private async forward({ req }: RouteRequest, path: string, generate: boolean): Promise<JsonResponse> {
    const body = req.method === 'POST' ? await readBody(req, this.o.maxBodyBytes) : undefined;
    const call = async (): Promise<JsonResponse> => {
      const res = await request(new URL(path, this.o.upstream), {
        method: req.method === 'POST' ? 'POST' : 'GET',
        headers: { 'content-type': 'application/json' },
        ...(body !== undefined ? { body } : {}),
        dispatcher: this.agent,
      });
      const text = await res.body.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { error: 'upstream_not_json', detail: text.slice(0, 500) };
      }
      return { status: res.statusCode, body: parsed, ...(generate ? { headers: {} } : {}) };
    };
    if (!generate) return call();
    return inSpan(this.o.tracer, SPAN_GENERATE, { kind: SpanKind.INTERNAL, attributes: { 'ai.emulated': false, 'ai.engine': 'llama.cpp' } }, async (span) => {
      const answer = await call();
      span.setAttributes(generateAttributes(JSON.stringify(answer.body)));
      return json(answer.status, answer.body);
    });
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}
