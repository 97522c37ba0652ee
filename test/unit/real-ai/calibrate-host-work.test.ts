import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitDetector, fitHostWork } from '../../../harness/calibrate/fit.ts';
import { aiSpanSamples } from '../../../harness/experiment/ai-engine-figures.ts';
import type { NormalizedSpan } from '../../../harness/traces/span-model.ts';
import type { Logger } from '../../../reference-stack/common/log.ts';
import { createDetectorEmulator, SPAN_INFERENCE, type DetectorEmulator } from '../../../reference-stack/detector-emulator/app.ts';
import { createRng, lognormalFromMeanP95, normal, sampleHostWork, sampleLognormal } from '../../../reference-stack/detector-emulator/emulation.ts';
import { loadEmulatorSettings } from '../../../reference-stack/detector-emulator/settings.ts';
import { initTracing, type Tracing } from '../../../reference-stack/telemetry/tracing.ts';

/**
 * The real detector decodes, letterboxes and decodes the output of one image at a time on its
 * event loop (work growing with the image's pixels), and runs inference on its slots. The fit
 * must separate the two (else the emulator lacks the serial stage a burst of calls queues on),
 * and the emulator must serialise its host stage.
 */

const SIZES = [0.3072, 0.9216, 2.0736]; // 640×480, 1280×720, 1920×1080

function realLikeSamples(n: number, seed: string) {
  const rng = createRng(seed);
  const inference = lognormalFromMeanP95(40, 55);
  return Array.from({ length: n }, (_, i) => {
    const megapixels = SIZES[i % SIZES.length]!;
    const hostMs = (20 + 45 * megapixels) * Math.exp(0.3 * normal(rng));
    const inferenceMs = sampleLognormal(rng, inference);
    return { atMs: i, inferenceMs, serviceMs: inferenceMs + hostMs, hostMs, megapixels, weights: 'synthetic', device: 'cpu' };
  });
}

describe('host work fit (work outside the slots)', () => {
  it('finds the per-image base, the per-megapixel slope and the spread it was drawn with', () => {
    const host = fitHostWork(realLikeSamples(6000, 'host-fit'));
    expect(host.baseMs).toBeGreaterThan(20 * 0.85);
    expect(host.baseMs).toBeLessThan(20 * 1.15);
    expect(host.perMegapixelMs).toBeGreaterThan(45 * 0.93);
    expect(host.perMegapixelMs).toBeLessThan(45 * 1.07);
    expect(host.sigma).toBeCloseTo(0.3, 1);
  });

  it('without sizes (or one size) the median is the model; the slope never goes negative', () => {
    const flat = fitHostWork([50, 60, 70, 80, 90].map((hostMs) => ({ hostMs })));
    expect(flat).toMatchObject({ baseMs: 70, perMegapixelMs: 0 });
    const shrinking = fitHostWork([{ hostMs: 100, megapixels: 0.3 }, { hostMs: 90, megapixels: 1 }, { hostMs: 80, megapixels: 2 }]);
    expect(shrinking.perMegapixelMs).toBe(0);
    expect(shrinking.baseMs).toBe(90);
    // all of the work grows with the pixels: the line through the origin (no negative base)
    const proportional = fitHostWork([{ hostMs: 3, megapixels: 0.1 }, { hostMs: 100, megapixels: 1 }, { hostMs: 200, megapixels: 2 }]);
    expect(proportional.baseMs).toBe(0);
    expect(proportional.perMegapixelMs).toBeGreaterThan(95);
  });

  it('gives the emulator two stages: inference alone on the slots, the host work serial before them', () => {
    const cal = fitDetector(realLikeSamples(3000, 'split'), { detectorConcurrency: 2 });
    // the slots' time is the inference alone (40 / 55 ms), not decode + inference (~100 ms)
    expect(Number(cal.env['EMULATOR_SERVICE_MEAN_MS'])).toBeGreaterThan(40 * 0.95);
    expect(Number(cal.env['EMULATOR_SERVICE_MEAN_MS'])).toBeLessThan(40 * 1.05);
    expect(Number(cal.env['EMULATOR_SERVICE_P95_MS'])).toBeGreaterThan(55 * 0.95);
    expect(Number(cal.env['EMULATOR_SERVICE_P95_MS'])).toBeLessThan(55 * 1.05);
    expect(Number(cal.env['EMULATOR_HOST_WORK_MS_PER_MEGAPIXEL'])).toBeGreaterThan(40);
    // the modelled per-image work (host + inference) reproduces the measured one
    const all = cal.fit['serviceMs'];
    if (typeof all !== 'object') throw new Error('no fit');
    expect(Math.abs(all.fitted.p50 - all.measured.p50) / all.measured.p50).toBeLessThan(0.05);
    expect(Math.abs(all.fitted.p95 - all.measured.p95) / all.measured.p95).toBeLessThan(0.1);
    // the env is what the emulator reads, and it draws the same host work back
    const settings = loadEmulatorSettings(cal.env);
    if (!settings.hostWork) throw new Error('no host stage');
    const rng = createRng('draw');
    const draws = Array.from({ length: 4000 }, () => sampleHostWork(rng, settings.hostWork!, 1920, 1080)).sort((a, b) => a - b);
    expect(draws[2000]! / (20 + 45 * 2.0736)).toBeGreaterThan(0.9);
    expect(draws[2000]! / (20 + 45 * 2.0736)).toBeLessThan(1.1);
  });

  it("keeps the one-stage fit for samples without host figures (older runs, the emulator's own spans)", () => {
    const samples = realLikeSamples(50, 'old').map(({ hostMs: _h, megapixels: _m, ...s }) => s);
    const cal = fitDetector(samples, { detectorConcurrency: 2 });
    expect(cal.env['EMULATOR_HOST_WORK_MS']).toBeUndefined();
    expect(Number(cal.env['EMULATOR_SERVICE_MEAN_MS'])).toBeGreaterThan(80);
  });
});

