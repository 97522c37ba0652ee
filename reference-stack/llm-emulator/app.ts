import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { context, propagation, SpanKind, type Attributes, type Tracer } from '@opentelemetry/api';
import { z } from 'zod';
import { FaultInjector, faultSettingsJson } from '../common/fault-knobs.ts';
import { createTracedServer, HttpError, json, parseJsonBody, readBody, type JsonResponse, type RouteRequest, type TracedServer } from '../common/http.ts';
import type { Logger } from '../common/log.ts';
import { AbortedError, sleep } from '../common/timing.ts';
import { baggageAttributes, inSpan } from '../telemetry/tracing.ts';
import { createRng } from '../detector-emulator/emulation.ts';
import {
  analyticCapacityRps,
  emulateAnalysis,
  estimateTokens,
  generationTimeMs,
  LlmSlots,
  QueueFullError,
  renderChatPrompt,
  sampleCompletionTokens,
  vramUsedGb,
  type GenerationTime,
  type RiskAnalysis,
} from './emulation.ts';
import { LLM_FAULTABLE_ROUTES, type LlmSettings } from './settings.ts';

/**
 * The Nemotron / llama.cpp emulator's HTTP application, apart from process concerns (settings,
 * tracing set-up, signals) so that tests can run it on an ephemeral port.
 */

export const DEFAULT_SERVICE_NAME = 'ai-llm-emulator';
export const SPAN_GENERATE = 'llm_generate';
/** llama.cpp reports the default seed (-1) as this unsigned value. */
const DEFAULT_SEED = 4294967295;
const EMULATED_HEADERS = { 'x-emulated': 'true' } as const;
const MAX_BAGGAGE_ATTRIBUTES = 32;
const MAX_BAGGAGE_VALUE = 256;

// ---------------------------------------------------------------------------------------------
// llama.cpp error bodies
// ---------------------------------------------------------------------------------------------

const ERROR_TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  501: 'not_supported_error',
  503: 'unavailable_error',
};

/** llama.cpp's error `type` for a status: its own names, `server_error` for other 5xx. */
export function llamaErrorType(status: number): string {
  return ERROR_TYPES[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
}

/** llama.cpp's error body: `{error: {code, message, type}}`. */
export function llamaErrorBody(status: number, message: string, type: string = llamaErrorType(status), extra: Record<string, unknown> = {}): unknown {
  return { error: { code: status, message, type, ...extra } };
}

class LlamaError extends Error {
  override name = 'LlamaError';
  readonly status: number;
  readonly type: string;
  readonly extra: Record<string, unknown>;
  constructor(status: number, message: string, type: string = llamaErrorType(status), extra: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.extra = extra;
  }
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

const stopSchema = z.union([z.string(), z.array(z.string())], { error: 'expected a string or an array of strings' }).optional();
const tokenLimit = z.number({ error: 'expected an integer (-1 = no limit)' }).int('expected an integer (-1 = no limit)').min(-1, 'expected -1 or more');

const CompletionSchema = z.looseObject({
  prompt: z.string({ error: 'expected a string (token arrays and multiple prompts are not emulated)' }),
  temperature: z.number({ error: 'expected a number' }).optional(),
  top_p: z.number({ error: 'expected a number' }).optional(),
  n_predict: tokenLimit.optional(),
  max_tokens: tokenLimit.optional(),
  stop: stopSchema,
  stream: z.boolean({ error: 'expected a boolean' }).optional(),
  seed: z.number({ error: 'expected an integer' }).int('expected an integer').optional(),
});

const ContentPartSchema = z.looseObject({ type: z.string({ error: 'expected a string' }), text: z.string().optional() });

const ChatSchema = z.looseObject({
  messages: z
    .array(
      z.looseObject({
        role: z.string({ error: 'expected a string' }),
        content: z.union([z.string(), z.array(ContentPartSchema), z.null()], { error: 'expected a string or an array of content parts' }),
      }),
      { error: 'expected an array of messages' },
    )
    .min(1, 'expected at least one message'),
  model: z.string().optional(),
  temperature: z.number({ error: 'expected a number' }).optional(),
  top_p: z.number({ error: 'expected a number' }).optional(),
  max_tokens: tokenLimit.optional(),
  max_completion_tokens: tokenLimit.optional(),
  n_predict: tokenLimit.optional(),
  stop: stopSchema,
  stream: z.boolean({ error: 'expected a boolean' }).optional(),
  seed: z.number({ error: 'expected an integer' }).int('expected an integer').optional(),
});

function fieldOf(path: readonly PropertyKey[]): string {
  let field = '';
  for (const part of path) field += typeof part === 'number' ? `[${part}]` : `${field === '' ? '' : '.'}${String(part)}`;
  return field === '' ? 'body' : field;
}

function parseRequest<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new LlamaError(400, 'the body must be a JSON object');
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LlamaError(400, issue === undefined ? 'invalid request' : `${fieldOf(issue.path)}: ${issue.message}`);
  }
  return parsed.data;
}

