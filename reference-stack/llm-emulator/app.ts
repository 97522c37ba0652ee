import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Tracer } from '@opentelemetry/api';
import { z } from 'zod';
import { FaultInjector, faultSettingsJson } from '../common/fault-knobs.ts';
import { createTracedServer, HttpError, json, parseJsonBody, readBody, type JsonResponse, type RouteRequest, type TracedServer } from '../common/http.ts';
import type { Logger } from '../common/log.ts';
import { AbortedError } from '../common/timing.ts';
import { analyticCapacityRps, generationTimeMs, LlmSlots, QueueFullError, renderChatPrompt, vramUsedGb, type GenerationTime } from './emulation.ts';
import { r1 } from '../common/round.ts';
import { LlmGenerator, LlmStats, type GenerationResult } from './generator.ts';
import { LlamaError, llamaErrorBody } from './llama-errors.ts';
import { LLM_FAULTABLE_ROUTES, type LlmSettings } from './settings.ts';

export { llamaErrorBody, llamaErrorType } from './llama-errors.ts';
export { requestBaggageAttributes, SPAN_GENERATE } from './generator.ts';

/**
 * The Nemotron / llama.cpp emulator's HTTP application, apart from process concerns (settings,
 * tracing set-up, signals) so that tests can run it on an ephemeral port.
 */

export const DEFAULT_SERVICE_NAME = 'ai-llm-emulator';
/** llama.cpp reports the default seed (-1) as this unsigned value. */
const DEFAULT_SEED = 4294967295;
const EMULATED_HEADERS = { 'x-emulated': 'true' } as const;

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

function rejectStreaming(body: unknown): void {
  if (body !== null && typeof body === 'object' && (body as { stream?: unknown }).stream === true) {
    throw new LlamaError(400, 'stream: true is not supported by the LLM emulator; send "stream": false or leave it out');
  }
}