describe('detector samples from spans', () => {
  it("read the host work from the inference span and the image's size from its server span", () => {
    const span = (id: string, name: string, parent: string | undefined, attributes: Record<string, number>): NormalizedSpan =>
      ({ traceId: 't', spanId: id, parentSpanId: parent, name, service: 'ai-yolo26', kind: 'server', startTimeMs: 1000, durationMs: 120, attributes, resource: {}, status: { code: 'unset' }, events: [], links: [] }) as unknown as NormalizedSpan;
    const samples = aiSpanSamples(
      [
        span('s', 'POST /detect', undefined, { 'ai.inference.image_width': 1920, 'ai.inference.image_height': 1080 }),
        span('i', 'yolo26_inference', 's', { 'ai.inference.time_ms': 40, 'ai.inference.decode_ms': 60, 'ai.inference.preprocess_ms': 5, 'ai.inference.postprocess_ms': 1 }),
      ],
      0,
    );
    expect(samples.detector).toEqual([expect.objectContaining({ inferenceMs: 40, hostMs: 66, serviceMs: 106, megapixels: 2.0736 })]);
  });
});

const require = createRequire(import.meta.url);
const jpeg = require('jpeg-js') as { encode(img: { data: Buffer; width: number; height: number }, quality: number): { data: Buffer } };
const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const memory = new InMemorySpanExporter();
let tracing: Tracing;
const apps: DetectorEmulator[] = [];
beforeAll(() => {
  tracing = initTracing({ serviceName: 'ai-yolo26-emulator', env: { OTEL_TRACES_EXPORTER: 'none' }, extraSpanProcessors: [new SimpleSpanProcessor(memory)] });
});
afterAll(async () => {
  await Promise.all(apps.map((a) => a.server.close(200)));
  await tracing.shutdown(1000);
});

/** `calls` concurrent detections; the inference spans' attributes. */
async function burst(env: Record<string, string>, calls: number): Promise<Record<string, unknown>[]> {
  memory.reset();
  const app = createDetectorEmulator({ settings: loadEmulatorSettings({ EMULATOR_SERVICE_MEAN_MS: '5', EMULATOR_SERVICE_P95_MS: '6', EMULATOR_GPU_SLOTS: '4', ...env }), tracer: tracing.tracer, log: silent, seed: 'host-stage' });
  apps.push(app);
  await app.server.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
  const body = JSON.stringify({ image_base64: jpeg.encode({ data: Buffer.alloc(32 * 24 * 4, 90), width: 32, height: 24 }, 50).data.toString('base64') });
  const answers = await Promise.all(Array.from({ length: calls }, () => fetch(`${base}/detect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })));
  expect(answers.every((a) => a.status === 200)).toBe(true);
  // startMs: when the call reached the host stage (the inference span starts right before it)
  return memory.getFinishedSpans().filter((s) => s.name === SPAN_INFERENCE).map((s) => ({ ...s.attributes, startMs: s.startTime[0] * 1000 + s.startTime[1] / 1e6 }));
}

describe('detector emulator host stage', () => {
  it('is off by default and, when calibrated, runs one call at a time (one event loop) whatever the slots', async () => {
    expect(loadEmulatorSettings({}).hostWork).toBeUndefined();
    expect(() => loadEmulatorSettings({ EMULATOR_HOST_WORK_SIGMA: '4' })).toThrow(/EMULATOR_HOST_WORK_SIGMA/);
    const none = await burst({}, 4);
    expect(none.map((a) => a['ai.inference.preprocess_ms'])).toEqual([undefined, undefined, undefined, undefined]);
    // 4 calls at once on 4 slots, 60 ms of host work each: they take the one loop in turn. Judged
    // on each call's own host interval [arrival + wait, + 60 ms], not on the waits alone (a loaded
    // machine staggers the arrivals, and a late call waits less): no two intervals overlap, and a
    // call that arrived while another held the loop waited for it (2.5 ms: span start times have
    // 1 ms resolution here and a timer may fire ~1 ms early against performance.now()). On
    // parallel slots (SlotPool(4) for the host loop: tried) the starts coincide and every wait
    // would be ~0 and the intervals of calls arriving together would overlap.
    const serial = await burst({ EMULATOR_HOST_WORK_MS: '60' }, 4);
    expect(serial.map((a) => a['ai.inference.preprocess_ms'])).toEqual([60, 60, 60, 60]);
    const host = serial.map((a) => ({ arrived: Number(a['startMs']), start: Number(a['startMs']) + Number(a['ai.inference.host_wait_ms']) })).sort((x, y) => x.start - y.start);
    const contended = host.filter((h, i) => i > 0 && h.arrived < host[i - 1]!.start + 60);
    expect(contended.length, JSON.stringify(host)).toBeGreaterThan(0);
    for (let i = 1; i < host.length; i++) expect(host[i]!.start, JSON.stringify(host)).toBeGreaterThanOrEqual(host[i - 1]!.start + 60 - 2.5);
  });
});