function stopList(stop: string | string[] | undefined): string[] {
  if (stop === undefined) return [];
  return typeof stop === 'string' ? [stop] : stop;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** An AbortSignal that fires when the client's connection closes (llama.cpp cancels such tasks). */
function clientGone(req: IncomingMessage): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const socket = req.socket;
  const onClose = (): void => controller.abort();
  if (socket.destroyed) controller.abort();
  else socket.once('close', onClose);
  return { signal: controller.signal, dispose: () => socket.off('close', onClose) };
}

/**
 * Every baggage entry of the active context as `baggage.<key>` (the harness checks that
 * baggage reaches the LLM), plus the contract keys under their own names as elsewhere.
 */
export function requestBaggageAttributes(): Attributes {
  const attributes: Attributes = { ...baggageAttributes() };
  const entries = propagation.getBaggage(context.active())?.getAllEntries() ?? [];
  for (const [key, entry] of entries.slice(0, MAX_BAGGAGE_ATTRIBUTES)) attributes[`baggage.${key}`] = entry.value.slice(0, MAX_BAGGAGE_VALUE);
  return attributes;
}

const r3 = (n: number): number => Math.round(n * 1000) / 1000;
const r1 = (n: number): number => Math.round(n * 10) / 10;

function timingsJson(promptTokens: number, completionTokens: number, t: GenerationTime): Record<string, number> {
  return {
    cache_n: 0,
    prompt_n: promptTokens,
    prompt_ms: r3(t.prefillMs),
    prompt_per_token_ms: r3(t.prefillMs / promptTokens),
    prompt_per_second: t.prefillMs > 0 ? r3(promptTokens / (t.prefillMs / 1000)) : 0,
    predicted_n: completionTokens,
    predicted_ms: r3(t.decodeMs),
    predicted_per_token_ms: completionTokens > 0 ? r3(t.decodeMs / completionTokens) : 0,
    predicted_per_second: t.decodeMs > 0 ? r3(completionTokens / (t.decodeMs / 1000)) : 0,
  };
}

// ---------------------------------------------------------------------------------------------
// The application
// ---------------------------------------------------------------------------------------------

export interface LlmEmulatorOptions {
  settings: LlmSettings;
  tracer: Tracer;
  log: Logger;
  /** Seed of the generated-token draws (EMULATOR_SEED, or a random one the caller logged). */
  seed: string;
}

export interface LlmEmulator {
  server: TracedServer;
  faults: FaultInjector;
  slots: LlmSlots;
  analyticCapacityRps: number;
  vramUsedGb: number;
  /** Milliseconds of emulated warm-up (EMULATOR_LOAD_SECONDS × time scale). */
  loadMs: number;
}

interface GenerationRequest {
  prompt: string;
  /** -1: until EOS or the end of the context. */
  nPredict: number;
  params: Record<string, unknown>;
}

interface GenerationResult {
  content: string;
  analysis: RiskAnalysis;
  promptTokens: number;
  completionTokens: number;
  stopType: 'eos' | 'limit';
  slotId: number;
  timing: GenerationTime;
  nCtx: number;
}

