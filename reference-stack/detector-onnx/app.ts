import { SpanKind, type Tracer } from '@opentelemetry/api';
import { availableParallelism } from 'node:os';
import jpeg from 'jpeg-js';
import { imageFromRequest } from '../common/detect-request.ts';
import { createTracedServer, HttpError, json, type JsonResponse, type RouteRequest, type TracedServer } from '../common/http.ts';
import { sniffImageType } from '../common/image.ts';
import type { Logger } from '../common/log.ts';
import { inSpan } from '../telemetry/tracing.ts';
import { SlotPool } from '../detector-emulator/emulation.ts';
import { COCO_CLASSES, decodeCandidates, nonMaxSuppression, toImageBox } from './decode.ts';
import type { DetectorEngine } from './engine.ts';
import { letterbox, type RasterImage } from './letterbox.ts';
import type { OnnxDetectorSettings } from './settings.ts';

/**
 * The real YOLO26 stand-in: the detector contract (`POST /detect`, `GET /health`) served by an
 * ONNX model through ONNX Runtime: JPEG decode, letterbox to the model's input, inference,
 * output decoding and NMS. Spans: SERVER "POST /detect" > "yolo26_inference" (same names as
 * the emulator) with `ai.emulated=false`, `ai.weights=synthetic|trained` and the stage times.
 */

export const DEFAULT_SERVICE_NAME = 'ai-yolo26';
export const SPAN_INFERENCE = 'yolo26_inference';

export interface OnnxDetectorOptions {
  settings: OnnxDetectorSettings;
  engine: DetectorEngine;
  tracer: Tracer;
  log: Logger;
}

export interface Detection {
  class: string;
  confidence: number;
  bbox: { x: number; y: number; width: number; height: number };
}


/** JPEG → RGBA pixels (jpeg-js); anything else is a 400 like the real service's. */
export function decodeJpeg(bytes: Buffer): RasterImage {
  if (sniffImageType(bytes) !== 'jpeg') throw new HttpError(400, 'invalid_image', 'the real detector decodes JPEG images only');
  try {
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 512 });
    return { width: img.width, height: img.height, channels: 4, data: img.data };
  } catch (error) {
    throw new HttpError(400, 'invalid_image', `the image could not be decoded: ${(error as Error).message}`);
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;

export class OnnxDetector {
  readonly server: TracedServer;
  private readonly slots: SlotPool;
  private readonly stats = { requests: 0, completed: 0, rejected: 0, totalInferenceMs: 0 };
  private readonly weights: string;
  private readonly o: OnnxDetectorOptions;

  constructor(options: OnnxDetectorOptions) {
    const o = options;
    this.o = o;
    this.slots = new SlotPool(o.settings.concurrency);
    this.weights = o.engine.metadata['weights'] ?? 'trained';
    this.server = createTracedServer({
      tracer: o.tracer,
      log: o.log,
      spanAttributes: { 'ai.emulated': false, 'ai.weights': this.weights },
      routes: [
        { method: 'POST', pattern: /^\/detect\/?$/, template: '/detect', handler: (r) => this.detect(r) },
        { method: 'GET', pattern: /^\/health\/?$/, template: '/health', handler: async () => this.health() },
      ],
    });
  }

  private async detect({ req, span }: RouteRequest): Promise<JsonResponse> {
    this.stats.requests++;
    let image: RasterImage;
    const t0 = performance.now();
    try {
      image = decodeJpeg(await imageFromRequest(req, this.o.settings.maxBodyBytes));
    } catch (error) {
      this.stats.rejected++;
      throw error;
    }
    const decodeMs = performance.now() - t0;
    span.setAttributes({ 'ai.inference.image_width': image.width, 'ai.inference.image_height': image.height });
    const attributes = { 'ai.emulated': false, 'ai.weights': this.weights, 'ai.model.name': this.modelName(), 'ai.inference.device': this.o.engine.device, 'ai.inference.slots': this.slots.size };
    const result = await inSpan(this.o.tracer, SPAN_INFERENCE, { kind: SpanKind.INTERNAL, attributes }, async (inference) => {
      const t1 = performance.now();
      const { data, geometry } = letterbox(image, this.o.engine.inputSize);
      const preprocessMs = performance.now() - t1;
      inference.setAttribute('ai.inference.queue_depth', this.slots.queued);
      const queuedAt = performance.now();
      const release = await this.slots.acquire();
      const queueWaitMs = performance.now() - queuedAt;
      let output: Float32Array;
      const t2 = performance.now();
      try {
        output = await this.o.engine.run(data);
      } finally {
        release();
      }
      const inferenceMs = performance.now() - t2;
      const t3 = performance.now();
      const detections = this.postprocess(output, geometry, image);
      const postprocessMs = performance.now() - t3;
      inference.setAttributes({
        'ai.inference.decode_ms': round(decodeMs),
        'ai.inference.preprocess_ms': round(preprocessMs),
        'ai.inference.queue_wait_ms': round(queueWaitMs),
        'ai.inference.time_ms': round(inferenceMs),
        'ai.inference.postprocess_ms': round(postprocessMs),
        'ai.inference.detections': detections.length,
      });
      this.stats.completed++;
      this.stats.totalInferenceMs += inferenceMs;
      return { detections, inference_time_ms: round(inferenceMs), image_width: image.width, image_height: image.height };
    });
    span.setAttribute('ai.inference.detections', result.detections.length);
    return json(200, result);
  }

  private postprocess(output: Float32Array, geometry: ReturnType<typeof letterbox>['geometry'], image: RasterImage): Detection[] {
    const [rows, anchors] = this.o.engine.outputShape;
    const s = this.o.settings;
    const candidates = decodeCandidates(output, { classes: rows - 4, anchors, confidenceThreshold: s.confidenceThreshold });
    return nonMaxSuppression(candidates, s.iouThreshold, s.maxDetections).map((c) => ({
      class: COCO_CLASSES[c.classId] ?? `class_${c.classId}`,
      confidence: Math.round(c.confidence * 1000) / 1000,
      bbox: toImageBox(c, geometry, image.width, image.height),
    }));
  }

  private modelName(): string {
    return this.o.settings.modelPath.split('/').pop()?.replace(/\.onnx$/, '') ?? 'yolo';
  }

  health(): JsonResponse {
    const mem = process.memoryUsage();
    const e = this.o.engine;
    return json(200, {
      status: 'healthy',
      model_loaded: true,
      device: e.device,
      cuda_available: e.device === 'cuda',
      model_name: this.modelName(),
      // ONNX Runtime's node binding reports no device memory; null = not known.
      vram_used_gb: null,
      tensorrt_enabled: false,
      emulated: false,
      weights: this.weights,
      engine: 'onnxruntime-node',
      model_gflops: e.metadata['gflops'] === undefined ? null : Number(e.metadata['gflops']),
      input_size: e.inputSize,
      concurrency: this.slots.size,
      threads: this.o.settings.threads,
      // the CPUs this process can use: on a CPU host decode, letterbox and inference share them
      cpus: availableParallelism(),
      memory: { rss_mb: Math.round(mem.rss / 1e6), external_mb: Math.round(mem.external / 1e6) },
      stats: { ...this.stats, mean_inference_ms: this.stats.completed === 0 ? 0 : round(this.stats.totalInferenceMs / this.stats.completed) },
    });
  }
}
