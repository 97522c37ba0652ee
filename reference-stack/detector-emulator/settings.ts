import { z } from 'zod';
import { FaultSettingsError, parseFaultSettingsEnv, type FaultSettings } from '../common/fault-knobs.ts';
import { lognormalFromMeanP95, type HostWorkParams, type LognormalParams } from './emulation.ts';

/** Settings of the YOLO26 emulator from the environment; errors name the variable. */

export interface EmulatorSettings {
  port: number;
  host: string;
  gpuSlots: number;
  serviceMeanMs: number;
  serviceP95Ms: number;
  serviceTime: LognormalParams;
  /**
   * EMULATOR_SERVICE_TIMES_MS: service times to use instead of the lognormal draws, the k-th
   * inference taking the k-th (then from the start again): an incident's observed engine times,
   * replayed (`hsi-chaos replay`). Empty: the lognormal.
   */
  serviceTimesMs: readonly number[];
  /**
   * A serial stage before the slots (EMULATOR_HOST_WORK_MS, _PER_MEGAPIXEL, _SIGMA: a real
   * detector's decode + letterbox + output decoding on its one event loop, as calibrated);
   * undefined: none (the default).
   */
  hostWork: HostWorkParams | undefined;
  /** Undefined: a random seed is drawn at start (and logged). */
  seed: string | undefined;
  /** Objects per image (EMULATOR_DETECTIONS_PER_IMAGE); undefined: 1 to 3, drawn from the image's hash. */
  detectionsPerImage: number | undefined;
  maxBodyBytes: number;
  /** Per-request faults active from the start (EMULATOR_FAULTS). */
  faults: FaultSettings | undefined;
  defects: DetectorDefects;
}

/** Defect switches (off by default): real gaps an HSI release could ship. */
export interface DetectorDefects {
  /** HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: no spans at all (the real stack's AI services are not instrumented). */
  notInstrumented: boolean;
  /** HSI_DEFECT_DETECTOR_DROPS_SPANS: fraction of traces whose detector spans are silently dropped (0 = off). */
  dropSpansFraction: number;
}

/** The detector's contract routes: the only ones the fault knobs can touch. */
export const DETECTOR_FAULTABLE_ROUTES = ['/detect'] as const;

export class EmulatorSettingsError extends Error {
  override name = 'EmulatorSettingsError';
}

const unsetIfEmpty = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);

function number(defaultValue: number, check: z.ZodCoercedNumber) {
  return z.preprocess(unsetIfEmpty, check.default(defaultValue));
}

const schema = z.object({
  PORT: number(8095, z.coerce.number({ error: 'expected an integer' }).int().min(1).max(65535)),
  HOST: z.preprocess(unsetIfEmpty, z.string().default('0.0.0.0')),
  EMULATOR_GPU_SLOTS: number(1, z.coerce.number({ error: 'expected an integer' }).int('expected an integer').min(1).max(256)),
  EMULATOR_SERVICE_MEAN_MS: number(40, z.coerce.number({ error: 'expected milliseconds' }).positive('expected a positive number of milliseconds')),
  EMULATOR_SERVICE_P95_MS: number(80, z.coerce.number({ error: 'expected milliseconds' }).positive('expected a positive number of milliseconds')),
  EMULATOR_HOST_WORK_MS: number(0, z.coerce.number({ error: 'expected milliseconds' }).min(0, 'expected milliseconds (0 or more)')),
  EMULATOR_HOST_WORK_MS_PER_MEGAPIXEL: number(0, z.coerce.number({ error: 'expected milliseconds per megapixel' }).min(0, 'expected milliseconds per megapixel (0 or more)')),
  EMULATOR_HOST_WORK_SIGMA: number(0, z.coerce.number({ error: 'expected a lognormal sigma' }).min(0, 'expected a sigma between 0 and 3').max(3, 'expected a sigma between 0 and 3')),
  EMULATOR_SEED: z.preprocess(unsetIfEmpty, z.string().optional()),
  EMULATOR_SERVICE_TIMES_MS: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$/, 'expected comma-separated milliseconds (e.g. 31.5,40.2)')
      .transform((v) => v.split(',').map(Number))
      .refine((times) => times.every((t) => t > 0 && t <= 600_000), 'expected milliseconds above 0 and at most 600000')
      .optional(),
  ),
  EMULATOR_DETECTIONS_PER_IMAGE: z.preprocess(unsetIfEmpty, z.coerce.number({ error: 'expected an integer' }).int('expected an integer').min(0).max(100).optional()),
  EMULATOR_MAX_BODY_BYTES: number(20 * 1024 * 1024, z.coerce.number({ error: 'expected an integer' }).int().min(1024)),
  HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: z.preprocess(
    unsetIfEmpty,
    z
      .enum(['0', '1', 'true', 'false'], { error: 'expected 1/true (on) or 0/false (off)' })
      .default('0')
      .transform((v) => v === '1' || v === 'true'),
  ),
  HSI_DEFECT_DETECTOR_DROPS_SPANS: number(0, z.coerce.number({ error: 'expected a fraction between 0 and 1' }).min(0, 'expected a fraction between 0 and 1').max(1, 'expected a fraction between 0 and 1')),
});

export function loadEmulatorSettings(env: NodeJS.ProcessEnv = process.env): EmulatorSettings {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${String(issue.path[0] ?? '?')}: ${issue.message}`);
    throw new EmulatorSettingsError(`invalid environment: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  let serviceTime: LognormalParams;
  try {
    serviceTime = lognormalFromMeanP95(e.EMULATOR_SERVICE_MEAN_MS, e.EMULATOR_SERVICE_P95_MS);
  } catch (error) {
    throw new EmulatorSettingsError(`invalid environment: EMULATOR_SERVICE_MEAN_MS / EMULATOR_SERVICE_P95_MS: ${(error as Error).message}`);
  }
  let faults: FaultSettings | undefined;
  try {
    faults = parseFaultSettingsEnv(env['EMULATOR_FAULTS'], DETECTOR_FAULTABLE_ROUTES);
  } catch (error) {
    if (error instanceof FaultSettingsError) throw new EmulatorSettingsError(`invalid environment: ${error.message}`);
    throw error;
  }
  return {
    port: e.PORT,
    host: e.HOST,
    gpuSlots: e.EMULATOR_GPU_SLOTS,
    serviceMeanMs: e.EMULATOR_SERVICE_MEAN_MS,
    serviceP95Ms: e.EMULATOR_SERVICE_P95_MS,
    serviceTime,
    serviceTimesMs: e.EMULATOR_SERVICE_TIMES_MS ?? [],
    hostWork: e.EMULATOR_HOST_WORK_MS > 0 || e.EMULATOR_HOST_WORK_MS_PER_MEGAPIXEL > 0 ? { baseMs: e.EMULATOR_HOST_WORK_MS, perMegapixelMs: e.EMULATOR_HOST_WORK_MS_PER_MEGAPIXEL, sigma: e.EMULATOR_HOST_WORK_SIGMA } : undefined,
    seed: e.EMULATOR_SEED,
    detectionsPerImage: e.EMULATOR_DETECTIONS_PER_IMAGE,
    maxBodyBytes: e.EMULATOR_MAX_BODY_BYTES,
    faults,
    defects: { notInstrumented: e.HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED, dropSpansFraction: e.HSI_DEFECT_DETECTOR_DROPS_SPANS },
  };
}
