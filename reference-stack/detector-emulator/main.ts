import { createHash, randomBytes } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { createTracedServer, HttpError, json, multipartFile, readBody, type JsonResponse, type RouteRequest } from '../common/http.ts';
import { readImageInfo } from '../common/image.ts';
import { createLogger } from '../common/log.ts';
import { sleep } from '../common/timing.ts';
import { initTracing, inSpan } from '../telemetry/tracing.ts';
import { createRng, emulateDetections, sampleLognormal, SlotPool } from './emulation.ts';
import { EmulatorSettingsError, loadEmulatorSettings, type EmulatorSettings } from './settings.ts';

/**
 * YOLO26 detector EMULATOR: a CPU stand-in for HSI's GPU object detector (ai-yolo26, port 8095).
 * It speaks the real service's HTTP contract, but runs no model: it reads the image header for
 * the size, derives 1-3 detections from the image's SHA-256, and holds each request for a
 * service time drawn from a lognormal (EMULATOR_SERVICE_MEAN_MS / _P95_MS) on one of
 * EMULATOR_GPU_SLOTS "slots", queueing FIFO when all are busy. It sleeps; it does not burn CPU.
 */

export const DEFAULT_SERVICE_NAME = 'ai-yolo26-emulator';
export const EMULATED_MODEL_NAME = 'yolo26-emulated';
export const SPAN_INFERENCE = 'yolo26_inference';

const log = createLogger(process.env['OTEL_SERVICE_NAME'] ?? DEFAULT_SERVICE_NAME);

function decodeBase64Image(value: string): Buffer {
  const data = value.replace(/^data:[^;,]+;base64,/, '').replace(/\s+/g, '');
  if (data === '' || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(data)) throw new HttpError(400, 'invalid_base64', 'image_base64 is not valid base64');
  return Buffer.from(data, 'base64');
}

