import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { ExportResultCode } from '@opentelemetry/core';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../../reference-stack/common/log.ts';
import { createDetectorEmulator, SPAN_INFERENCE, type DetectorEmulator } from '../../../reference-stack/detector-emulator/app.ts';
import { dropsTrace, initDetectorTracing, LiveDetectorDefects, parseDetectorDefectSwitches, TraceDroppingExporter, type DetectorTracing } from '../../../reference-stack/detector-emulator/defects.ts';
import { EmulatorSettingsError, loadEmulatorSettings } from '../../../reference-stack/detector-emulator/settings.ts';

const require = createRequire(import.meta.url);
const jpeg = require('jpeg-js') as { encode(img: { data: Buffer; width: number; height: number }, quality: number): { data: Buffer } };
const IMAGE_BASE64 = jpeg.encode({ data: Buffer.alloc(32 * 24 * 4, 100), width: 32, height: 24 }, 50).data.toString('base64');
const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const SEED = 'defect-seed';
const FAST = { EMULATOR_SERVICE_MEAN_MS: '2', EMULATOR_SERVICE_P95_MS: '3', EMULATOR_SEED: SEED };

/** The exporter of the globally registered provider (the drop-spans test registers it). */
const globalMemory = new InMemorySpanExporter();
const apps: DetectorEmulator[] = [];
const tracings: DetectorTracing[] = [];
afterAll(async () => {
  await Promise.all(apps.map((a) => a.server.close(200)));
  for (const t of tracings) await t.shutdown(1000);
});

async function startDetector(env: Record<string, string>, tracing: DetectorTracing): Promise<string> {
  const app = createDetectorEmulator({ settings: loadEmulatorSettings({ ...FAST, ...env }), tracer: tracing.tracer, log: silent, seed: SEED, defects: tracing.defects });
  apps.push(app);
  await app.server.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
}

