import { createHash } from 'node:crypto';
import { SpanKind, type Span, type Tracer } from '@opentelemetry/api';
import { FaultInjector, faultSettingsJson } from '../common/fault-knobs.ts';
import { imageFromRequest } from '../common/detect-request.ts';
import { z } from 'zod';
import { createTracedServer, errorBody, HttpError, json, parseJsonBody, readBody, route, type ErrorStyle, type JsonResponse, type Route, type RouteRequest, type TracedServer } from '../common/http.ts';
import { readImageInfo } from '../common/image.ts';
import { errorStyleFor, type StackProfile } from '../common/profile.ts';
import type { Logger } from '../common/log.ts';
import { sleep } from '../common/timing.ts';
import { inSpan } from '../telemetry/tracing.ts';
import { activeDetectorDefects, DetectorDefectSwitchError, detectorDefectValues, LiveDetectorDefects, parseDetectorDefectSwitches } from './defects.ts';
import { createRng, emulateDetections, sampleHostWork, sampleLognormal, SlotPool } from './emulation.ts';
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
  /** The live defect switches the tracing's exporter reads (initDetectorTracing); default: the settings', unread by any exporter. */
  defects?: LiveDetectorDefects;
}

export interface DetectorEmulator {
  server: TracedServer;
  faults: FaultInjector;
  defects: LiveDetectorDefects;
  analyticCapacityRps: number;
}

const DefectSwitchRequestSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

/**
 * GET /admin/defects (the switches now) and POST /admin/defects (change some while the detector
 * runs; in effect for the spans that end from then on). Not an HSI endpoint: the harness's tests
 * prove the detector's defects on a running stack with it, as the backend's.
 */
function defectRoutes(defects: LiveDetectorDefects, log: Logger): Route[] {
  const state = () => ({ active: activeDetectorDefects(defects.current), switches: detectorDefectValues(defects.current) });
  return [
    route('GET', '/admin/defects', async () => json(200, state())),
    route('POST', '/admin/defects', async ({ req }) => {
      const value = parseJsonBody(await readBody(req, 16 * 1024), () => new HttpError(400, 'invalid_defects', 'body: not valid JSON', { field: 'body' }));
      const request = DefectSwitchRequestSchema.safeParse(value);
      if (!request.success) throw new HttpError(400, 'invalid_defects', 'body: expected an object of switch variables to values, e.g. {"HSI_DEFECT_DETECTOR_DROPS_SPANS": "0.5"}', { field: 'body' });
      let change;
      try {
        change = parseDetectorDefectSwitches(request.data);
      } catch (error) {
        if (error instanceof DetectorDefectSwitchError) throw new HttpError(400, 'invalid_defects', error.message, { field: error.message.split(':')[0] });
        throw error;
      }
      const previous = detectorDefectValues(defects.set(change));
      const answer = { ...state(), previous: Object.fromEntries(Object.keys(request.data).map((k) => [k, previous[k]!])) };
      log.warn('defect switches changed at run time', { active: answer.active });
      return json(200, answer);
    }),
  ];
}


/** Error body of the detector for an injected fault, in the profile's style. */
function detectorFaultBody(style: ErrorStyle): (status: number, message: string) => unknown {
  return (_status, message) => errorBody(style, 'fault_injected', message);
}

export function createDetectorEmulator(options: DetectorEmulatorOptions): DetectorEmulator {
  const { settings, tracer, log, seed } = options;
  const defects = options.defects ?? new LiveDetectorDefects(settings.defects);
  const errorStyle = errorStyleFor(options.profile ?? 'reference');
  const rng = createRng(seed);
  const slots = new SlotPool(settings.gpuSlots);
  // a real detector's event loop: one image at a time through decode + letterbox (when calibrated)
  const hostLoop = new SlotPool(1);
  const analyticCapacityRps = Math.round((settings.gpuSlots / (settings.serviceMeanMs / 1000)) * 100) / 100;
  const stats = { requests: 0, completed: 0, rejected: 0, totalQueueWaitMs: 0, totalServiceMs: 0 };
  const faults = new FaultInjector({
    faultableRoutes: DETECTOR_FAULTABLE_ROUTES,
    errorBody: detectorFaultBody(errorStyle),
    initial: settings.faults,
    onChange: (s) => log.info(s === undefined ? 'fault knobs cleared' : 'fault knobs set', s === undefined ? undefined : { faults: faultSettingsJson(s) }),
  });

  /** The calibrated work outside the slots, one image at a time (a real detector's event loop); none by default. */
  async function hostStage(info: { width: number; height: number }, inference: Span): Promise<void> {
    if (settings.hostWork === undefined) return;
    const hostAt = performance.now();
    const releaseHost = await hostLoop.acquire();
    const hostWaitMs = performance.now() - hostAt;
    const hostMs = sampleHostWork(rng, settings.hostWork, info.width, info.height);
    try {
      await sleep(hostMs);
    } finally {
      releaseHost();
    }
    // the capacity model reads work outside the slots from preprocess_ms, as on the real detector
    inference.setAttributes({ 'ai.inference.preprocess_ms': Math.round(hostMs * 10) / 10, 'ai.inference.host_wait_ms': Math.round(hostWaitMs * 10) / 10 });
  }

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
        await hostStage(info, inference);
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
      ...(settings.hostWork ? { host_work_ms: { base: settings.hostWork.baseMs, per_megapixel: settings.hostWork.perMegapixelMs, sigma: settings.hostWork.sigma, serial: true } } : {}),
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
        not_instrumented: defects.current.notInstrumented,
        drop_spans_fraction: defects.current.dropSpansFraction,
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
      ...defectRoutes(defects, log),
    ],
  });

  return { server, faults, defects, analyticCapacityRps };
}
