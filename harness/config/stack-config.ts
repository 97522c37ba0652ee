import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_STACK_PROFILE, STACK_PROFILES } from '../contract/profiles.ts';
import { ConfigError } from '../errors.ts';
import { RealAiConfigSchema } from './real-ai-config.ts';
import { parseOrThrow } from './validation.ts';

/** Where images come from: built offline on this machine, or pulled from registries. */
export const ImageMode = z.enum(['local', 'registry'], {
  error: (issue) => `expected "local" or "registry", got ${JSON.stringify(issue.input)}`,
});
export type ImageMode = z.infer<typeof ImageMode>;

const imageRef = z.string().min(1).regex(/^[a-z0-9][a-z0-9._\/:@-]*$/i, 'not a docker image reference');

/**
 * Images used in `registry` mode; overridable per image. Only Docker's official images have
 * defaults (short names). The others have none: set them to your registry's copies
 * (docs/real-inference.md, README "Configuration"); a registry-mode run that needs one unset
 * stops before anything starts, naming the field.
 */
export const RegistryImages = z
  .object({
    postgres: imageRef.default('postgres:16-alpine'),
    redis: imageRef.default('redis:7.4-alpine'),
    jaeger: imageRef.default('jaegertracing/jaeger:2.13.0'),
    /** Shopify's Toxiproxy 2.12.0. */
    toxiproxy: imageRef.optional(),
    /** This project's reference-stack image (`images build`, pushed to your registry). */
    referenceStack: imageRef.optional(),
    /** Real inference engines (`ai: real`): llama.cpp's CUDA server image, the team's ONNX Runtime detector. */
    llmReal: imageRef.optional(),
    detectorReal: imageRef.optional(),
  })
  .strict();

export const StackConfigSchema = z
  .object({
    imageMode: ImageMode.default('local'),
    registryImages: RegistryImages.default(RegistryImages.parse({})),
    /** GPU device requests for AI containers: auto = when the engine has an nvidia runtime. */
    gpu: z.enum(['auto', 'on', 'off']).default('auto'),
    fixturesDir: z.string().min(1).default('fixtures/images'),
    resultsDir: z.string().min(1).default('results'),
    /** Build caches (rootfs, Go build and module caches, logs); default ~/.cache/hsi-chaos. */
    cacheDir: z.string().min(1).optional(),
    /** Name prefix of locally built images; another prefix builds an independent set beside the default one. */
    localImagePrefix: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._\/-]*$/, 'lowercase letters, digits, ".", "_", "-" and "/" (a docker repository prefix)')
      .default('hsi-chaos'),
    /** Debian archive for debootstrap; default: the machine's apt sources (/etc/apt). */
    debianMirror: z.url({ protocol: /^(https?|file)$/, error: 'expected an http(s):// or file:// URL of a Debian archive' }).optional(),
    /** Install and start Debian's docker.io when no engine answers (root on Debian only). */
    dockerBootstrap: z.boolean().default(true),
    /** OTel batch delay in the reference stack; the contract says 2000 ms, tests want less. */
    otelBatchDelayMs: z.number().int().min(50).max(10_000).default(500),
    /** Which HSI the reference stack imitates: `reference` (default) or `hsi-current` (the real project's current behaviour); `--profile` wins. */
    profile: z.enum(STACK_PROFILES, { error: (issue) => `expected one of ${STACK_PROFILES.join(', ')}, got ${JSON.stringify(issue.input)}` }).default(DEFAULT_STACK_PROFILE),
    /** The HSI dialect runs read stacks in (queue keys, DLQ shapes, API shapes): `auto` detects it when a stack is attached. */
    dialect: z.enum(['reference', 'hsi-current', 'auto']).default('auto'),
    /** Settings of the real inference engines, used where a scenario or --ai asks for `real`. */
    realAi: RealAiConfigSchema.default(RealAiConfigSchema.parse({})),
  })
  .strict();

export type StackConfig = z.infer<typeof StackConfigSchema> & {
  /** Absolute paths, resolved against the project root. */
  fixturesDir: string;
  resultsDir: string;
  cacheDir: string;
  projectRoot: string;
  /** Which file the config came from, for messages; undefined = defaults. */
  source: string | undefined;
};

export const DEFAULT_CONFIG_FILE = 'hsi-chaos.config.json';

export interface LoadStackConfigOptions {
  projectRoot: string;
  /** Explicit config file; a missing explicit file is an error, a missing default one is not. */
  file?: string;
  /** Overrides from CLI flags or environment, validated like the file. */
  overrides?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}

export function loadStackConfig(options: LoadStackConfigOptions): StackConfig {
  const env = options.env ?? process.env;
  const explicit = options.file ?? env['HSI_CHAOS_CONFIG'];
  const file = resolve(options.projectRoot, explicit ?? DEFAULT_CONFIG_FILE);
  let raw: Record<string, unknown> = {};
  let source: string | undefined;
  if (existsSync(file)) {
    source = file;
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new ConfigError(`${file}: expected a JSON object at the top level`);
      }
      raw = parsed as Record<string, unknown>;
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(`${file}: not valid JSON (${(error as Error).message}); fix the file or remove it to use the defaults`);
    }
  } else if (explicit !== undefined) {
    throw new ConfigError(`config file ${file} does not exist; pass an existing file or drop the option to use defaults`);
  }
  const fromEnv: Record<string, unknown> = {};
  if (env['HSI_CHAOS_IMAGE_MODE'] !== undefined) fromEnv['imageMode'] = env['HSI_CHAOS_IMAGE_MODE'];
  if (env['HSI_CHAOS_DEBIAN_MIRROR'] !== undefined) fromEnv['debianMirror'] = env['HSI_CHAOS_DEBIAN_MIRROR'];
  const merged = { ...raw, ...fromEnv, ...(options.overrides ?? {}) };
  const parsed = parseOrThrow(StackConfigSchema, merged, source ?? 'stack config');
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(options.projectRoot, p));
  const cacheHome = env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache');
  return {
    ...parsed,
    fixturesDir: abs(parsed.fixturesDir),
    resultsDir: abs(parsed.resultsDir),
    cacheDir: parsed.cacheDir !== undefined ? abs(parsed.cacheDir) : join(cacheHome, 'hsi-chaos'),
    projectRoot: options.projectRoot,
    source,
  };
}
