import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../../reference-stack/common/log.ts';
import { createDetectorEmulator, SPAN_INFERENCE, type DetectorEmulator } from '../../../reference-stack/detector-emulator/app.ts';
import { loadEmulatorSettings } from '../../../reference-stack/detector-emulator/settings.ts';
import { initTracing, type Tracing } from '../../../reference-stack/telemetry/tracing.ts';

const require = createRequire(import.meta.url);
const jpeg = require('jpeg-js') as { encode(img: { data: Buffer; width: number; height: number }, quality: number): { data: Buffer } };
const IMAGE = jpeg.encode({ data: Buffer.alloc(40 * 30 * 4, 90), width: 40, height: 30 }, 50).data;
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

async function start(env: Record<string, string> = {}): Promise<string> {
  const settings = loadEmulatorSettings({ EMULATOR_SERVICE_MEAN_MS: '2', EMULATOR_SERVICE_P95_MS: '3', EMULATOR_SEED: 's', ...env });
  const app = createDetectorEmulator({ settings, tracer: tracing.tracer, log: silent, seed: 's' });
  apps.push(app);
  await app.server.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
}

function detect(base: string, traceId?: string): Promise<Response> {
  const form = new FormData();
  form.append('file', new Blob([IMAGE], { type: 'image/jpeg' }), 'frame.jpg');
  return fetch(`${base}/detect`, { method: 'POST', body: form, headers: traceId === undefined ? {} : { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
}

describe('detector service times', () => {
  it('replays EMULATOR_SERVICE_TIMES_MS in order, then from the start again, instead of drawing', async () => {
    const base = await start({ EMULATOR_SERVICE_TIMES_MS: '3,7.5' });
    const times: unknown[] = [];
    for (let i = 0; i < 3; i++) times.push(((await (await detect(base)).json()) as { inference_time_ms: unknown }).inference_time_ms);
    expect(times).toEqual([3, 7.5, 3]);
    expect(await (await fetch(`${base}/health`)).json()).toMatchObject({ service_time_ms: { distribution: 'replayed', replayed: 2 } });
  });
});

describe('detector fault knobs', () => {
  it('fails /detect with the configured status until deleted; health and stats are never faulted', async () => {
    const base = await start();
    expect((await detect(base)).status).toBe(200);
    const put = await fetch(`${base}/admin/faults`, { method: 'PUT', body: JSON.stringify({ error_rate: 1, status_code: 502 }) });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ active: true, settings: { routes: ['/detect'], status_code: 502 } });

    const traceId = '0123456789abcdef0123456789abcdef';
    const failed = await detect(base, traceId);
    expect(failed.status).toBe(502);
    expect(await failed.json()).toEqual({ error: 'fault_injected', detail: 'emulated fault: injected HTTP 502' });
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect((await fetch(`${base}/emulator/stats`)).status).toBe(200);
    const span = await vi.waitFor(() => {
      const found = memory.getFinishedSpans().find((s) => s.spanContext().traceId === traceId && s.name === 'POST /detect');
      if (found === undefined) throw new Error('not yet');
      return found;
    });
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.events.find((e) => e.name === 'fault_injected')?.attributes).toMatchObject({ 'fault.kind': 'error', 'fault.status_code': 502 });
    // The emulated inference never ran.
    expect(memory.getFinishedSpans().some((s) => s.spanContext().traceId === traceId && s.name === SPAN_INFERENCE)).toBe(false);

    expect((await fetch(`${base}/admin/faults`, { method: 'DELETE' })).status).toBe(200);
    expect((await detect(base)).status).toBe(200);
    const stats = (await (await fetch(`${base}/emulator/stats`)).json()) as { faults: { counters: Record<string, number> } };
    expect(stats.faults.counters).toMatchObject({ considered: 1, errors_injected: 1 });
  });

  it('rejects routes other than /detect', async () => {
    const base = await start();
    const res = await fetch(`${base}/admin/faults`, { method: 'PUT', body: JSON.stringify({ routes: ['/completion'] }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: 'routes[0]' });
  });

  it('applies EMULATOR_FAULTS from the start (delay)', async () => {
    const base = await start({ EMULATOR_FAULTS: '{"delay_ms":120}' });
    const t0 = performance.now();
    expect((await detect(base)).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(115);
  });
});
