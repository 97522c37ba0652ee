import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { AI_SAMPLES_FILE } from '../experiment/ai-engine-observer.ts';
import type { AiSpanSamples } from '../experiment/ai-engine-figures.ts';
import type { Calibration } from './fit.ts';

/** calibration.json (written by `hsi-chaos calibrate`, read by `run --emulator-params`) and a run's ai-samples.json. */

const envMap = z.record(z.string().regex(/^EMULATOR_[A-Z0-9_]+$/, 'only EMULATOR_* settings'), z.string());
const engine = z.object({ env: envMap, fit: z.record(z.string(), z.unknown()) }).loose();
const CalibrationSchema = z.object({ source: z.string(), createdAt: z.string(), detector: engine.optional(), llm: engine.optional() }).loose();

export function readCalibration(file: string): { detector: Record<string, string>; llm: Record<string, string> } {
  if (!existsSync(file)) throw new ConfigError(`--emulator-params ${file}: no such file (write one with "hsi-chaos calibrate")`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`--emulator-params ${file}: not valid JSON (${(error as Error).message})`);
  }
  const parsed = CalibrationSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`--emulator-params ${file}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return { detector: parsed.data.detector?.env ?? {}, llm: parsed.data.llm?.env ?? {} };
}

const num = z.number().optional();
const SamplesSchema = z.object({
  modes: z.object({ detector: z.enum(['emulated', 'real']), llm: z.enum(['emulated', 'real']) }),
  samples: z.object({
    llm: z.array(z.object({ atMs: z.number(), callMs: z.number(), tokensPerSecond: num, promptMs: num, promptTokens: num, promptChars: num, generatedTokens: num, generationMs: num })),
    detector: z.array(z.object({ atMs: z.number(), inferenceMs: z.number(), serviceMs: z.number(), weights: z.string().optional(), device: z.string().optional(), detections: num, hostMs: num, megapixels: num })),
    detectorCalls: z.array(z.object({ atMs: z.number(), callMs: z.number() })),
  }),
});

export function readAiSamples(runDir: string): { modes: { detector: 'emulated' | 'real'; llm: 'emulated' | 'real' }; samples: AiSpanSamples } {
  const file = join(runDir, AI_SAMPLES_FILE);
  if (!existsSync(file)) throw new ConfigError(`${file} does not exist: calibrate needs a run with a real AI engine (run --ai real, or calibrate without --from)`);
  const parsed = SamplesSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new ConfigError(`${file}: not an ai-samples file (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  const s = parsed.data.samples;
  // zod's optional fields come out as `T | undefined` properties: the same shape as AiSpanSamples.
  return { modes: parsed.data.modes, samples: s as AiSpanSamples };
}

export type { Calibration };
