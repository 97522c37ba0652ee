import { createHash } from 'node:crypto';
import { SpanKind, type Tracer } from '@opentelemetry/api';
import { FaultInjector, faultSettingsJson } from '../common/fault-knobs.ts';
import { imageFromRequest } from '../common/detect-request.ts';
import { createTracedServer, errorBody, HttpError, json, type ErrorStyle, type JsonResponse, type RouteRequest, type TracedServer } from '../common/http.ts';
import { readImageInfo } from '../common/image.ts';
import { errorStyleFor, type StackProfile } from '../common/profile.ts';
import type { Logger } from '../common/log.ts';
import { sleep } from '../common/timing.ts';
import { inSpan } from '../telemetry/tracing.ts';
import { createRng, emulateDetections, sampleLognormal, SlotPool } from './emulation.ts';
import { DETECTOR_FAULTABLE_ROUTES, type EmulatorSettings } from './settings.ts';

/**
 * The YOLO26 detector emulator's HTTP application, apart from process concerns (settings,
 * tracing set-up, signals) so that tests can run it on an ephemeral port.
 */

export const DEFAULT_SERVICE_NAME = 'ai-yolo26-emulator';
export const EMULATED_MODEL_NAME = 'yolo26-emulated';
export const SPAN_INFERENCE = 'yolo26_inference';

export interface DetectorEmulatorOptions {
  settings: EmulatorSettings;
  tracer: Tracer;
  log: Logger;
  /** Seed of the service-time draws (EMULATOR_SEED, or a random one the caller logged). */
  seed: string;
  /** Extra fields for /emulator/stats (e.g. the span-dropping defect's counter). */
  extraStats?: () => Record<string, unknown>;
  /** HSI_PROFILE: `hsi-current` answers errors as FastAPI's `{"detail": ...}`. */
  profile?: StackProfile;
}

export interface DetectorEmulator {
  server: TracedServer;
  faults: FaultInjector;
  analyticCapacityRps: number;
}


/** Error body of the detector for an injected fault, in the profile's style. */
function detectorFaultBody(style: ErrorStyle): (status: number, message: string) => unknown {
  return (_status, message) => errorBody(style, 'fault_injected', message);
}

export function createDetectorEmulator(options: DetectorEmulatorOptions): DetectorEmulator {
  const { settings, tracer, log, seed } = options;
  const errorStyle = errorStyleFor(options.profile ?? 'reference');
  const rng = createRng(seed);
  const slots = new SlotPool(settings.gpuSlots);
  const analyticCapacityRps = Math.round((settings.gpuSlots / (settings.serviceMeanMs / 1000)) * 100) / 100;
  const stats = { requests: 0, completed: 0, rejected: 0, totalQueueWaitMs: 0, totalServiceMs: 0 };
  const faults = new FaultInjector({
    faultableRoutes: DETECTOR_FAULTABLE_ROUTES,
    errorBody: detectorFaultBody(errorStyle),
    initial: settings.faults,
    onChange: (s) => log.info(s === undefined ? 'fault knobs cleared' : 'fault knobs set', s === undefined ? undefined : { faults: faultSettingsJson(s) }),
  });

  async function detect({ req, span }: RouteRequest): Promise<JsonResponse> {
    stats.requests++;
    let image: Buffer;
    try {
      image = await imageFromRequest(req, settings.maxBodyBytes);
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
          const detections = emulateDetections(digest, info.width, info.height, settings.detectionsPerImage);
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
      faults: faults.state(),
      defects: {
        not_instrumented: settings.defects.notInstrumented,
        drop_spans_fraction: settings.defects.dropSpansFraction,
      },
      ...(options.extraStats?.() ?? {}),
    });
  }

  const server = createTracedServer({
    tracer,
    log,
    spanAttributes: { 'ai.emulated': true },
    errorStyle,
    routes: [
      { method: 'POST', pattern: /^\/detect\/?$/, template: '/detect', handler: faults.wrap('/detect', detect) },
      { method: 'GET', pattern: /^\/health\/?$/, template: '/health', handler: health },
      { method: 'GET', pattern: /^\/emulator\/stats\/?$/, template: '/emulator/stats', handler: emulatorStats },
      ...faults.adminRoutes(),
    ],
  });

  return { server, faults, analyticCapacityRps };
}
