import type { IncomingMessage } from 'node:http';
import { context, propagation, SpanKind, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { RouteRequest } from '../common/http.ts';
import { r1 } from '../common/round.ts';
import { AbortedError, sleep } from '../common/timing.ts';
import { createRng } from '../detector-emulator/emulation.ts';
import { baggageAttributes, inSpan } from '../telemetry/tracing.ts';
import { emulateAnalysis, estimateTokens, generationTimeMs, LlmSlots, QueueFullError, sampleCompletionTokens, type GenerationTime, type RiskAnalysis } from './emulation.ts';
import { LlamaError } from './llama-errors.ts';
import type { LlmSettings } from './settings.ts';

/** The LLM emulator's generation: one request's tokens, content and timing, run in a slot under its span. */

export const SPAN_GENERATE = 'llm_generate';
const MAX_BAGGAGE_ATTRIBUTES = 32;
const MAX_BAGGAGE_VALUE = 256;

/** The emulator's counters since it started (`/emulator/stats`). */
export class LlmStats {
  requests = 0;
  completed = 0;
  rejectedQueueFull = 0;
  rejectedLoading = 0;
  invalid = 0;
  cancelled = 0;
  totalQueueWaitMs = 0;
  totalTimeMs = 0;
  promptTokens = 0;
  completionTokens = 0;
}

export interface GenerationRequest {
  prompt: string;
  /** -1: until EOS or the end of the context. */
  nPredict: number;
  params: Record<string, unknown>;
}

export interface GenerationResult {
  content: string;
  analysis: RiskAnalysis;
  promptTokens: number;
  completionTokens: number;
  stopType: 'eos' | 'limit';
  slotId: number;
  timing: GenerationTime;
  nCtx: number;
}

/** What a generation will be, decided before it waits for a slot. */
type GenerationPlan = Omit<GenerationResult, 'slotId'> & { idTask: number; nPredict: number; params: Record<string, unknown> };

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

export class LlmGenerator {
  readonly slots: LlmSlots;
  readonly timingModel: { prefillTokensPerS: number; decodeTokensPerS: number; timeScale: number };
  private readonly settings: LlmSettings;
  private readonly tracer: Tracer;
  private readonly stats: LlmStats;
  private readonly rng: () => number;
  private nextTask = 0;
  /** Completion lengths taken so far from settings.completionTokensList. */
  private replayedLengths = 0;

  constructor(settings: LlmSettings, tracer: Tracer, stats: LlmStats, seed: string) {
    this.settings = settings;
    this.tracer = tracer;
    this.stats = stats;
    this.rng = createRng(seed);
    this.slots = new LlmSlots(settings.slots, settings.maxQueue);
    this.timingModel = { prefillTokensPerS: settings.prefillTokensPerS, decodeTokensPerS: settings.decodeTokensPerS, timeScale: settings.timeScale };
  }

  async generate(request: RouteRequest, g: GenerationRequest): Promise<GenerationResult> {
    const plan = this.plan(g);
    const baggage = requestBaggageAttributes();
    request.span.setAttributes({ ...baggage, 'ai.model.name': this.settings.modelName });
    const attributes = {
      ...baggage,
      'ai.emulated': true,
      'ai.model.name': this.settings.modelName,
      'ai.llm.prompt_tokens': plan.promptTokens,
      'ai.llm.max_tokens': g.nPredict,
      'ai.llm.task_id': plan.idTask,
      'ai.inference.slots': this.slots.size,
      'ai.inference.queue_depth': this.slots.queued,
    };
    const slotId = await inSpan(this.tracer, SPAN_GENERATE, { kind: SpanKind.INTERNAL, attributes }, (span) => this.runInSlot(span, request.req, plan));
    const { content, analysis, promptTokens, completionTokens, stopType, timing, nCtx } = plan;
    return { content, analysis, promptTokens, completionTokens, stopType, slotId, timing, nCtx };
  }

  /** The next completion's length: the replayed list's next entry when one is set, else a lognormal draw. */
  private completionTokens(): number {
    const list = this.settings.completionTokensList;
    if (list.length === 0) return sampleCompletionTokens(this.rng, this.settings.completionTokensMean, this.settings.completionTokensSigma);
    const tokens = list[this.replayedLengths % list.length] ?? 1;
    this.replayedLengths++;
    return tokens;
  }

  /** Tokens (the completion's length drawn in arrival order, so a seed repeats), content and timing. */
  private plan(g: GenerationRequest): GenerationPlan {
    const { settings } = this;
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
    const wanted = this.completionTokens();
    const completionTokens = Math.min(wanted, limit);
    const stopType = wanted > limit ? 'limit' : 'eos';
    const analysis = emulateAnalysis(g.prompt);
    let content = JSON.stringify(analysis);
    // A generation cut by the limit is cut text: keep what fits in the tokens (≈ 4 characters each).
    if (stopType === 'limit' && content.length > completionTokens * 4) content = content.slice(0, completionTokens * 4);
    const timing = generationTimeMs(promptTokens, completionTokens, this.timingModel);
    return { content, analysis, promptTokens, completionTokens, stopType, timing, nCtx, idTask: this.nextTask++, nPredict: g.nPredict, params: g.params };
  }

  /** Waits for a slot (cancelled when the client goes), holds it for the generation's time; the slot's id. */
  private async runInSlot(span: Span, req: IncomingMessage, plan: GenerationPlan): Promise<number> {
    const cancel = clientGone(req);
    const queuedAt = performance.now();
    try {
      let id: number;
      try {
        id = await this.slots.acquire(cancel.signal);
      } catch (error) {
        if (error instanceof QueueFullError) span.setAttribute('ai.llm.rejected', 'queue_full');
        if (error instanceof AbortedError) span.setAttribute('ai.llm.cancelled', true);
        throw error;
      }
      const queueWaitMs = performance.now() - queuedAt;
      span.setAttributes({ 'ai.llm.slot_id': id, 'ai.inference.queue_wait_ms': r1(queueWaitMs) });
      await this.hold(span, id, plan, cancel.signal);
      this.generated(span, plan, queueWaitMs);
      return id;
    } finally {
      cancel.dispose();
    }
  }

  private async hold(span: Span, id: number, plan: GenerationPlan, signal: AbortSignal): Promise<void> {
    const { timing } = plan;
    try {
      this.slots.start(id, {
        idTask: plan.idTask,
        params: plan.params,
        promptTokens: plan.promptTokens,
        completionTokens: plan.completionTokens,
        nPredict: plan.nPredict,
        startedAt: performance.now(),
        prefillMs: timing.prefillMs,
        decodeMs: timing.decodeMs,
      });
      await sleep(timing.totalMs, signal);
    } catch (error) {
      if (error instanceof AbortedError) span.setAttribute('ai.llm.cancelled', true);
      throw error;
    } finally {
      this.slots.release(id);
    }
  }

  private generated(span: Span, plan: GenerationPlan, queueWaitMs: number): void {
    span.setAttributes({
      'ai.llm.completion_tokens': plan.completionTokens,
      'ai.llm.stop_type': plan.stopType,
      'ai.inference.time_ms': r1(plan.timing.totalMs),
      'ai.llm.risk_score': plan.analysis.risk_score,
      'ai.llm.risk_level': plan.analysis.risk_level,
    });
    const { stats } = this;
    stats.completed++;
    stats.totalQueueWaitMs += queueWaitMs;
    stats.totalTimeMs += plan.timing.totalMs;
    stats.promptTokens += plan.promptTokens;
    stats.completionTokens += plan.completionTokens;
  }
}
