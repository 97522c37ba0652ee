import { z } from 'zod';
import { lognormalFromMeanP95, type LognormalParams } from './emulation.ts';

/** Settings of the YOLO26 emulator from the environment; errors name the variable. */

export interface EmulatorSettings {
  port: number;
  host: string;
  gpuSlots: number;
  serviceMeanMs: number;
  serviceP95Ms: number;
  serviceTime: LognormalParams;
  /** Undefined: a random seed is drawn at start (and logged). */
  seed: string | undefined;
  maxBodyBytes: number;
}

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
  EMULATOR_SEED: z.preprocess(unsetIfEmpty, z.string().optional()),
  EMULATOR_MAX_BODY_BYTES: number(20 * 1024 * 1024, z.coerce.number({ error: 'expected an integer' }).int().min(1024)),
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
  return {
    port: e.PORT,
    host: e.HOST,
    gpuSlots: e.EMULATOR_GPU_SLOTS,
    serviceMeanMs: e.EMULATOR_SERVICE_MEAN_MS,
    serviceP95Ms: e.EMULATOR_SERVICE_P95_MS,
    serviceTime,
    seed: e.EMULATOR_SEED,
    maxBodyBytes: e.EMULATOR_MAX_BODY_BYTES,
  };
}
