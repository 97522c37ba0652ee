import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTracedServer, json } from '../../../reference-stack/common/http.ts';
import { createLogger } from '../../../reference-stack/common/log.ts';
import {
  batchProcessorConfig,
  extractTraceCarrier,
  initTracing,
  injectTraceCarrier,
  sampleRateFromEnv,
  type Tracing,
} from '../../../reference-stack/telemetry/tracing.ts';

const memory = new InMemorySpanExporter();
let tracing: Tracing;

beforeAll(() => {
  tracing = initTracing({
    serviceName: 'unit-test',
    env: { OTEL_TRACES_EXPORTER: 'none' },
    extraSpanProcessors: [new SimpleSpanProcessor(memory)],
  });
});

afterAll(async () => {
  await tracing.shutdown(1000);
});

describe('tracing settings', () => {
  it('reads the sample rate and the schedule delay', () => {
    expect(sampleRateFromEnv({})).toBe(1);
    expect(sampleRateFromEnv({ OTEL_TRACE_SAMPLE_RATE: '0.25' })).toBe(0.25);
    expect(() => sampleRateFromEnv({ OTEL_TRACE_SAMPLE_RATE: '2' })).toThrow(/OTEL_TRACE_SAMPLE_RATE/);
    expect(batchProcessorConfig({})).toEqual({ maxQueueSize: 8192, maxExportBatchSize: 1024, scheduledDelayMillis: 2000, exportTimeoutMillis: 30_000 });
    expect(batchProcessorConfig({ OTEL_BSP_SCHEDULE_DELAY: '100' }).scheduledDelayMillis).toBe(100);
  });

  it('uses the given service name', () => {
    expect(tracing.serviceName).toBe('unit-test');
  });
});

describe('queue message carrier', () => {
  it('makes the consumer a child of the producer, baggage included', () => {
    memory.reset();
    const producer = tracing.tracer.startSpan('detection_queue publish', { kind: SpanKind.PRODUCER });
    const bag = propagation.createBaggage({ 'camera.id': { value: 'front_door' } });
    const ctx = propagation.setBaggage(trace.setSpan(context.active(), producer), bag);
    const carrier = injectTraceCarrier(ctx);
    producer.end();
    expect(carrier?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(carrier?.baggage).toBe('camera.id=front_door');

    const roundTripped = JSON.parse(JSON.stringify({ trace_context: carrier })) as { trace_context: unknown };
    const parent = extractTraceCarrier(roundTripped.trace_context);
    expect(propagation.getBaggage(parent)?.getEntry('camera.id')?.value).toBe('front_door');
    const consumer = tracing.tracer.startSpan('detection_processing', { kind: SpanKind.CONSUMER }, parent);
    consumer.end();
    const [p, c] = memory.getFinishedSpans();
    expect(c?.spanContext().traceId).toBe(p?.spanContext().traceId);
    expect(c?.parentSpanContext?.spanId).toBe(p?.spanContext().spanId);
  });

  it('ignores malformed carriers', () => {
    expect(trace.getSpanContext(extractTraceCarrier(undefined))).toBeUndefined();
    expect(trace.getSpanContext(extractTraceCarrier({ traceparent: 42 }))).toBeUndefined();
    expect(trace.getSpanContext(extractTraceCarrier({ traceparent: 'garbage' }))).toBeUndefined();
  });
});

describe('traced HTTP server', () => {
  it('continues the caller traceparent and names the span by route', async () => {
    memory.reset();
    const server = createTracedServer({
      tracer: tracing.tracer,
      log: createLogger('unit-test'),
      routes: [{ method: 'GET', pattern: /^\/things\/([^/]+)$/, template: '/things/{id}', handler: async ({ params }) => json(200, { id: params[0] }) }],
    });
    await server.listen(0, '127.0.0.1');
    const port = (server.server.address() as AddressInfo).port;
    const get = (path: string): Promise<{ status: number; body: string; traceId: string | undefined }> =>
      new Promise((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path, headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', baggage: 'camera.id=porch' } },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body, traceId: res.headers['x-trace-id'] as string | undefined }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    const ok = await get('/things/abc');
    const missing = await get('/nothing');
    await server.close(500);
    expect(ok).toMatchObject({ status: 200, body: '{"id":"abc"}', traceId: '0af7651916cd43dd8448eb211c80319c' });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ error: 'not_found' });
    const spans = memory.getFinishedSpans();
    const named = spans.find((s) => s.name === 'GET /things/{id}');
    expect(named?.kind).toBe(SpanKind.SERVER);
    expect(named?.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(named?.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(named?.attributes).toMatchObject({ 'http.route': '/things/{id}', 'http.response.status_code': 200, 'camera.id': 'porch' });
    expect(spans.some((s) => s.name === 'GET')).toBe(true);
  });
});