function stopList(stop: string | string[] | undefined): string[] {
  if (stop === undefined) return [];
  return typeof stop === 'string' ? [stop] : stop;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const r3 = (n: number): number => Math.round(n * 1000) / 1000;

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


/** The sampling fields a request may set, as llama.cpp reports them back (`generation_settings`, `/slots`). */
interface SamplingFields {
  temperature?: number | undefined;
  top_p?: number | undefined;
  seed?: number | undefined;
  stop?: string | string[] | undefined;
}

function samplingParams(req: SamplingFields, nPredict: number) {
  return { n_predict: nPredict, max_tokens: nPredict, temperature: req.temperature ?? 0.8, top_p: req.top_p ?? 0.95, seed: req.seed ?? DEFAULT_SEED, stop: stopList(req.stop), stream: false };
}

/** The OpenAI-style answer both `/v1/` routes give around their one choice. */
function openAiAnswer(idPrefix: string, object: string, model: string, choice: Record<string, unknown>, result: GenerationResult): Record<string, unknown> {
  return {
    id: `${idPrefix}-${randomBytes(16).toString('hex')}`,
    object,
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: 'emulated',
    choices: [{ index: 0, ...choice, finish_reason: result.stopType === 'limit' ? 'length' : 'stop' }],
    usage: { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens },
    timings: timingsJson(result.promptTokens, result.completionTokens, result.timing),
  };
}

/** How far a slot's task has decoded at `now` (the emulated generation decodes at an even pace). */
function decodedTokens(task: { completionTokens: number; startedAt: number; prefillMs: number; decodeMs: number } | undefined, now: number): number {
  if (task === undefined || task.completionTokens <= 0) return 0;
  const intoDecode = now - task.startedAt - task.prefillMs;
  return intoDecode <= 0 ? 0 : Math.min(task.completionTokens, Math.floor(intoDecode / (task.decodeMs / task.completionTokens)));
}

/** The emulator's routes over its generator, counters, fault knobs and emulated warm-up. */
class LlmApplication {
  readonly faults: FaultInjector;
  readonly generator: LlmGenerator;
  readonly stats = new LlmStats();
  readonly capacity: number;
  readonly vram: number;
  readonly loadMs: number;
  private readonly typicalRequestMs: number;
  private readonly readyAt: number;
  private readonly settings: LlmSettings;
  private readonly seed: string;

  constructor({ settings, tracer, log, seed }: LlmEmulatorOptions) {
    this.settings = settings;
    this.seed = seed;
    this.generator = new LlmGenerator(settings, tracer, this.stats, seed);
    const timingModel = this.generator.timingModel;
    this.capacity = analyticCapacityRps(settings.slots, settings.typicalPromptTokens, settings.completionTokensMean, timingModel);
    this.typicalRequestMs = generationTimeMs(settings.typicalPromptTokens, settings.completionTokensMean, timingModel).totalMs;
    this.vram = vramUsedGb(settings.modelSizeGb, settings.kvCacheGbPerSlot, settings.slots);
    this.loadMs = settings.loadSeconds * 1000 * settings.timeScale;
    this.readyAt = performance.now() + this.loadMs;
    this.faults = new FaultInjector({
      faultableRoutes: LLM_FAULTABLE_ROUTES,
      errorBody: (status, message) => llamaErrorBody(status, message),
      initial: settings.faults,
      onChange: (s) => log.info(s === undefined ? 'fault knobs cleared' : 'fault knobs set', s === undefined ? undefined : { faults: faultSettingsJson(s) }),
    });
  }

  get slots(): LlmSlots {
    return this.generator.slots;
  }

  loading(): boolean {
    return performance.now() < this.readyAt;
  }

  private errorResponse(error: unknown): JsonResponse {
    const { stats } = this;
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

  /** A generation route: counted, its errors answered as llama.cpp does. */
  private async answer(build: () => Promise<JsonResponse>): Promise<JsonResponse> {
    this.stats.requests++;
    try {
      return await build();
    } catch (error) {
      return this.errorResponse(error);
    }
  }

  private async readJson(req: IncomingMessage): Promise<unknown> {
    return parseJsonBody(await readBody(req, this.settings.maxBodyBytes), () => new LlamaError(400, 'the body is not valid JSON'));
  }

  /** The opening every generation route shares: not while loading, JSON, no streaming, the schema. */
  private async readRequest<T>(request: RouteRequest, schema: z.ZodType<T>): Promise<{ body: unknown; req: T }> {
    if (this.loading()) throw new LlamaError(503, 'Loading model', 'unavailable_error');
    const body = await this.readJson(request.req);
    rejectStreaming(body);
    return { body, req: parseRequest(schema, body) };
  }

  completion(request: RouteRequest): Promise<JsonResponse> {
    return this.answer(async () => {
      const { req } = await this.readRequest(request, CompletionSchema);
      const nPredict = req.n_predict ?? req.max_tokens ?? -1;
      const params = samplingParams(req, nPredict);
      const result = await this.generator.generate(request, { prompt: req.prompt, nPredict, params });
      const { modelName } = this.settings;
      return json(200, {
        index: 0,
        content: result.content,
        tokens: [],
        id_slot: result.slotId,
        stop: true,
        model: modelName,
        tokens_predicted: result.completionTokens,
        tokens_evaluated: result.promptTokens,
        generation_settings: { n_ctx: result.nCtx, model: modelName, ...params, ignore_eos: false, n_probs: 0 },
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
      }, EMULATED_HEADERS);
    });
  }

  chatCompletion(request: RouteRequest): Promise<JsonResponse> {
    return this.answer(async () => {
      const { req } = await this.readRequest(request, ChatSchema);
      const nPredict = req.max_completion_tokens ?? req.max_tokens ?? req.n_predict ?? -1;
      const result = await this.generator.generate(request, { prompt: renderChatPrompt(req.messages), nPredict, params: samplingParams(req, nPredict) });
      const choice = { message: { role: 'assistant', content: result.content } };
      return json(200, openAiAnswer('chatcmpl', 'chat.completion', req.model ?? this.settings.modelName, choice, result), EMULATED_HEADERS);
    });
  }

  /** OpenAI's legacy `POST /v1/completions` (llama.cpp serves it; the real HSI probes LLM readiness with it). */
  openAiCompletion(request: RouteRequest): Promise<JsonResponse> {
    return this.answer(async () => {
      const { body, req } = await this.readRequest(request, CompletionSchema);
      const nPredict = req.max_tokens ?? req.n_predict ?? 16;
      const result = await this.generator.generate(request, { prompt: req.prompt, nPredict, params: samplingParams(req, nPredict) });
      const model = typeof body === 'object' && body !== null && typeof (body as { model?: unknown }).model === 'string' ? (body as { model: string }).model : this.settings.modelName;
      return json(200, openAiAnswer('cmpl', 'text_completion', model, { text: result.content, logprobs: null }, result), EMULATED_HEADERS);
    });
  }

  private emulatorFields(): Record<string, unknown> {
    const { settings } = this;
    return {
      emulated: true,
      device: 'cpu-emulated',
      model_name: settings.modelName,
      slots: settings.slots,
      n_ctx: settings.ctxSize,
      analytic_capacity_rps: this.capacity,
      vram_used_gb: this.vram,
      timing: {
        prefill_tokens_per_s: settings.prefillTokensPerS,
        decode_tokens_per_s: settings.decodeTokensPerS,
        completion_tokens_mean: settings.completionTokensMean,
        completion_tokens_sigma: settings.completionTokensSigma,
        time_scale: settings.timeScale,
        typical_prompt_tokens: settings.typicalPromptTokens,
        typical_request_ms: r1(this.typicalRequestMs),
      },
    };
  }

  async health(): Promise<JsonResponse> {
    if (this.loading()) {
      return json(503, { status: 'loading model', ...(llamaErrorBody(503, 'Loading model', 'unavailable_error') as object), model_loaded: false, ...this.emulatorFields() }, EMULATED_HEADERS);
    }
    const { slots } = this;
    return json(200, { status: 'ok', slots_idle: slots.size - slots.inUse, slots_processing: slots.inUse, model_loaded: true, ...this.emulatorFields() }, EMULATED_HEADERS);
  }

  async slotsRoute({ url }: RouteRequest): Promise<JsonResponse> {
    const { slots } = this;
    if (this.loading()) return json(503, llamaErrorBody(503, 'Loading model', 'unavailable_error'), EMULATED_HEADERS);
    if (url.searchParams.get('fail_on_no_slot') === '1' && slots.inUse >= slots.size) {
      return json(503, llamaErrorBody(503, 'no slot available', 'unavailable_error'), EMULATED_HEADERS);
    }
    const now = performance.now();
    const body = slots.snapshot().map((slot) => {
      const task = slot.task;
      const decoded = decodedTokens(task, now);
      return {
        id: slot.id,
        id_task: slot.lastTask?.idTask ?? -1,
        n_ctx: this.settings.ctxSize,
        speculative: false,
        is_processing: slot.busy,
        params: slot.lastTask?.params ?? samplingParams({}, -1),
        next_token: { has_next_token: task !== undefined, has_new_line: false, n_remain: task === undefined ? -1 : task.completionTokens - decoded, n_decoded: decoded },
        emulated: true,
      };
    });
    return json(200, body, EMULATED_HEADERS);
  }

  async emulatorStats(): Promise<JsonResponse> {
    const { stats, settings, slots } = this;
    return json(200, {
      emulated: true,
      seed: this.seed,
      model_name: settings.modelName,
      loading: this.loading(),
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
      analytic_capacity_rps: this.capacity,
      faults: this.faults.state(),
    }, EMULATED_HEADERS);
  }
}

export function createLlmEmulator(options: LlmEmulatorOptions): LlmEmulator {
  const { tracer, log } = options;
  const app = new LlmApplication(options);
  const { faults, loadMs } = app;
  if (loadMs > 0) setTimeout(() => log.info('emulated model loaded', { load_ms: r1(loadMs) }), loadMs).unref();
  const server = createTracedServer({
    tracer,
    log,
    spanAttributes: { 'ai.emulated': true },
    routes: [
      { method: 'POST', pattern: /^\/completion\/?$/, template: '/completion', handler: faults.wrap('/completion', (r) => app.completion(r)) },
      { method: 'POST', pattern: /^\/v1\/chat\/completions\/?$/, template: '/v1/chat/completions', handler: faults.wrap('/v1/chat/completions', (r) => app.chatCompletion(r)) },
      { method: 'POST', pattern: /^\/v1\/completions\/?$/, template: '/v1/completions', handler: faults.wrap('/v1/completions', (r) => app.openAiCompletion(r)) },
      { method: 'GET', pattern: /^\/(?:v1\/)?health\/?$/, template: '/health', handler: () => app.health() },
      { method: 'GET', pattern: /^\/slots\/?$/, template: '/slots', handler: (r) => app.slotsRoute(r) },
      { method: 'GET', pattern: /^\/emulator\/stats\/?$/, template: '/emulator/stats', handler: () => app.emulatorStats() },
      ...faults.adminRoutes(),
    ],
  });
  return { server, faults, slots: app.slots, analyticCapacityRps: app.capacity, vramUsedGb: app.vram, loadMs };
}
