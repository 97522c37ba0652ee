import { describe, expect, it } from 'vitest';
import { AbortedError } from '../../../reference-stack/common/timing.ts';
import { createRng } from '../../../reference-stack/detector-emulator/emulation.ts';
import {
  analyticCapacityRps,
  emulateAnalysis,
  estimateTokens,
  findObjectClasses,
  generationTimeMs,
  LlmSlots,
  QueueFullError,
  renderChatPrompt,
  riskLevel,
  sampleCompletionTokens,
  vramUsedGb,
} from '../../../reference-stack/llm-emulator/emulation.ts';
import { LlmSettingsError, loadLlmSettings } from '../../../reference-stack/llm-emulator/settings.ts';

const MODEL = { prefillTokensPerS: 2000, decodeTokensPerS: 60, timeScale: 1 };

describe('timing model', () => {
  it('estimates prompt tokens as characters / 4, rounded up, at least 1', () => {
    expect(estimateTokens('')).toBe(1);
    expect(estimateTokens('abcd')).toBe(1);
    expect(estimateTokens('abcde')).toBe(2);
    expect(estimateTokens('x'.repeat(4000))).toBe(1000);
  });

  it('is prompt / prefill rate + generated / decode rate', () => {
    // 2000 prompt tokens at 2000/s = 1 s; 180 tokens at 60/s = 3 s.
    expect(generationTimeMs(2000, 180, MODEL)).toEqual({ prefillMs: 1000, decodeMs: 3000, totalMs: 4000 });
    expect(generationTimeMs(1000, 0, MODEL).totalMs).toBe(500);
  });

  it('multiplies every time by the time scale', () => {
    const t = generationTimeMs(2000, 180, { ...MODEL, timeScale: 0.05 });
    expect(t.prefillMs).toBeCloseTo(50, 9);
    expect(t.decodeMs).toBeCloseTo(150, 9);
    expect(t.totalMs).toBeCloseTo(200, 9);
  });

  it('derives the capacity from slots and the typical request', () => {
    // 1200 tokens: 0.6 s; 180 tokens: 3 s → 3.6 s per request.
    expect(analyticCapacityRps(1, 1200, 180, MODEL)).toBeCloseTo(1 / 3.6, 3);
    expect(analyticCapacityRps(4, 1200, 180, MODEL)).toBeCloseTo(4 / 3.6, 3);
    expect(analyticCapacityRps(1, 1200, 180, { ...MODEL, timeScale: 0.05 })).toBeCloseTo(20 / 3.6, 2);
    expect(vramUsedGb(4, 0.75, 2)).toBe(5.5);
  });

  it('draws generated tokens with the configured mean, seeded', () => {
    const rng = createRng('tokens');
    const draws = Array.from({ length: 50_000 }, () => sampleCompletionTokens(rng, 180, 0.35));
    const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
    expect(mean).toBeGreaterThan(177);
    expect(mean).toBeLessThan(183);
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(1);
    const again = createRng('tokens');
    expect(Array.from({ length: 10 }, () => sampleCompletionTokens(again, 180, 0.35))).toEqual(draws.slice(0, 10));
    expect(sampleCompletionTokens(rng, 180, 0)).toBe(180);
  });
});

describe('risk analysis', () => {
  it('maps scores to HSI bands', () => {
    expect([0, 29, 30, 59, 60, 84, 85, 100].map(riskLevel)).toEqual(['low', 'low', 'medium', 'medium', 'high', 'high', 'critical', 'critical']);
  });

  it('is a pure function of the prompt', () => {
    const prompt = 'Camera front_door. Detections: person (0.91), car (0.80).';
    expect(emulateAnalysis(prompt)).toEqual(emulateAnalysis(prompt));
    const scores = new Set(Array.from({ length: 50 }, (_, i) => emulateAnalysis(`batch ${i}: person`).risk_score));
    expect(scores.size).toBeGreaterThan(10);
  });

  it('keeps scores in 0..100 with the matching level', () => {
    for (let i = 0; i < 500; i++) {
      const a = emulateAnalysis(`batch-${i} ${i % 3 === 0 ? 'person person person truck' : i % 3 === 1 ? 'cat bird' : ''}`);
      expect(a.risk_score).toBeGreaterThanOrEqual(0);
      expect(a.risk_score).toBeLessThanOrEqual(100);
      expect(Number.isInteger(a.risk_score)).toBe(true);
      expect(a.risk_level).toBe(riskLevel(a.risk_score));
    }
  });

  it('mentions the object classes found in the prompt', () => {
    expect(findObjectClasses('2 Cars, a person and people; a dog.').map((c) => [c.name, c.count])).toEqual([
      ['car', 1],
      ['person', 2],
      ['dog', 1],
    ]);
    const a = emulateAnalysis('Detections: person 0.9, car 0.8');
    expect(a.summary).toMatch(/^Person and car detected/);
    expect(a.reasoning).toContain('person ×1');
    expect(emulateAnalysis('nothing to see').summary).toMatch(/^No recognised objects in the detections;/);
    expect(emulateAnalysis('Camera: Front Door (front_door)\nDetections (1): 1 dog').summary).toMatch(/^Dog detected at Front Door; activity assessed as \w+ risk/);
    expect(findObjectClasses('carpet, scattered')).toEqual([]);
  });

  it('renders chat messages as ChatML', () => {
    expect(renderChatPrompt([{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'person' }] }])).toBe(
      '<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nperson<|im_end|>\n<|im_start|>assistant\n',
    );
  });
});