function detect(base: string, traceId: string): Promise<Response> {
  return fetch(`${base}/detect`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01`, baggage: 'camera.id=front_door' },
    body: JSON.stringify({ image_base64: IMAGE_BASE64 }),
  });
}

const randomTraceId = (): string => randomBytes(16).toString('hex');

describe('defect settings', () => {
  it('are off by default', () => {
    expect(loadEmulatorSettings({}).defects).toEqual({ notInstrumented: false, dropSpansFraction: 0 });
  });

  it('parse and name the variable', () => {
    expect(loadEmulatorSettings({ HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: '1', HSI_DEFECT_DETECTOR_DROPS_SPANS: '0.25' }).defects).toEqual({
      notInstrumented: true,
      dropSpansFraction: 0.25,
    });
    expect(loadEmulatorSettings({ HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: 'true' }).defects.notInstrumented).toBe(true);
    expect(loadEmulatorSettings({ HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: '0' }).defects.notInstrumented).toBe(false);
    expect(() => loadEmulatorSettings({ HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: 'yes' })).toThrow(/HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED/);
    expect(() => loadEmulatorSettings({ HSI_DEFECT_DETECTOR_DROPS_SPANS: '1.5' })).toThrow(EmulatorSettingsError);
    expect(() => loadEmulatorSettings({ HSI_DEFECT_DETECTOR_DROPS_SPANS: 'half' })).toThrow(/HSI_DEFECT_DETECTOR_DROPS_SPANS/);
    expect(() => loadEmulatorSettings({ EMULATOR_FAULTS: '{"routes":["/health"]}' })).toThrow(/EMULATOR_FAULTS\.routes\[0\]/);
  });
});

describe('dropsTrace', () => {
  it('drops the configured fraction of trace ids, deterministically per seed', () => {
    const ids = Array.from({ length: 2000 }, randomTraceId);
    for (const fraction of [0.1, 0.5, 0.8]) {
      const dropped = ids.filter((id) => dropsTrace(id, fraction, SEED)).length / ids.length;
      const sd = Math.sqrt((fraction * (1 - fraction)) / ids.length);
      expect(Math.abs(dropped - fraction)).toBeLessThan(4 * sd);
    }
    const id = randomTraceId();
    expect(dropsTrace(id, 0.5, SEED)).toBe(dropsTrace(id, 0.5, SEED));
    expect(ids.every((i) => !dropsTrace(i, 0, SEED) && dropsTrace(i, 1, SEED))).toBe(true);
    const a = ids.map((i) => dropsTrace(i, 0.5, 'a'));
    const b = ids.map((i) => dropsTrace(i, 0.5, 'b'));
    expect(a).not.toEqual(b);
  });

  it('leaves out whole traces in the exporter', async () => {
    const inner = new InMemorySpanExporter();
    const exporter = new TraceDroppingExporter(inner, new LiveDetectorDefects({ notInstrumented: false, dropSpansFraction: 0.5 }), SEED);
    const ids = Array.from({ length: 200 }, randomTraceId);
    const fake = (traceId: string, name: string) => ({ name, endTime: [Math.floor(Date.now() / 1000), 0], spanContext: () => ({ traceId, spanId: '1'.repeat(16), traceFlags: 1 }) }) as unknown as ReadableSpan;
    const spans = ids.flatMap((id) => [fake(id, 'POST /detect'), fake(id, SPAN_INFERENCE)]);
    const result = await new Promise<number>((resolve) => exporter.export(spans, (r) => resolve(r.code)));
    expect(result).toBe(ExportResultCode.SUCCESS);
    const kept = inner.getFinishedSpans();
    const keptIds = new Set(kept.map((s) => s.spanContext().traceId));
    expect(kept.length).toBe(keptIds.size * 2);
    expect([...keptIds].sort()).toEqual(ids.filter((id) => !dropsTrace(id, 0.5, SEED)).sort());
    expect(exporter.dropped).toBe(spans.length - kept.length);
  });
});

describe('HSI_DEFECT_DETECTOR_DROPS_SPANS', () => {
  it('exports complete detector traces for the kept fraction and nothing for the others', async () => {
    const memory = globalMemory;
    const tracing = initDetectorTracing({ notInstrumented: false, dropSpansFraction: 0.5 }, SEED, {
      serviceName: 'ai-yolo26-emulator',
      env: { OTEL_BSP_SCHEDULE_DELAY: '20' },
      exporter: memory,
    });
    tracings.push(tracing);
    const base = await startDetector({ HSI_DEFECT_DETECTOR_DROPS_SPANS: '0.5' }, tracing);
    const ids = Array.from({ length: 40 }, randomTraceId);
    for (const id of ids) expect((await detect(base, id)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50)); // SERVER spans end on the response's 'finish'
    await tracing.forceFlush(2000);

    const byTrace = new Map<string, string[]>();
    for (const span of memory.getFinishedSpans()) {
      const names = byTrace.get(span.spanContext().traceId) ?? [];
      names.push(span.name);
      byTrace.set(span.spanContext().traceId, names);
    }
    const expectedKept = ids.filter((id) => !dropsTrace(id, 0.5, SEED));
    expect(expectedKept.length).toBeGreaterThan(5);
    expect(expectedKept.length).toBeLessThan(35);
    expect([...byTrace.keys()].sort()).toEqual([...expectedKept].sort());
    for (const names of byTrace.values()) expect(names.sort()).toEqual(['POST /detect', SPAN_INFERENCE].sort());
    expect(tracing.dropper?.dropped).toBe((ids.length - expectedKept.length) * 2);
  });
});

describe('HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED', () => {
  it('still detects but exports no span at all', async () => {
    const memory = new InMemorySpanExporter();
    const tracing = initDetectorTracing({ notInstrumented: true, dropSpansFraction: 0 }, SEED, {
      serviceName: 'ai-yolo26-emulator',
      env: { OTEL_BSP_SCHEDULE_DELAY: '20' },
      exporter: memory,
    });
    tracings.push(tracing);
    const base = await startDetector({ HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: '1' }, tracing);
    const globalBefore = globalMemory.getFinishedSpans().length;
    for (let i = 0; i < 5; i++) {
      const res = await detect(base, randomTraceId());
      expect(res.status).toBe(200);
      const body = (await res.json()) as { detections: unknown[]; image_width: number };
      expect(body.detections.length).toBeGreaterThan(0);
      expect(body.image_width).toBe(32);
    }
    expect((await fetch(`${base}/health`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    await tracing.forceFlush(1000);
    expect(memory.getFinishedSpans()).toHaveLength(0);
    // Nothing reached a provider registered by another test either (no global tracer is used).
    expect(globalMemory.getFinishedSpans().length).toBe(globalBefore);
    const stats = (await (await fetch(`${base}/emulator/stats`)).json()) as Record<string, unknown>;
    expect(stats['defects']).toEqual({ not_instrumented: true, drop_spans_fraction: 0 });
  });
});

describe('LiveDetectorDefects', () => {
  it('answers the switches in effect at a past moment', () => {
    const live = new LiveDetectorDefects({ notInstrumented: false, dropSpansFraction: 0 });
    expect(live.set({ notInstrumented: true }, 1_000)).toEqual({ notInstrumented: false, dropSpansFraction: 0 });
    live.set({ notInstrumented: false, dropSpansFraction: 0.5 }, 2_000);
    expect(live.at(999)).toEqual({ notInstrumented: false, dropSpansFraction: 0 });
    expect(live.at(1_500)).toEqual({ notInstrumented: true, dropSpansFraction: 0 });
    expect(live.at(2_000)).toEqual({ notInstrumented: false, dropSpansFraction: 0.5 });
    expect(live.current).toEqual({ notInstrumented: false, dropSpansFraction: 0.5 });
    expect(live.anyOn).toBe(true);
  });

  it('parses a POST /admin/defects body and names a bad variable or value', () => {
    expect(parseDetectorDefectSwitches({ HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: 'on', HSI_DEFECT_DETECTOR_DROPS_SPANS: 0.25 })).toEqual({ notInstrumented: true, dropSpansFraction: 0.25 });
    expect(parseDetectorDefectSwitches({ HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: false, HSI_DEFECT_DETECTOR_DROPS_SPANS: '0' })).toEqual({ notInstrumented: false, dropSpansFraction: 0 });
    expect(() => parseDetectorDefectSwitches({ HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: 'maybe' })).toThrow(/^HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: expected 1 or 0/);
    expect(() => parseDetectorDefectSwitches({ HSI_DEFECT_DETECTOR_DROPS_SPANS: '2' })).toThrow(/^HSI_DEFECT_DETECTOR_DROPS_SPANS: expected a fraction/);
    expect(() => parseDetectorDefectSwitches({ HSI_DEFECT_ACK_BEFORE_STORE: '1' })).toThrow(/^HSI_DEFECT_ACK_BEFORE_STORE: not a detector defect switch/);
  });
});

describe('detector defect switches at run time (POST /admin/defects)', () => {
  async function post(base: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${base}/admin/defects`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('turns "not instrumented" and "drops spans" on and off on a running detector; spans are judged by the switches at their end', async () => {
    const memory = new InMemorySpanExporter();
    const tracing = initDetectorTracing({ notInstrumented: false, dropSpansFraction: 0 }, SEED, { serviceName: 'ai-yolo26-emulator', env: { OTEL_BSP_SCHEDULE_DELAY: '5000' }, exporter: memory });
    tracings.push(tracing);
    const base = await startDetector({}, tracing);
    const tracesExported = async (ids: string[]) => {
      await new Promise((r) => setTimeout(r, 50)); // SERVER spans end on the response's 'finish'
      await tracing.forceFlush(2000);
      const wanted = new Set(ids);
      return new Set(memory.getFinishedSpans().map((s) => s.spanContext().traceId).filter((id) => wanted.has(id)));
    };
    const run = async (n: number) => {
      const ids = Array.from({ length: n }, randomTraceId);
      for (const id of ids) expect((await detect(base, id)).status).toBe(200);
      return ids;
    };

    const healthy = await run(3);
    // Switched on: the spans that end from now on stay in the process, although the batch is exported later.
    const on = await post(base, { HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: '1' });
    expect(on).toEqual({ status: 200, body: { active: ['HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED'], switches: { HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: '1', HSI_DEFECT_DETECTOR_DROPS_SPANS: '0' }, previous: { HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: '0' } } });
    const dark = await run(4);
    await new Promise((r) => setTimeout(r, 50));
    // Then "drops spans" instead, before the batch left: the dark spans stay dropped.
    expect((await post(base, { HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: '0', HSI_DEFECT_DETECTOR_DROPS_SPANS: '0.5' })).body['active']).toEqual(['HSI_DEFECT_DETECTOR_DROPS_SPANS']);
    const halved = await run(40);
    expect(await tracesExported([...healthy, ...dark])).toEqual(new Set(healthy));
    expect(await tracesExported(halved)).toEqual(new Set(halved.filter((id) => !dropsTrace(id, 0.5, SEED))));
    expect(((await (await fetch(`${base}/emulator/stats`)).json()) as Record<string, unknown>)['defects']).toEqual({ not_instrumented: false, drop_spans_fraction: 0.5 });

    // Off again: every span is exported.
    expect((await post(base, { HSI_DEFECT_DETECTOR_DROPS_SPANS: 0 })).body['previous']).toEqual({ HSI_DEFECT_DETECTOR_DROPS_SPANS: '0.5' });
    expect(await (await fetch(`${base}/admin/defects`)).json()).toEqual({ active: [], switches: { HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: '0', HSI_DEFECT_DETECTOR_DROPS_SPANS: '0' } });
    const again = await run(3);
    expect(await tracesExported(again)).toEqual(new Set(again));

    // A bad request changes nothing and names the variable.
    const bad = await post(base, { HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: '1', HSI_DEFECT_DETECTOR_DROPS_SPANS: 'half' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('HSI_DEFECT_DETECTOR_DROPS_SPANS: expected a fraction between 0 and 1');
    expect(((await (await fetch(`${base}/admin/defects`)).json()) as { active: string[] }).active).toEqual([]);
  });
});
