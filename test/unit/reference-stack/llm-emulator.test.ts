import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../../reference-stack/common/log.ts';
import { createLlmEmulator, SPAN_GENERATE, type LlmEmulator } from '../../../reference-stack/llm-emulator/app.ts';
import { loadLlmSettings } from '../../../reference-stack/llm-emulator/settings.ts';
import { initTracing, type Tracing } from '../../../reference-stack/telemetry/tracing.ts';

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const memory = new InMemorySpanExporter();
let tracing: Tracing;
const started: LlmEmulator[] = [];

beforeAll(() => {
  tracing = initTracing({ serviceName: 'ai-llm-emulator', env: { OTEL_TRACES_EXPORTER: 'none' }, extraSpanProcessors: [new SimpleSpanProcessor(memory)] });
});

afterAll(async () => {
  await Promise.all(started.map((app) => app.server.close(200)));
  await tracing.shutdown(1000);
});

async function start(env: Record<string, string>): Promise<string> {
  const settings = loadLlmSettings({ EMULATOR_SEED: 'unit', ...env });
  const app = createLlmEmulator({ settings, tracer: tracing.tracer, log: silent, seed: 'unit' });
  started.push(app);
  await app.server.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), ...(signal !== undefined ? { signal } : {}) });

const HSI_REQUEST = { temperature: 0.7, top_p: 0.95, max_tokens: 1536, stop: ['<|im_end|>', '<|im_start|>'] };
const PROMPT = '<|im_start|>user\nCamera front_door, batch-1a2b3c4d. Detections: person 0.91 at 22:14, car 0.80 at 22:15.<|im_end|>\n<|im_start|>assistant\n';

function spansOf(traceId: string): ReadableSpan[] {
  return memory.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
}

