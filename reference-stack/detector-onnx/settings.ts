import { z } from 'zod';

/** Settings of the real (ONNX Runtime) detector from the environment; errors name the variable. */

export interface OnnxDetectorSettings {
  port: number;
  host: string;
  modelPath: string;
  /** auto: CUDA when the CUDA execution provider loads, else CPU. */
  device: 'auto' | 'cpu' | 'cuda';
  /** ONNX Runtime intra-op threads per inference. */
  threads: number;
  /** Inferences at once; others queue first come, first served (the GPU's queue). */
  concurrency: number;
  confidenceThreshold: number;
  iouThreshold: number;
  maxDetections: number;
  maxBodyBytes: number;
}

export class OnnxDetectorSettingsError extends Error {
  override name = 'OnnxDetectorSettingsError';
}

const unsetIfEmpty = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const num = (d: number, check: z.ZodCoercedNumber) => z.preprocess(unsetIfEmpty, check.default(d));
const int = () => z.coerce.number({ error: 'expected an integer' }).int('expected an integer');
const fraction = () => z.coerce.number({ error: 'expected a number between 0 and 1' }).min(0, 'expected 0..1').max(1, 'expected 0..1');

const schema = z.object({
  PORT: num(8095, int().min(1).max(65535)),
  HOST: z.preprocess(unsetIfEmpty, z.string().default('0.0.0.0')),
  DETECTOR_MODEL_PATH: z.preprocess(unsetIfEmpty, z.string().default('/models/yolo-synthetic.onnx')),
  DETECTOR_DEVICE: z.preprocess(unsetIfEmpty, z.enum(['auto', 'cpu', 'cuda'], { error: 'expected auto, cpu or cuda' }).default('auto')),
  DETECTOR_THREADS: num(1, int().min(1).max(256)),
  DETECTOR_CONCURRENCY: num(1, int().min(1).max(64)),
  DETECTOR_CONFIDENCE: num(0.25, fraction()),
  DETECTOR_IOU: num(0.45, fraction()),
  DETECTOR_MAX_DETECTIONS: num(100, int().min(1).max(1000)),
  DETECTOR_MAX_BODY_BYTES: num(10 * 1024 * 1024, int().min(1024)),
});

export function loadOnnxDetectorSettings(env: NodeJS.ProcessEnv = process.env): OnnxDetectorSettings {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${String(issue.path[0] ?? '?')}: ${issue.message}`);
    throw new OnnxDetectorSettingsError(`invalid environment: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    modelPath: e.DETECTOR_MODEL_PATH,
    device: e.DETECTOR_DEVICE,
    threads: e.DETECTOR_THREADS,
    concurrency: e.DETECTOR_CONCURRENCY,
    confidenceThreshold: e.DETECTOR_CONFIDENCE,
    iouThreshold: e.DETECTOR_IOU,
    maxDetections: e.DETECTOR_MAX_DETECTIONS,
    maxBodyBytes: e.DETECTOR_MAX_BODY_BYTES,
  };
}
