import { z } from 'zod';
import { FaultSettingsError, parseFaultSettingsEnv, type FaultSettings } from '../common/fault-knobs.ts';

/** Settings of the Nemotron / llama.cpp emulator from the environment; errors name the variable. */

export interface LlmSettings {
  port: number;
  host: string;
  /** n_parallel: generations at once (llama-server --parallel). */
  slots: number;
  /** Context size of each slot (n_ctx in /slots). */
  ctxSize: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  completionTokensMean: number;
  /** Sigma of the lognormal of generated tokens (0: always the mean). */
  completionTokensSigma: number;
  /**
   * EMULATOR_COMPLETION_TOKENS: completion lengths to use instead of the lognormal draws, the
   * k-th generation taking the k-th (then from the start again): an incident's observed
   * lengths, replayed (`hsi-chaos replay`). Empty: the lognormal.
   */
  completionTokensList: readonly number[];
  /** Multiplies every emulated time (generation, warm-up); 0.05 runs 20x faster. */
  timeScale: number;
  /** Requests that may wait for a slot; beyond that 503. */
  maxQueue: number;
  /** Warm-up during which /health answers 503 "loading model" (before the time scale). */
  loadSeconds: number;
  /** Prompt size for analytic_capacity_rps. */
  typicalPromptTokens: number;
  modelName: string;
  modelSizeGb: number;
  kvCacheGbPerSlot: number;
  /** Undefined: a random seed is drawn at start (and logged). */
  seed: string | undefined;
  maxBodyBytes: number;
  /** Per-request faults active from the start (EMULATOR_FAULTS). */
  faults: FaultSettings | undefined;
}

export class LlmSettingsError extends Error {
  override name = 'LlmSettingsError';
}

/** The LLM's contract routes: the only ones the fault knobs can touch. */
export const LLM_FAULTABLE_ROUTES = ['/completion', '/v1/chat/completions', '/v1/completions'] as const;

const unsetIfEmpty = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);

function number(defaultValue: number, check: z.ZodCoercedNumber) {
  return z.preprocess(unsetIfEmpty, check.default(defaultValue));
}

const int = (what = 'an integer') => z.coerce.number({ error: `expected ${what}` }).int(`expected ${what}`);
const positive = (what: string) => z.coerce.number({ error: `expected ${what}` }).positive(`expected ${what}`);

const schema = z.object({
  PORT: number(8091, int().min(1).max(65535)),
  HOST: z.preprocess(unsetIfEmpty, z.string().default('0.0.0.0')),
  EMULATOR_LLM_SLOTS: number(1, int().min(1, 'expected at least 1 slot').max(64, 'expected at most 64 slots')),
  EMULATOR_CTX_SIZE: number(8192, int().min(256, 'expected at least 256 tokens').max(1_048_576)),
  EMULATOR_PREFILL_TOKENS_PER_S: number(2000, positive('a positive number of tokens per second')),
  EMULATOR_DECODE_TOKENS_PER_S: number(60, positive('a positive number of tokens per second')),
  EMULATOR_COMPLETION_TOKENS_MEAN: number(180, int('a whole number of tokens').min(1, 'expected at least 1 token').max(131_072)),
  EMULATOR_COMPLETION_TOKENS_SIGMA: number(0.35, z.coerce.number({ error: 'expected a number' }).min(0, 'expected 0..2').max(2, 'expected 0..2')),
  EMULATOR_TIME_SCALE: number(1, positive('a positive factor').max(100, 'expected at most 100')),
  EMULATOR_MAX_QUEUE: number(64, int('a whole number of requests').min(0, 'expected 0 or more').max(100_000)),
  EMULATOR_LOAD_SECONDS: number(0, z.coerce.number({ error: 'expected seconds' }).min(0, 'expected 0 or more seconds').max(3600)),
  EMULATOR_TYPICAL_PROMPT_TOKENS: number(1200, int('a whole number of tokens').min(1)),
  EMULATOR_MODEL_NAME: z.preprocess(unsetIfEmpty, z.string().max(200).default('nemotron-emulated')),
  EMULATOR_MODEL_SIZE_GB: number(4, z.coerce.number({ error: 'expected gigabytes' }).min(0, 'expected 0 or more gigabytes')),
  EMULATOR_KV_CACHE_GB_PER_SLOT: number(0.75, z.coerce.number({ error: 'expected gigabytes' }).min(0, 'expected 0 or more gigabytes')),
  EMULATOR_SEED: z.preprocess(unsetIfEmpty, z.string().optional()),
  EMULATOR_COMPLETION_TOKENS: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^\s*\d+(\s*,\s*\d+)*\s*$/, 'expected comma-separated whole numbers of tokens (e.g. 180,212)')
      .transform((v) => v.split(',').map(Number))
      .refine((tokens) => tokens.every((t) => t >= 1 && t <= 131_072), 'expected 1 to 131072 tokens each')
      .optional(),
  ),
  EMULATOR_MAX_BODY_BYTES: number(8 * 1024 * 1024, int().min(1024)),
});

export function loadLlmSettings(env: NodeJS.ProcessEnv = process.env): LlmSettings {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${String(issue.path[0] ?? '?')}: ${issue.message}`);
    throw new LlmSettingsError(`invalid environment: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  let faults: FaultSettings | undefined;
  try {
    faults = parseFaultSettingsEnv(env['EMULATOR_FAULTS'], LLM_FAULTABLE_ROUTES);
  } catch (error) {
    if (error instanceof FaultSettingsError) throw new LlmSettingsError(`invalid environment: ${error.message}`);
    throw error;
  }
  return {
    port: e.PORT,
    host: e.HOST,
    slots: e.EMULATOR_LLM_SLOTS,
    ctxSize: e.EMULATOR_CTX_SIZE,
    prefillTokensPerS: e.EMULATOR_PREFILL_TOKENS_PER_S,
    decodeTokensPerS: e.EMULATOR_DECODE_TOKENS_PER_S,
    completionTokensMean: e.EMULATOR_COMPLETION_TOKENS_MEAN,
    completionTokensSigma: e.EMULATOR_COMPLETION_TOKENS_SIGMA,
    completionTokensList: e.EMULATOR_COMPLETION_TOKENS ?? [],
    timeScale: e.EMULATOR_TIME_SCALE,
    maxQueue: e.EMULATOR_MAX_QUEUE,
    loadSeconds: e.EMULATOR_LOAD_SECONDS,
    typicalPromptTokens: e.EMULATOR_TYPICAL_PROMPT_TOKENS,
    modelName: e.EMULATOR_MODEL_NAME,
    modelSizeGb: e.EMULATOR_MODEL_SIZE_GB,
    kvCacheGbPerSlot: e.EMULATOR_KV_CACHE_GB_PER_SLOT,
    seed: e.EMULATOR_SEED,
    maxBodyBytes: e.EMULATOR_MAX_BODY_BYTES,
    faults,
  };
}