describe('LLM emulator responses', () => {
  let base: string;
  beforeAll(async () => {
    base = await start({ EMULATOR_TIME_SCALE: '0.01' });
  });

  it('answers /completion like llama.cpp, with the risk JSON in content', async () => {
    const res = await post(`${base}/completion`, { prompt: PROMPT, ...HSI_REQUEST });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-emulated')).toBe('true');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      model: 'nemotron-emulated',
      prompt: PROMPT,
      stop: true,
      stopped_eos: true,
      stopped_limit: false,
      stopped_word: false,
      stopping_word: '',
      stop_type: 'eos',
      id_slot: 0,
      tokens_evaluated: Math.ceil(PROMPT.length / 4),
      generation_settings: { n_ctx: 8192, n_predict: 1536, temperature: 0.7, top_p: 0.95, stop: ['<|im_end|>', '<|im_start|>'] },
    });
    expect(body['tokens_predicted']).toBeGreaterThan(0);
    expect(Object.keys(body['timings'] as object)).toEqual(
      expect.arrayContaining(['prompt_n', 'prompt_ms', 'prompt_per_second', 'predicted_n', 'predicted_ms', 'predicted_per_second']),
    );
    const content = JSON.parse(body['content'] as string) as Record<string, unknown>;
    expect(Object.keys(content).sort()).toEqual(['reasoning', 'risk_level', 'risk_score', 'summary']);
    expect(content['summary']).toMatch(/person and car/i);
  });

  it('gives the same answer for the same prompt', async () => {
    const first = (await (await post(`${base}/completion`, { prompt: PROMPT })).json()) as { content: string };
    const second = (await (await post(`${base}/completion`, { prompt: PROMPT, n_predict: 2000 })).json()) as { content: string };
    expect(second.content).toBe(first.content);
  });

  it('answers /v1/chat/completions in the OpenAI shape', async () => {
    const res = await post(`${base}/v1/chat/completions`, {
      messages: [
        { role: 'system', content: 'You are a home security analyst.' },
        { role: 'user', content: 'Detections: person 0.91, dog 0.7' },
      ],
      max_tokens: 1536,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ object: 'chat.completion', model: 'nemotron-emulated' });
    expect(body['id']).toMatch(/^chatcmpl-/);
    const choices = body['choices'] as { index: number; message: { role: string; content: string }; finish_reason: string }[];
    expect(choices).toHaveLength(1);
    expect(choices[0]).toMatchObject({ index: 0, message: { role: 'assistant' }, finish_reason: 'stop' });
    expect(JSON.parse(choices[0]?.message.content ?? '')).toHaveProperty('risk_level');
    const usage = body['usage'] as { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
  });

  it('stops at max_tokens and cuts the text', async () => {
    const body = (await (await post(`${base}/completion`, { prompt: PROMPT, n_predict: 5 })).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ tokens_predicted: 5, stopped_limit: true, stop_type: 'limit' });
    expect((body['content'] as string).length).toBe(20);
    const chat = (await (await post(`${base}/v1/chat/completions`, { messages: [{ role: 'user', content: 'x' }], max_tokens: 3 })).json()) as {
      choices: { finish_reason: string }[];
    };
    expect(chat.choices[0]?.finish_reason).toBe('length');
  });

  it('refuses streaming and bad bodies with llama.cpp errors naming the field', async () => {
    const stream = await post(`${base}/completion`, { prompt: 'x', stream: true });
    expect(stream.status).toBe(400);
    expect(await stream.json()).toMatchObject({ error: { code: 400, type: 'invalid_request_error', message: expect.stringMatching(/stream/) } });
    const noPrompt = await post(`${base}/completion`, { n_predict: 3 });
    expect((await noPrompt.json()) as unknown).toMatchObject({ error: { code: 400, message: expect.stringMatching(/^prompt: /) } });
    const badMessages = await post(`${base}/v1/chat/completions`, { messages: [{ role: 'user', content: 5 }] });
    expect(await badMessages.json()).toMatchObject({ error: { message: expect.stringMatching(/^messages\[0\]\.content: /) } });
    const notJson = await fetch(`${base}/completion`, { method: 'POST', body: '{' });
    expect(notJson.status).toBe(400);
    const tooLong = await post(`${base}/completion`, { prompt: 'x'.repeat(8192 * 4) });
    expect(await tooLong.json()).toMatchObject({ error: { code: 400, type: 'exceed_context_size_error', n_ctx: 8192 } });
  });

  it('reports health, slots and stats', async () => {
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      emulated: true,
      slots: 1,
      model_name: 'nemotron-emulated',
      vram_used_gb: 4.75,
      analytic_capacity_rps: expect.any(Number),
    });
    const slots = (await (await fetch(`${base}/slots`)).json()) as Record<string, unknown>[];
    expect(slots).toHaveLength(1);
    expect(slots[0]).toMatchObject({ id: 0, n_ctx: 8192, is_processing: false, emulated: true });
    const stats = (await (await fetch(`${base}/emulator/stats`)).json()) as Record<string, unknown>;
    expect(stats).toMatchObject({ emulated: true, seed: 'unit', slots: 1, max_queue: 64 });
    expect(stats['completed']).toBeGreaterThan(0);
  });
});

describe('LLM emulator replayed completion lengths', () => {
  it('generates EMULATOR_COMPLETION_TOKENS in order, then from the start again, cut by the request\'s limit', async () => {
    const base = await start({ EMULATOR_TIME_SCALE: '0.01', EMULATOR_COMPLETION_TOKENS: '40,7' });
    const lengths: unknown[] = [];
    for (const maxTokens of [1536, 1536, 1536, 5]) lengths.push(((await (await post(`${base}/completion`, { prompt: PROMPT, ...HSI_REQUEST, max_tokens: maxTokens })).json()) as { tokens_predicted: unknown }).tokens_predicted);
    expect(lengths).toEqual([40, 7, 40, 5]);
  });
});

