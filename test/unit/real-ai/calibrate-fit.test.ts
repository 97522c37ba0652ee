import { describe, expect, it } from 'vitest';
import { CalibrationError, compareStages, fitDetector, fitLlm, lognormalFor } from '../../../harness/calibrate/fit.ts';
import { createRng, lognormalFromMeanP95, sampleLognormal } from '../../../reference-stack/detector-emulator/emulation.ts';

describe('calibration fits', () => {
  it('fits the detector emulator to measured service times and reproduces their p50/p95', () => {
    // Service times drawn from a known lognormal: the fit must find its mean and p95 again
    // (through their p50 and p95).
    const rng = createRng('calibrate');
    const truth = lognormalFromMeanP95(150, 260);
    const samples = Array.from({ length: 4000 }, (_, i) => ({ atMs: i, inferenceMs: 0, serviceMs: sampleLognormal(rng, truth), weights: undefined, device: undefined }));
    const cal = fitDetector(samples, { detectorConcurrency: 2 });
    expect(cal.env['EMULATOR_GPU_SLOTS']).toBe('2');
    expect(Number(cal.env['EMULATOR_SERVICE_MEAN_MS'])).toBeGreaterThan(150 * 0.97);
    expect(Number(cal.env['EMULATOR_SERVICE_MEAN_MS'])).toBeLessThan(150 * 1.03);
    expect(Number(cal.env['EMULATOR_SERVICE_P95_MS'])).toBeGreaterThan(260 * 0.95);
    expect(Number(cal.env['EMULATOR_SERVICE_P95_MS'])).toBeLessThan(260 * 1.05);
    const fit = cal.fit['serviceMs'];
    if (typeof fit !== 'object') throw new Error('no fit');
    expect(Math.abs(fit.fitted.p50 - fit.measured.p50) / fit.measured.p50).toBeLessThan(0.001);
    expect(Math.abs(fit.fitted.p95 - fit.measured.p95) / fit.measured.p95).toBeLessThan(0.001);
    expect(cal.env['EMULATOR_DETECTIONS_PER_IMAGE']).toBeUndefined(); // no counts on the spans: the emulator keeps its own
  });

  it("gives the emulator the real detector's objects per image (they size the LLM's prompts)", () => {
    const samples = Array.from({ length: 20 }, (_, i) => ({ atMs: i, inferenceMs: 10, serviceMs: 100 + i, weights: undefined, device: undefined, detections: i % 2 === 0 ? 4 : 5 }));
    const cal = fitDetector(samples, { detectorConcurrency: 1 });
    expect(cal.env['EMULATOR_DETECTIONS_PER_IMAGE']).toBe('5'); // mean 4.5, rounded
    expect(cal.fit['detectionsPerImage']).toBe(5);
  });

  it('clamps a p95 a lognormal cannot have, and refuses too few samples', () => {
    // p95/p50 = 20 needs sigma > z95: capped, so the emulator can take it.
    const wide = lognormalFor(100, 2000);
    expect(wide.p95 / wide.mean).toBeLessThan(Math.exp(1.6448536269514722 ** 2 / 2));
    expect(lognormalFor(100, 90).p95).toBeGreaterThanOrEqual(100);
    const ok = lognormalFor(100, 300);
    expect(() => lognormalFromMeanP95(ok.mean, ok.p95)).not.toThrow();
    expect(() => fitDetector([{ atMs: 0, inferenceMs: 1, serviceMs: 1, weights: undefined, device: undefined }], { detectorConcurrency: 1 })).toThrow(CalibrationError);
  });

  it('fits the LLM emulator: prefill rate in the emulator\'s tokens (chars / 4), decode rate, the spread of the engine time, time scale 1', () => {
    const samples = Array.from({ length: 20 }, (_, i) => ({
      atMs: i,
      callMs: i % 2 === 0 ? 1550 : 1760, // 50 ms outside the engine's timings
      tokensPerSecond: undefined,
      promptTokens: 500,
      promptChars: 4000, // 1000 emulator tokens
      promptMs: 500, // -> 2000 emulator tokens/s
      generatedTokens: i % 2 === 0 ? 100 : 121,
      generationMs: i % 2 === 0 ? 1000 : 1210, // -> 100 tokens/s
    }));
    const cal = fitLlm(samples, { llmParallel: 2, llmCtxSize: 8192 });
    expect(cal.env).toMatchObject({
      EMULATOR_LLM_SLOTS: '2',
      EMULATOR_CTX_SIZE: '4096',
      EMULATOR_PREFILL_TOKENS_PER_S: '2000',
      EMULATOR_DECODE_TOKENS_PER_S: '100',
      EMULATOR_COMPLETION_TOKENS_MEAN: '116',
      EMULATOR_TIME_SCALE: '1',
    });
    // The engine's time beyond prefill plus the 50 ms overhead (1050 / 1260 ms) sets the spread: p50 1155, p95 1260 ms.
    expect(Number(cal.env['EMULATOR_COMPLETION_TOKENS_SIGMA'])).toBeCloseTo(Math.log(1260 / 1155) / 1.6448536269514722, 3);
    expect(cal.fit['callOverheadMs']).toBe(50);
    expect(() => fitLlm(samples.slice(0, 2), { llmParallel: 1, llmCtxSize: 4096 })).toThrow(/at least 5 are needed/);
  });
});

describe('stage comparison', () => {
  it('passes stages within ±15 % at p50 and p95 and fails the others or missing ones', () => {
    const op = (name: string, p50Ms: number, p95Ms: number) => ({ name, p50Ms, p95Ms });
    const rows = compareStages(
      [op('yolo26_detection_request', 100, 200), op('detection_processing', 100, 200), op('llm_inference', 1000, 2000)],
      [op('yolo26_detection_request', 114, 170), op('detection_processing', 100, 240), op('llm_inference', 1000, 2000), op('analysis_processing', 1, 1)],
    );
    expect(rows.map((r) => [r.stage, r.within])).toEqual([
      ['yolo26_detection_request', true],
      ['detection_processing', false],
      ['llm_inference', true],
      ['analysis_processing', false],
    ]);
    expect(rows[1]?.p95Diff).toBeCloseTo(0.2);
  });
});

describe('ai-samples.json read back', () => {
  it("keeps the detector's objects per image (the fit needs them)", async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { readAiSamples } = await import('../../../harness/calibrate/calibration-file.ts');
    const dir = mkdtempSync(join(tmpdir(), 'ai-samples-'));
    const samples = { llm: [], detector: [{ atMs: 1, inferenceMs: 10, serviceMs: 30, device: 'cpu', detections: 4 }], detectorCalls: [] };
    writeFileSync(join(dir, 'ai-samples.json'), JSON.stringify({ modes: { detector: 'real', llm: 'real' }, samples }));
    expect(readAiSamples(dir).samples.detector[0]!.detections).toBe(4);
  });
});
