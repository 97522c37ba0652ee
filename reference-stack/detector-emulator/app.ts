import { createHash } from 'node:crypto';
import { SpanKind, type Span, type Tracer } from '@opentelemetry/api';
import { FaultInjector, faultSettingsJson } from '../common/fault-knobs.ts';
import { imageFromRequest } from '../common/detect-request.ts';
import { z } from 'zod';
import { createTracedServer, errorBody, HttpError, json, parseJsonBody, readBody, route, type ErrorStyle, type JsonResponse, type Route, type RouteRequest, type TracedServer } from '../common/http.ts';
import { readImageInfo } from '../common/image.ts';
import { r1 } from '../common/round.ts';
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

/** The detector emulator's counters since it started (`/emulator/stats`). */
class DetectorStats {
  requests = 0;
  completed = 0;
  rejected = 0;
  totalQueueWaitMs = 0;
  totalServiceMs = 0;
}


/** The emulator's routes over its slots, its serial host stage, counters, fault knobs and defect switches. */
class DetectorApplication {
  readonly faults: FaultInjector;
  readonly defects: LiveDetectorDefects;
  readonly errorStyle: ErrorStyle;
  readonly analyticCapacityRps: number;
  private readonly settings: EmulatorSettings;
  private readonly tracer: Tracer;
  private readonly options: DetectorEmulatorOptions;
  private readonly rng: () => number;
  private readonly slots: SlotPool;
  // a real detector's event loop: one image at a time through decode + letterbox (when calibrated)
  private readonly hostLoop = new SlotPool(1);
  private readonly stats = new DetectorStats();
  /** Service times taken so far from settings.serviceTimesMs. */
  private replayedTimes = 0;

  constructor(options: DetectorEmulatorOptions) {
    const { settings, log } = options;
    this.options = options;
    this.settings = settings;
    this.tracer = options.tracer;
    this.defects = options.defects ?? new LiveDetectorDefects(settings.defects);
    this.errorStyle = errorStyleFor(options.profile ?? 'reference');
    this.rng = createRng(options.seed);
    this.slots = new SlotPool(settings.gpuSlots);
    this.analyticCapacityRps = Math.round((settings.gpuSlots / (settings.serviceMeanMs / 1000)) * 100) / 100;
    this.faults = new FaultInjector({
      faultableRoutes: DETECTOR_FAULTABLE_ROUTES,
      errorBody: detectorFaultBody(this.errorStyle),
      initial: settings.faults,
      onChange: (s) => log.info(s === undefined ? 'fault knobs cleared' : 'fault knobs set', s === undefined ? undefined : { faults: faultSettingsJson(s) }),
    });
  }

  /** The calibrated work outside the slots, one image at a time (a real detector's event loop); none by default. */
  private async hostStage(info: { width: number; height: number }, inference: Span): Promise<void> {
    const { hostWork } = this.settings;
    if (hostWork === undefined) return;
    const hostAt = performance.now();
    const releaseHost = await this.hostLoop.acquire();
    const hostWaitMs = performance.now() - hostAt;
    const hostMs = sampleHostWork(this.rng, hostWork, info.width, info.height);
    try {
      await sleep(hostMs);
    } finally {
      releaseHost();
    }
    // the capacity model reads work outside the slots from preprocess_ms, as on the real detector
    inference.setAttributes({ 'ai.inference.preprocess_ms': r1(hostMs), 'ai.inference.host_wait_ms': r1(hostWaitMs) });
  }

  /** The request's image and its size; an unreadable one is counted as rejected. */
  private async readImage(req: RouteRequest['req']): Promise<{ image: Buffer; info: { width: number; height: number } }> {
    let image: Buffer;
    try {
      image = await imageFromRequest(req, this.settings.maxBodyBytes);
    } catch (error) {
      this.stats.rejected++;
      throw error;
    }
    const info = readImageInfo(image);
    if (info === undefined) {
      this.stats.rejected++;
      throw new HttpError(400, 'invalid_image', 'the image could not be decoded (not a JPEG/PNG with a readable header)');
    }
    return { image, info };
  }

  async detect({ req, span }: RouteRequest): Promise<JsonResponse> {
    this.stats.requests++;
    const { image, info } = await this.readImage(req);
    const digest = createHash('sha256').update(image).digest();
    span.setAttributes({ 'ai.inference.image_width': info.width, 'ai.inference.image_height': info.height, 'file.hash': digest.toString('hex') });
    const result = await inSpan(
      this.tracer,
      SPAN_INFERENCE,
      { kind: SpanKind.INTERNAL, attributes: { 'ai.emulated': true, 'ai.model.name': EMULATED_MODEL_NAME, 'ai.inference.slots': this.slots.size } },
      (inference) => this.infer(inference, digest, info),
    );
    span.setAttribute('ai.inference.detections', result.detections.length);
    return json(200, result, { 'x-emulated': 'true' });
  }