describe('LLM emulator spans', () => {
  it('continues the caller trace with an llm_generate child carrying the baggage', async () => {
    const base = await start({ EMULATOR_TIME_SCALE: '0.01' });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await post(
      `${base}/completion`,
      { prompt: PROMPT, ...HSI_REQUEST },
      { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, baggage: 'camera.id=front_door,batch.id=batch-1a2b3c4d,event.priority=high' },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { tokens_predicted: number; tokens_evaluated: number };
    const spans = await vi.waitFor(() => {
      const found = spansOf(traceId);
      if (found.length < 2) throw new Error('spans not exported yet');
      return found;
    });
    const server = spans.find((s) => s.name === 'POST /completion');
    const generate = spans.find((s) => s.name === SPAN_GENERATE);
    expect(server?.kind).toBe(SpanKind.SERVER);
    expect(server?.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(server?.attributes).toMatchObject({ 'ai.emulated': true, 'baggage.camera.id': 'front_door', 'camera.id': 'front_door', 'http.response.status_code': 200 });
    expect(generate?.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);
    expect(generate?.attributes).toMatchObject({
      'ai.emulated': true,
      'ai.model.name': 'nemotron-emulated',
      'ai.llm.prompt_tokens': body.tokens_evaluated,
      'ai.llm.completion_tokens': body.tokens_predicted,
      'ai.llm.slot_id': 0,
      'baggage.camera.id': 'front_door',
      'baggage.batch.id': 'batch-1a2b3c4d',
      'baggage.event.priority': 'high',
      'batch.id': 'batch-1a2b3c4d',
    });
    expect(generate?.attributes['ai.inference.queue_wait_ms']).toEqual(expect.any(Number));
    expect(generate?.attributes['ai.inference.time_ms']).toEqual(expect.any(Number));
  });
});

describe('LLM emulator timing and queueing', () => {
  it('holds a request for the modelled time', async () => {
    // 1000 prompt tokens at 2000/s = 500 ms, 30 tokens at 60/s = 500 ms; × 0.1 = 100 ms.
    const base = await start({ EMULATOR_TIME_SCALE: '0.1', EMULATOR_COMPLETION_TOKENS_MEAN: '30', EMULATOR_COMPLETION_TOKENS_SIGMA: '0' });
    const t0 = performance.now();
    const body = (await (await post(`${base}/completion`, { prompt: 'x'.repeat(4000) })).json()) as { timings: Record<string, number>; tokens_predicted: number };
    const elapsed = performance.now() - t0;
    expect(body.tokens_predicted).toBe(30);
    expect(body.timings).toMatchObject({ prompt_n: 1000, prompt_ms: 50, predicted_n: 30, predicted_ms: 50 });
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(elapsed).toBeLessThan(1000);
  });

  it('serves waiting requests FIFO and answers 503 beyond EMULATOR_MAX_QUEUE', async () => {
    // a: 120 tokens at 60/s = 2 s on the one slot; b and c: n_predict 12 = 200 ms each. Each step
    // waits for the emulator's own state (not a fixed pause), so the order of arrival is the
    // order sent, and a still holds the slot when d arrives however slow the machine is.
    const base = await start({ EMULATOR_COMPLETION_TOKENS_MEAN: '120', EMULATOR_COMPLETION_TOKENS_SIGMA: '0', EMULATOR_MAX_QUEUE: '2' });
    const finished: string[] = [];
    const send = (name: string, extra: Record<string, unknown> = {}) =>
      post(`${base}/completion`, { prompt: name, ...extra }).then(async (res) => {
        finished.push(`${name}:${res.status}`);
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      });
    const stats = async () => (await (await fetch(`${base}/emulator/stats`)).json()) as Record<string, number>;
    const until = async (what: string, ok: (s: Record<string, number>) => boolean): Promise<void> => {
      for (const deadline = performance.now() + 10_000; !ok(await stats()); ) {
        if (performance.now() > deadline) throw new Error(`emulator never reached: ${what} (${JSON.stringify(await stats())})`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const a = send('a');
    await until('a on the slot', (s) => s['slots_in_use'] === 1);
    const b = send('b', { n_predict: 12 });
    await until('b queued', (s) => s['queue_depth'] === 1);
    const c = send('c', { n_predict: 12 });
    await until('c queued behind b', (s) => s['queue_depth'] === 2);
    const slots = (await (await fetch(`${base}/slots`)).json()) as { is_processing: boolean }[];
    expect(slots[0]?.is_processing).toBe(true);
    const d = await send('d');
    expect(finished, 'a finished before d was answered: a holds the slot for 2 s').toEqual(['d:503']);
    expect(d.status).toBe(503);
    expect(d.body).toMatchObject({ error: { code: 503, type: 'unavailable_error', message: expect.stringMatching(/no slot available/) } });
    await Promise.all([a, b, c]);
    expect(finished).toEqual(['d:503', 'a:200', 'b:200', 'c:200']);
    expect(await stats()).toMatchObject({ completed: 3, rejected_queue_full: 1, queue_depth: 0, slots_in_use: 0 });
    expect((await stats())['mean_queue_wait_ms']).toBeGreaterThan(100);
  });

  it('cancels the task of a client that went away', async () => {
    const base = await start({ EMULATOR_COMPLETION_TOKENS_MEAN: '600', EMULATOR_COMPLETION_TOKENS_SIGMA: '0' });
    const controller = new AbortController();
    const pending = post(`${base}/completion`, { prompt: 'long' }, {}, controller.signal).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    await pending;
    await vi.waitFor(async () => {
      const stats = (await (await fetch(`${base}/emulator/stats`)).json()) as Record<string, number>;
      expect(stats).toMatchObject({ cancelled: 1, slots_in_use: 0 });
    });
  });

  it('answers 503 "loading model" during the warm-up', async () => {
    const base = await start({ EMULATOR_LOAD_SECONDS: '0.3' });
    const early = await fetch(`${base}/health`);
    expect(early.status).toBe(503);
    expect(await early.json()).toMatchObject({ status: 'loading model', error: { code: 503, message: 'Loading model', type: 'unavailable_error' }, emulated: true });
    expect((await post(`${base}/completion`, { prompt: 'x' })).status).toBe(503);
    await new Promise((r) => setTimeout(r, 350));
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });
});

describe('LLM emulator fault knobs', () => {
  it('injects llama.cpp-shaped errors until the faults are deleted; health is never faulted', async () => {
    const base = await start({ EMULATOR_TIME_SCALE: '0.01' });
    const put = await fetch(`${base}/admin/faults`, { method: 'PUT', body: JSON.stringify({ error_rate: 1, seed: 'x' }) });
    expect(put.status).toBe(200);
    const traceId = 'aaaabbbbccccddddeeeeffff00001111';
    const failed = await post(`${base}/completion`, { prompt: 'x' }, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    expect(failed.status).toBe(503);
    expect(await failed.json()).toEqual({ error: { code: 503, message: 'emulated fault: injected HTTP 503', type: 'unavailable_error' } });
    expect((await post(`${base}/v1/chat/completions`, { messages: [{ role: 'user', content: 'x' }] })).status).toBe(503);
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect((await fetch(`${base}/slots`)).status).toBe(200);
    const server = await vi.waitFor(() => {
      const span = spansOf(traceId).find((s) => s.name === 'POST /completion');
      if (span === undefined) throw new Error('not yet');
      return span;
    });
    expect(server.status.code).toBe(SpanStatusCode.ERROR);
    expect(server.events.map((e) => e.name)).toContain('fault_injected');
    expect(spansOf(traceId).some((s) => s.name === SPAN_GENERATE)).toBe(false);

    expect((await fetch(`${base}/admin/faults`, { method: 'DELETE' })).status).toBe(200);
    expect((await post(`${base}/completion`, { prompt: 'x' })).status).toBe(200);
    const stats = (await (await fetch(`${base}/emulator/stats`)).json()) as { faults: { counters: Record<string, number> } };
    expect(stats.faults.counters).toMatchObject({ errors_injected: 2 });
  });

  it('starts with EMULATOR_FAULTS applied', async () => {
    const base = await start({ EMULATOR_TIME_SCALE: '0.01', EMULATOR_FAULTS: '{"error_rate":1,"status_code":500,"routes":["/v1/chat/completions"]}' });
    expect((await post(`${base}/completion`, { prompt: 'x' })).status).toBe(200);
    const chat = await post(`${base}/v1/chat/completions`, { messages: [{ role: 'user', content: 'x' }] });
    expect(chat.status).toBe(500);
    expect(await chat.json()).toMatchObject({ error: { code: 500, type: 'server_error' } });
  });
});