export function createLlmEmulator(options: LlmEmulatorOptions): LlmEmulator {
  const { settings, tracer, log, seed } = options;
  const rng = createRng(seed);
  const slots = new LlmSlots(settings.slots, settings.maxQueue);
  const timingModel = { prefillTokensPerS: settings.prefillTokensPerS, decodeTokensPerS: settings.decodeTokensPerS, timeScale: settings.timeScale };
  const capacity = analyticCapacityRps(settings.slots, settings.typicalPromptTokens, settings.completionTokensMean, timingModel);
  const typicalRequestMs = generationTimeMs(settings.typicalPromptTokens, settings.completionTokensMean, timingModel).totalMs;
  const vram = vramUsedGb(settings.modelSizeGb, settings.kvCacheGbPerSlot, settings.slots);
  const loadMs = settings.loadSeconds * 1000 * settings.timeScale;
  const readyAt = performance.now() + loadMs;
  const loading = (): boolean => performance.now() < readyAt;
  if (loadMs > 0) setTimeout(() => log.info('emulated model loaded', { load_ms: r1(loadMs) }), loadMs).unref();

  let nextTask = 0;
  const stats = {
    requests: 0,
    completed: 0,
    rejectedQueueFull: 0,
    rejectedLoading: 0,
    invalid: 0,
    cancelled: 0,
    totalQueueWaitMs: 0,
    totalTimeMs: 0,
    promptTokens: 0,
    completionTokens: 0,
  };

  const faults = new FaultInjector({
    faultableRoutes: LLM_FAULTABLE_ROUTES,
    errorBody: (status, message) => llamaErrorBody(status, message),
    initial: settings.faults,
    onChange: (s) => log.info(s === undefined ? 'fault knobs cleared' : 'fault knobs set', s === undefined ? undefined : { faults: faultSettingsJson(s) }),
  });

  function errorResponse(error: unknown): JsonResponse {
    if (error instanceof LlamaError) {
      if (error.status === 503 && error.message === 'Loading model') stats.rejectedLoading++;
      else if (error.status < 500) stats.invalid++;
      return json(error.status, llamaErrorBody(error.status, error.message, error.type, error.extra), EMULATED_HEADERS);
    }
    if (error instanceof HttpError) {
      stats.invalid++;
      const headers: Record<string, string> = error.status === 413 ? { ...EMULATED_HEADERS, connection: 'close' } : { ...EMULATED_HEADERS };
      return json(error.status, llamaErrorBody(error.status, error.message), headers);
    }
    if (error instanceof QueueFullError) {
      stats.rejectedQueueFull++;
      return json(503, llamaErrorBody(503, error.message, 'unavailable_error'), EMULATED_HEADERS);
    }
    if (error instanceof AbortedError) {
      // The client is gone; nobody reads this answer (nginx's 499 "client closed request").
      stats.cancelled++;
      return json(499, llamaErrorBody(499, 'the client closed the connection; the task was cancelled', 'server_error'), EMULATED_HEADERS);
    }
    throw error;
  }

  async function readJson(req: IncomingMessage): Promise<unknown> {
    return parseJsonBody(await readBody(req, settings.maxBodyBytes), () => new LlamaError(400, 'the body is not valid JSON'));
  }

  function rejectStreaming(body: unknown): void {
    if (body !== null && typeof body === 'object' && (body as { stream?: unknown }).stream === true) {
      throw new LlamaError(400, 'stream: true is not supported by the LLM emulator; send "stream": false or leave it out');
    }
  }

  async function generate(request: RouteRequest, g: GenerationRequest): Promise<GenerationResult> {
    const nCtx = settings.ctxSize;
    const promptTokens = estimateTokens(g.prompt);
    if (promptTokens >= nCtx) {
      throw new LlamaError(400, `the request exceeds the available context size: ${promptTokens} prompt tokens, n_ctx ${nCtx} per slot (EMULATOR_CTX_SIZE)`, 'exceed_context_size_error', {
        n_prompt_tokens: promptTokens,
        n_ctx: nCtx,
      });
    }
    const room = nCtx - promptTokens;
    const limit = g.nPredict >= 0 ? Math.min(g.nPredict, room) : room;
    // Drawn in arrival order, so the same seed and request order repeat the same lengths.
    const wanted = sampleCompletionTokens(rng, settings.completionTokensMean, settings.completionTokensSigma);
    const completionTokens = Math.min(wanted, limit);
    const stopType = wanted > limit ? 'limit' : 'eos';
    const analysis = emulateAnalysis(g.prompt);
    let content = JSON.stringify(analysis);
    // A generation cut by the limit is cut text: keep what fits in the tokens (≈ 4 characters each).
    if (stopType === 'limit' && content.length > completionTokens * 4) content = content.slice(0, completionTokens * 4);
    const timing = generationTimeMs(promptTokens, completionTokens, timingModel);
    const idTask = nextTask++;
    const baggage = requestBaggageAttributes();
    request.span.setAttributes({ ...baggage, 'ai.model.name': settings.modelName });

    const slotId = await inSpan(
      tracer,
      SPAN_GENERATE,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          ...baggage,
          'ai.emulated': true,
          'ai.model.name': settings.modelName,
          'ai.llm.prompt_tokens': promptTokens,
          'ai.llm.max_tokens': g.nPredict,
          'ai.llm.task_id': idTask,
          'ai.inference.slots': slots.size,
          'ai.inference.queue_depth': slots.queued,
        },
      },
      async (span) => {
        const cancel = clientGone(request.req);
        const queuedAt = performance.now();
        try {
          let id: number;
          try {
            id = await slots.acquire(cancel.signal);
          } catch (error) {
            if (error instanceof QueueFullError) span.setAttribute('ai.llm.rejected', 'queue_full');
            if (error instanceof AbortedError) span.setAttribute('ai.llm.cancelled', true);
            throw error;
          }
          const queueWaitMs = performance.now() - queuedAt;
          span.setAttributes({ 'ai.llm.slot_id': id, 'ai.inference.queue_wait_ms': r1(queueWaitMs) });
          try {
            slots.start(id, {
              idTask,
              params: g.params,
              promptTokens,
              completionTokens,
              nPredict: g.nPredict,
              startedAt: performance.now(),
              prefillMs: timing.prefillMs,
              decodeMs: timing.decodeMs,
            });
            await sleep(timing.totalMs, cancel.signal);
          } catch (error) {
            if (error instanceof AbortedError) span.setAttribute('ai.llm.cancelled', true);
            throw error;
          } finally {
            slots.release(id);
          }
          span.setAttributes({
            'ai.llm.completion_tokens': completionTokens,
            'ai.llm.stop_type': stopType,
            'ai.inference.time_ms': r1(timing.totalMs),
            'ai.llm.risk_score': analysis.risk_score,
            'ai.llm.risk_level': analysis.risk_level,
          });
          stats.completed++;
          stats.totalQueueWaitMs += queueWaitMs;
          stats.totalTimeMs += timing.totalMs;
          stats.promptTokens += promptTokens;
          stats.completionTokens += completionTokens;
          return id;
        } finally {
          cancel.dispose();
        }
      },
    );
    return { content, analysis, promptTokens, completionTokens, stopType, slotId, timing, nCtx };
  }

  /** The opening both completion routes share: not while loading, JSON, no streaming, the schema. */
  async function readCompletionRequest(request: RouteRequest) {
    if (loading()) throw new LlamaError(503, 'Loading model', 'unavailable_error');
    const body = await readJson(request.req);
    rejectStreaming(body);
    return { body, req: parseRequest(CompletionSchema, body) };
  }

  async function completion(request: RouteRequest): Promise<JsonResponse> {
    stats.requests++;
    try {
      const { body, req } = await readCompletionRequest(request);
      const nPredict = req.n_predict ?? req.max_tokens ?? -1;
      const stop = stopList(req.stop);
      const params = {
        n_predict: nPredict,
        max_tokens: nPredict,
        temperature: req.temperature ?? 0.8,
        top_p: req.top_p ?? 0.95,
        seed: req.seed ?? DEFAULT_SEED,
        stop,
        stream: false,
      };
      const result = await generate(request, { prompt: req.prompt, nPredict, params });
      return json(
        200,
        {
          index: 0,
          content: result.content,
          tokens: [],
          id_slot: result.slotId,
          stop: true,
          model: settings.modelName,
          tokens_predicted: result.completionTokens,
          tokens_evaluated: result.promptTokens,
          generation_settings: { n_ctx: result.nCtx, model: settings.modelName, ...params, ignore_eos: false, n_probs: 0 },
          prompt: req.prompt,
          has_new_line: false,
          truncated: false,
          stop_type: result.stopType,
          stopped_eos: result.stopType === 'eos',
          stopped_limit: result.stopType === 'limit',
          stopped_word: false,
          stopping_word: '',
          tokens_cached: 0,
          timings: timingsJson(result.promptTokens, result.completionTokens, result.timing),
        },
        EMULATED_HEADERS,
      );
    } catch (error) {
      return errorResponse(error);
    }
  }

  async function chatCompletion(request: RouteRequest): Promise<JsonResponse> {
    stats.requests++;
    try {
      if (loading()) throw new LlamaError(503, 'Loading model', 'unavailable_error');
      const body = await readJson(request.req);
      rejectStreaming(body);
      const req = parseRequest(ChatSchema, body);
      const nPredict = req.max_completion_tokens ?? req.max_tokens ?? req.n_predict ?? -1;
      const params = {
        n_predict: nPredict,
        max_tokens: nPredict,
        temperature: req.temperature ?? 0.8,
        top_p: req.top_p ?? 0.95,
        seed: req.seed ?? DEFAULT_SEED,
        stop: stopList(req.stop),
        stream: false,
      };
      const result = await generate(request, { prompt: renderChatPrompt(req.messages), nPredict, params });
      return json(
        200,
        {
          id: `chatcmpl-${randomBytes(16).toString('hex')}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: req.model ?? settings.modelName,
          system_fingerprint: 'emulated',
          choices: [{ index: 0, message: { role: 'assistant', content: result.content }, finish_reason: result.stopType === 'limit' ? 'length' : 'stop' }],
          usage: { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens },
          timings: timingsJson(result.promptTokens, result.completionTokens, result.timing),
        },
        EMULATED_HEADERS,
      );
    } catch (error) {
      return errorResponse(error);
    }
  }

  /** OpenAI's legacy `POST /v1/completions` (llama.cpp serves it; the real HSI probes LLM readiness with it). */
  async function openAiCompletion(request: RouteRequest): Promise<JsonResponse> {
    stats.requests++;
    try {
      const { body, req } = await readCompletionRequest(request);
      const nPredict = req.max_tokens ?? req.n_predict ?? 16;
      const params = { n_predict: nPredict, max_tokens: nPredict, temperature: req.temperature ?? 0.8, top_p: req.top_p ?? 0.95, seed: req.seed ?? DEFAULT_SEED, stop: stopList(req.stop), stream: false };
      const result = await generate(request, { prompt: req.prompt, nPredict, params });
      const model = typeof body === 'object' && body !== null && typeof (body as { model?: unknown }).model === 'string' ? (body as { model: string }).model : settings.modelName;
      return json(
        200,
        {
          id: `cmpl-${randomBytes(16).toString('hex')}`,
          object: 'text_completion',
          created: Math.floor(Date.now() / 1000),
          model,
          system_fingerprint: 'emulated',
          choices: [{ index: 0, text: result.content, logprobs: null, finish_reason: result.stopType === 'limit' ? 'length' : 'stop' }],
          usage: { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens },
          timings: timingsJson(result.promptTokens, result.completionTokens, result.timing),
        },
        EMULATED_HEADERS,
      );
    } catch (error) {
      return errorResponse(error);
    }
  }

  function emulatorFields(): Record<string, unknown> {
    return {
      emulated: true,
      device: 'cpu-emulated',
      model_name: settings.modelName,
      slots: settings.slots,
      n_ctx: settings.ctxSize,
      analytic_capacity_rps: capacity,
      vram_used_gb: vram,
      timing: {
        prefill_tokens_per_s: settings.prefillTokensPerS,
        decode_tokens_per_s: settings.decodeTokensPerS,
        completion_tokens_mean: settings.completionTokensMean,
        completion_tokens_sigma: settings.completionTokensSigma,
        time_scale: settings.timeScale,
        typical_prompt_tokens: settings.typicalPromptTokens,
        typical_request_ms: r1(typicalRequestMs),
      },
    };
  }

  async function health(): Promise<JsonResponse> {
    if (loading()) {
      return json(503, { status: 'loading model', ...(llamaErrorBody(503, 'Loading model', 'unavailable_error') as object), model_loaded: false, ...emulatorFields() }, EMULATED_HEADERS);
    }
    return json(
      200,
      { status: 'ok', slots_idle: slots.size - slots.inUse, slots_processing: slots.inUse, model_loaded: true, ...emulatorFields() },
      EMULATED_HEADERS,
    );
  }

  async function slotsRoute({ url }: RouteRequest): Promise<JsonResponse> {
    if (loading()) return json(503, llamaErrorBody(503, 'Loading model', 'unavailable_error'), EMULATED_HEADERS);
    if (url.searchParams.get('fail_on_no_slot') === '1' && slots.inUse >= slots.size) {
      return json(503, llamaErrorBody(503, 'no slot available', 'unavailable_error'), EMULATED_HEADERS);
    }
    const now = performance.now();
    const body = slots.snapshot().map((slot) => {
      const task = slot.task;
      let decoded = 0;
      if (task !== undefined && task.completionTokens > 0) {
        const intoDecode = now - task.startedAt - task.prefillMs;
        decoded = intoDecode <= 0 ? 0 : Math.min(task.completionTokens, Math.floor(intoDecode / (task.decodeMs / task.completionTokens)));
      }
      return {
        id: slot.id,
        id_task: slot.lastTask?.idTask ?? -1,
        n_ctx: settings.ctxSize,
        speculative: false,
        is_processing: slot.busy,
        params: slot.lastTask?.params ?? { n_predict: -1, max_tokens: -1, temperature: 0.8, top_p: 0.95, seed: DEFAULT_SEED, stop: [], stream: false },
        next_token: {
          has_next_token: task !== undefined,
          has_new_line: false,
          n_remain: task === undefined ? -1 : task.completionTokens - decoded,
          n_decoded: decoded,
        },
        emulated: true,
      };
    });
    return json(200, body, EMULATED_HEADERS);
  }

  async function emulatorStats(): Promise<JsonResponse> {
    return json(
      200,
      {
        emulated: true,
        seed,
        model_name: settings.modelName,
        loading: loading(),
        slots: settings.slots,
        slots_in_use: slots.inUse,
        queue_depth: slots.queued,
        max_queue: settings.maxQueue,
        requests: stats.requests,
        completed: stats.completed,
        rejected_queue_full: stats.rejectedQueueFull,
        rejected_loading: stats.rejectedLoading,
        invalid: stats.invalid,
        cancelled: stats.cancelled,
        mean_queue_wait_ms: stats.completed === 0 ? 0 : r1(stats.totalQueueWaitMs / stats.completed),
        mean_time_ms: stats.completed === 0 ? 0 : r1(stats.totalTimeMs / stats.completed),
        prompt_tokens_total: stats.promptTokens,
        completion_tokens_total: stats.completionTokens,
        time_scale: settings.timeScale,
        analytic_capacity_rps: capacity,
        faults: faults.state(),
      },
      EMULATED_HEADERS,
    );
  }

  const server = createTracedServer({
    tracer,
    log,
    spanAttributes: { 'ai.emulated': true },
    routes: [
      { method: 'POST', pattern: /^\/completion\/?$/, template: '/completion', handler: faults.wrap('/completion', completion) },
      { method: 'POST', pattern: /^\/v1\/chat\/completions\/?$/, template: '/v1/chat/completions', handler: faults.wrap('/v1/chat/completions', chatCompletion) },
      { method: 'POST', pattern: /^\/v1\/completions\/?$/, template: '/v1/completions', handler: faults.wrap('/v1/completions', openAiCompletion) },
      { method: 'GET', pattern: /^\/(?:v1\/)?health\/?$/, template: '/health', handler: health },
      { method: 'GET', pattern: /^\/slots\/?$/, template: '/slots', handler: slotsRoute },
      { method: 'GET', pattern: /^\/emulator\/stats\/?$/, template: '/emulator/stats', handler: emulatorStats },
      ...faults.adminRoutes(),
    ],
  });

  return { server, faults, slots, analyticCapacityRps: capacity, vramUsedGb: vram, loadMs };
}