  /** The host stage, then a slot for the drawn service time: the detections of the image. */
  private async infer(inference: Span, digest: Buffer, info: { width: number; height: number }) {
    await this.hostStage(info, inference);
    const { slots, settings, stats } = this;
    const queuedAt = performance.now();
    inference.setAttribute('ai.inference.queue_depth', slots.queued);
    const release = await slots.acquire();
    const queueWaitMs = performance.now() - queuedAt;
    try {
      const serviceMs = this.serviceTime();
      await sleep(serviceMs);
      const detections = emulateDetections(digest, info.width, info.height, settings.detectionsPerImage);
      const inferenceMs = r1(serviceMs);
      inference.setAttributes({ 'ai.inference.queue_wait_ms': r1(queueWaitMs), 'ai.inference.time_ms': inferenceMs, 'ai.inference.detections': detections.length });
      stats.completed++;
      stats.totalQueueWaitMs += queueWaitMs;
      stats.totalServiceMs += serviceMs;
      return { detections, inference_time_ms: inferenceMs, image_width: info.width, image_height: info.height };
    } finally {
      release();
    }
  }

  /** The next inference's service time: the replayed list's next entry when one is set, else a lognormal draw. */
  private serviceTime(): number {
    const times = this.settings.serviceTimesMs;
    if (times.length === 0) return sampleLognormal(this.rng, this.settings.serviceTime);
    const ms = times[this.replayedTimes % times.length] ?? 0;
    this.replayedTimes++;
    return ms;
  }

  async health(): Promise<JsonResponse> {
    const { settings } = this;
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
      analytic_capacity_rps: this.analyticCapacityRps,
      service_time_ms: { mean: settings.serviceMeanMs, p95: settings.serviceP95Ms, distribution: settings.serviceTimesMs.length > 0 ? 'replayed' : 'lognormal', ...settings.serviceTime, ...(settings.serviceTimesMs.length > 0 ? { replayed: settings.serviceTimesMs.length } : {}) },
      ...(settings.hostWork ? { host_work_ms: { base: settings.hostWork.baseMs, per_megapixel: settings.hostWork.perMegapixelMs, sigma: settings.hostWork.sigma, serial: true } } : {}),
    });
  }

  async emulatorStats(): Promise<JsonResponse> {
    const { stats, slots, defects } = this;
    return json(200, {
      emulated: true,
      seed: this.options.seed,
      slots: this.settings.gpuSlots,
      slots_in_use: slots.inUse,
      queue_depth: slots.queued,
      requests: stats.requests,
      completed: stats.completed,
      rejected: stats.rejected,
      mean_queue_wait_ms: stats.completed === 0 ? 0 : r1(stats.totalQueueWaitMs / stats.completed),
      mean_service_ms: stats.completed === 0 ? 0 : r1(stats.totalServiceMs / stats.completed),
      analytic_capacity_rps: this.analyticCapacityRps,
      faults: this.faults.state(),
      defects: {
        not_instrumented: defects.current.notInstrumented,
        drop_spans_fraction: defects.current.dropSpansFraction,
      },
      ...(this.options.extraStats?.() ?? {}),
    });
  }
}

export function createDetectorEmulator(options: DetectorEmulatorOptions): DetectorEmulator {
  const { tracer, log } = options;
  const app = new DetectorApplication(options);
  const { faults, defects } = app;
  const server = createTracedServer({
    tracer,
    log,
    spanAttributes: { 'ai.emulated': true },
    errorStyle: app.errorStyle,
    routes: [
      { method: 'POST', pattern: /^\/detect\/?$/, template: '/detect', handler: faults.wrap('/detect', (r) => app.detect(r)) },
      { method: 'GET', pattern: /^\/health\/?$/, template: '/health', handler: () => app.health() },
      { method: 'GET', pattern: /^\/emulator\/stats\/?$/, template: '/emulator/stats', handler: () => app.emulatorStats() },
      ...faults.adminRoutes(),
      ...defectRoutes(defects, log),
    ],
  });
  return { server, faults, defects, analyticCapacityRps: app.analyticCapacityRps };
}