describe('LlmSlots', () => {
  it('hands out free slots, then queues FIFO up to the bound, then rejects', async () => {
    const slots = new LlmSlots(2, 2);
    const a = await slots.acquire();
    const b = await slots.acquire();
    expect([a, b]).toEqual([0, 1]);
    const order: string[] = [];
    const c = slots.acquire().then((id) => (order.push('c'), id));
    const d = slots.acquire().then((id) => (order.push('d'), id));
    expect(slots.queued).toBe(2);
    await expect(slots.acquire()).rejects.toBeInstanceOf(QueueFullError);
    slots.release(b);
    expect(await c).toBe(1);
    slots.release(a);
    expect(await d).toBe(0);
    expect(order).toEqual(['c', 'd']);
    slots.release(0);
    slots.release(1);
    slots.release(1); // releasing an idle slot is ignored
    expect(slots.inUse).toBe(0);
  });

  it('rejects at once without a queue', async () => {
    const slots = new LlmSlots(1, 0);
    await slots.acquire();
    await expect(slots.acquire()).rejects.toThrow(/no slot available/);
  });

  it('drops an aborted waiter from the queue', async () => {
    const slots = new LlmSlots(1, 4);
    const first = await slots.acquire();
    const controller = new AbortController();
    const waiting = slots.acquire(controller.signal);
    const next = slots.acquire();
    expect(slots.queued).toBe(2);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    expect(slots.queued).toBe(1);
    slots.release(first);
    expect(await next).toBe(first);
  });
});

describe('loadLlmSettings', () => {
  it('has the documented defaults', () => {
    expect(loadLlmSettings({})).toMatchObject({
      port: 8091,
      slots: 1,
      ctxSize: 8192,
      prefillTokensPerS: 2000,
      decodeTokensPerS: 60,
      completionTokensMean: 180,
      completionTokensSigma: 0.35,
      timeScale: 1,
      maxQueue: 64,
      loadSeconds: 0,
      modelName: 'nemotron-emulated',
      seed: undefined,
      faults: undefined,
    });
  });

  it('reads replayed completion lengths (EMULATOR_COMPLETION_TOKENS) and names the variable when they are not token counts', () => {
    expect(loadLlmSettings({}).completionTokensList).toEqual([]);
    expect(loadLlmSettings({ EMULATOR_COMPLETION_TOKENS: '180, 212,9' }).completionTokensList).toEqual([180, 212, 9]);
    expect(() => loadLlmSettings({ EMULATOR_COMPLETION_TOKENS: '180,12.5' })).toThrow(/EMULATOR_COMPLETION_TOKENS: expected comma-separated whole numbers/);
    expect(() => loadLlmSettings({ EMULATOR_COMPLETION_TOKENS: '0' })).toThrow(/EMULATOR_COMPLETION_TOKENS: expected 1 to 131072/);
  });

  it('names the faulty variable', () => {
    expect(() => loadLlmSettings({ EMULATOR_LLM_SLOTS: '0' })).toThrow(LlmSettingsError);
    expect(() => loadLlmSettings({ EMULATOR_LLM_SLOTS: 'two' })).toThrow(/EMULATOR_LLM_SLOTS/);
    expect(() => loadLlmSettings({ EMULATOR_TIME_SCALE: '0' })).toThrow(/EMULATOR_TIME_SCALE/);
    expect(() => loadLlmSettings({ EMULATOR_DECODE_TOKENS_PER_S: '-5' })).toThrow(/EMULATOR_DECODE_TOKENS_PER_S/);
    expect(() => loadLlmSettings({ EMULATOR_MAX_QUEUE: '-1' })).toThrow(/EMULATOR_MAX_QUEUE/);
    expect(() => loadLlmSettings({ EMULATOR_FAULTS: '{"delay_ms":-3}' })).toThrow(/EMULATOR_FAULTS\.delay_ms/);
    expect(loadLlmSettings({ EMULATOR_FAULTS: '{"error_rate":0.2,"routes":["/completion"]}' }).faults).toMatchObject({ errorRate: 0.2, routes: ['/completion'] });
  });
});
