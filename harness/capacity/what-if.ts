import { ConfigError } from '../errors.ts';
import type { StackSettings } from '../scenario/scenario-types.ts';

/**
 * What-if settings (`--set key=value`): a small, named vocabulary mapped onto the reference
 * stack's environment, so a capacity question reads as a configuration ("two detector slots")
 * rather than as an environment variable. Unknown keys and bad values are input errors.
 */
export type Service = 'backend' | 'detector' | 'llm';

interface WhatIfKey {
  service: Service;
  env: string;
  what: string;
  /** Checks and normalises the value (throws a message). */
  parse: (value: string) => string;
}

function integer(min: number, max: number) {
  return (value: string): string => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`expected a whole number from ${min} to ${max}`);
    return String(n);
  };
}

function positive(max: number) {
  return (value: string): string => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || n > max) throw new Error(`expected a number above 0 and at most ${max}`);
    return String(n);
  };
}

export const WHAT_IF_KEYS: Record<string, WhatIfKey> = {
  'detector.slots': { service: 'detector', env: 'EMULATOR_GPU_SLOTS', what: 'inferences the detector runs at once', parse: integer(1, 256) },
  'detector.service_ms': { service: 'detector', env: 'EMULATOR_SERVICE_MEAN_MS', what: 'mean detector service time (ms); its p95 keeps the ratio to the mean', parse: positive(60_000) },
  'llm.slots': { service: 'llm', env: 'EMULATOR_LLM_SLOTS', what: 'llama.cpp --parallel slots', parse: integer(1, 64) },
  'llm.time_scale': { service: 'llm', env: 'EMULATOR_TIME_SCALE', what: 'multiplies every emulated LLM time', parse: positive(100) },
  'llm.decode_tps': { service: 'llm', env: 'EMULATOR_DECODE_TOKENS_PER_S', what: 'decode tokens per second', parse: positive(1_000_000) },
  'llm.completion_tokens': { service: 'llm', env: 'EMULATOR_COMPLETION_TOKENS_MEAN', what: 'mean generated tokens', parse: integer(1, 131_072) },
  'backend.detection_workers': { service: 'backend', env: 'DETECTION_WORKERS', what: 'detection worker loops', parse: integer(1, 64) },
  'backend.analysis_workers': { service: 'backend', env: 'ANALYSIS_WORKERS', what: 'analysis worker loops', parse: integer(1, 64) },
  'backend.ai_concurrency': { service: 'backend', env: 'AI_MAX_CONCURRENT_INFERENCES', what: 'AI calls at once per backend process', parse: integer(1, 256) },
  'backend.db_pool': { service: 'backend', env: 'DB_POOL_SIZE', what: 'PostgreSQL pool size', parse: integer(1, 200) },
  'batch.max_detections': { service: 'backend', env: 'BATCH_MAX_DETECTIONS', what: 'a batch closes at this many detections', parse: integer(1, 100_000) },
  'batch.window_s': { service: 'backend', env: 'BATCH_WINDOW_SECONDS', what: 'a batch closes this long after it opened (s)', parse: positive(86_400) },
};

export interface WhatIf {
  key: string;
  value: string;
  service: Service;
  env: string;
}

/** `detector.slots=2` → the setting; unknown keys and bad values throw ConfigError naming them. */
export function parseWhatIf(arg: string): WhatIf {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--set ${arg}: expected key=value, e.g. --set detector.slots=2`);
  const key = arg.slice(0, eq).trim();
  const raw = arg.slice(eq + 1).trim();
  const spec = WHAT_IF_KEYS[key];
  if (!spec) throw new ConfigError(`--set ${key}: unknown key; known keys: ${Object.keys(WHAT_IF_KEYS).join(', ')}`);
  try {
    return { key, value: spec.parse(raw), service: spec.service, env: spec.env };
  } catch (error) {
    throw new ConfigError(`--set ${key}=${raw}: ${(error as Error).message}`);
  }
}

/** The scenario's stack settings with the what-ifs applied on top (later --set wins). */
export interface StackEnvironments {
  defects: string[];
  backend: Record<string, string>;
  detector: Record<string, string>;
  llm: Record<string, string>;
}

export function applyWhatIfs(stack: StackSettings | undefined, whatIfs: readonly WhatIf[]): StackEnvironments {
  const out = { defects: [...(stack?.defects ?? [])], backend: { ...(stack?.backend ?? {}) }, detector: { ...(stack?.detector ?? {}) }, llm: { ...(stack?.llm ?? {}) } };
  for (const w of whatIfs) {
    out[w.service][w.env] = w.value;
    if (w.env === 'EMULATOR_SERVICE_MEAN_MS') {
      // keep the p95/mean ratio of the configuration (default 80/40), so the lognormal stays valid
      const mean0 = Number(stack?.detector?.['EMULATOR_SERVICE_MEAN_MS'] ?? 40);
      const p950 = Number(stack?.detector?.['EMULATOR_SERVICE_P95_MS'] ?? 80);
      out.detector['EMULATOR_SERVICE_P95_MS'] = String(Number(w.value) * (p950 / mean0));
    }
  }
  return out;
}