async function main(): Promise<void> {
  let settings: EmulatorSettings;
  try {
    settings = loadEmulatorSettings();
  } catch (error) {
    if (error instanceof EmulatorSettingsError) {
      log.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const seed = settings.seed ?? randomBytes(8).toString('hex');
  const rng = createRng(seed);
  const slots = new SlotPool(settings.gpuSlots);
  const analyticCapacityRps = Math.round((settings.gpuSlots / (settings.serviceMeanMs / 1000)) * 100) / 100;
  const stats = { requests: 0, completed: 0, rejected: 0, totalQueueWaitMs: 0, totalServiceMs: 0 };

  const tracing = initTracing({
    serviceName: DEFAULT_SERVICE_NAME,
    resourceAttributes: { 'service.version': '0.1.0', 'ai.emulated': true, 'hsi.reference_stack': true, 'hsi.component': 'ai-yolo26' },
  });
  const { tracer } = tracing;

  async function detect({ req, span }: RouteRequest): Promise<JsonResponse> {
    stats.requests++;
    const contentType = (req.headers['content-type'] ?? '').toLowerCase();
    let image: Buffer | undefined;
    try {
      const body = await readBody(req, settings.maxBodyBytes);
      if (contentType.startsWith('multipart/form-data')) {
        image = await multipartFile(body, req.headers['content-type'] ?? '', 'file');
        if (image === undefined) throw new HttpError(400, 'missing_file', 'multipart field "file" is missing');
      } else if (contentType.startsWith('application/json')) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          throw new HttpError(400, 'invalid_json', 'the body is not valid JSON');
        }
        const encoded = (parsed as { image_base64?: unknown } | null)?.image_base64;
        if (typeof encoded !== 'string') throw new HttpError(400, 'missing_image', 'JSON body needs a string field image_base64');
        image = decodeBase64Image(encoded);
      } else {
        throw new HttpError(415, 'unsupported_content_type', 'send multipart/form-data (field "file") or application/json {image_base64}');
      }
    } catch (error) {
      stats.rejected++;
      throw error;
    }
    const info = readImageInfo(image);
    if (info === undefined) {
      stats.rejected++;
      throw new HttpError(400, 'invalid_image', 'the image could not be decoded (not a JPEG/PNG with a readable header)');
    }
    const digest = createHash('sha256').update(image).digest();
    span.setAttributes({ 'ai.inference.image_width': info.width, 'ai.inference.image_height': info.height, 'file.hash': digest.toString('hex') });

    const result = await inSpan(
      tracer,
      SPAN_INFERENCE,
      { kind: SpanKind.INTERNAL, attributes: { 'ai.emulated': true, 'ai.model.name': EMULATED_MODEL_NAME, 'ai.inference.slots': slots.size } },
      async (inference) => {
        const queuedAt = performance.now();
        inference.setAttribute('ai.inference.queue_depth', slots.queued);
        const release = await slots.acquire();
        const queueWaitMs = performance.now() - queuedAt;
        try {
          const serviceMs = sampleLognormal(rng, settings.serviceTime);
          await sleep(serviceMs);
          const detections = emulateDetections(digest, info.width, info.height);
          const inferenceMs = Math.round(serviceMs * 10) / 10;
          inference.setAttributes({
            'ai.inference.queue_wait_ms': Math.round(queueWaitMs * 10) / 10,
            'ai.inference.time_ms': inferenceMs,
            'ai.inference.detections': detections.length,
          });
          stats.completed++;
          stats.totalQueueWaitMs += queueWaitMs;
          stats.totalServiceMs += serviceMs;
          return { detections, inference_time_ms: inferenceMs, image_width: info.width, image_height: info.height };
        } finally {
          release();
        }
      },
    );
    span.setAttribute('ai.inference.detections', result.detections.length);
    return json(200, result, { 'x-emulated': 'true' });
  }

  async function health(): Promise<JsonResponse> {
    return json(200, {
      status: 'healthy',
      model_loaded: true,
      device: 'cpu-emulated',
      cuda_available: false,
      model_name: EMULATED_MODEL_NAME,
      vram_used_gb: 0,
      tensorrt_enabled: false,
      emulated: true,
      slots: settings.gpuSlots,
      analytic_capacity_rps: analyticCapacityRps,
      service_time_ms: { mean: settings.serviceMeanMs, p95: settings.serviceP95Ms, distribution: 'lognormal', ...settings.serviceTime },
    });
  }

  async function emulatorStats(): Promise<JsonResponse> {
    return json(200, {
      emulated: true,
      seed,
      slots: settings.gpuSlots,
      slots_in_use: slots.inUse,
      queue_depth: slots.queued,
      requests: stats.requests,
      completed: stats.completed,
      rejected: stats.rejected,
      mean_queue_wait_ms: stats.completed === 0 ? 0 : Math.round((stats.totalQueueWaitMs / stats.completed) * 10) / 10,
      mean_service_ms: stats.completed === 0 ? 0 : Math.round((stats.totalServiceMs / stats.completed) * 10) / 10,
      analytic_capacity_rps: analyticCapacityRps,
    });
  }

  const server = createTracedServer({
    tracer,
    log,
    spanAttributes: { 'ai.emulated': true },
    routes: [
      { method: 'POST', pattern: /^\/detect\/?$/, template: '/detect', handler: detect },
      { method: 'GET', pattern: /^\/health\/?$/, template: '/health', handler: health },
      { method: 'GET', pattern: /^\/emulator\/stats\/?$/, template: '/emulator/stats', handler: emulatorStats },
    ],
  });

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    setTimeout(() => process.exit(1), 5000).unref();
    await server.close(2500);
    await tracing.shutdown(1500);
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  await server.listen(settings.port, settings.host);
  log.info('YOLO26 emulator listening', {
    port: settings.port,
    slots: settings.gpuSlots,
    service_mean_ms: settings.serviceMeanMs,
    service_p95_ms: settings.serviceP95Ms,
    seed,
    analytic_capacity_rps: analyticCapacityRps,
  });
}

process.on('unhandledRejection', (reason) => {
  log.error('unhandled promise rejection', { error: reason });
});

await main();
