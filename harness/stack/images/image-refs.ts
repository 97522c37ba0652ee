import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type AiModes, EMULATED, type LlmPresetName } from '../../config/real-ai-config.ts';
import type { StackConfig } from '../../config/stack-config.ts';
import { ConfigError } from '../../errors.ts';

/**
 * The reference stack's image is built from this checkout's sources, so its tag names the
 * checkout: two clones on one machine (a CI run beside a developer's tree) never replace
 * each other's image between a build and a container start.
 */
const CHECKOUT_TAG = createHash('sha256').update(fileURLToPath(new URL('../../..', import.meta.url))).digest('hex').slice(0, 10);

/** The images one stack needs, by role. */
export interface StackImages {
  postgres: string;
  redis: string;
  jaeger: string;
  toxiproxy: string;
  /** One image holds every reference-stack service; the command picks the service. */
  referenceStack: string;
  /** Real inference engines, used where `ai: real`: llama.cpp's server, the ONNX Runtime detector. */
  llmReal: string;
  detectorReal: string;
}

/**
 * Pinned versions of what `images build` makes from source. The Debian mirror is not pinned:
 * it comes from the `debianMirror` setting or the machine's apt sources (apt-mirror.ts).
 */
export const PINNED = {
  debianSuite: 'bookworm',
  /** Jaeger publishes each release twice: v1.76.0 is the v2.13.0 binary under a v1 module path. */
  jaegerModuleVersion: 'v1.76.0',
  jaegerVersion: '2.13.0',
  toxiproxyVersion: 'v2.12.0',
  nodeVersion: '24.9.0',
  /** Debian testing: the first release with llama.cpp (llama.cpp-tools, python3-gguf). */
  realAiSuite: 'forky',
  llamaCppVersion: '0.7.0',
  onnxruntimeNodeVersion: '1.30.0',
} as const;

/** The default name prefix of locally built images (`localImagePrefix` in the config). */
export const DEFAULT_IMAGE_PREFIX = 'hsi-chaos';

/** Images of the real inference engines, built only when a run asks for them, under the same name prefix. */
export function realAiImages(prefix: string = DEFAULT_IMAGE_PREFIX) {
  return {
    forkyBase: `${prefix}/debian:${PINNED.realAiSuite}`,
    modelTools: `${prefix}/model-tools:${PINNED.realAiSuite}`,
    detectorReal: `${prefix}/detector-onnx:dev-${CHECKOUT_TAG}`,
  } as const;
}
export const REAL_AI_IMAGES = realAiImages();

/** One llama.cpp image per GGUF preset: the model file is baked in at build. */
export function llamaServerImage(preset: LlmPresetName, prefix: string = DEFAULT_IMAGE_PREFIX): string {
  return `${prefix}/llama-server:${PINNED.llamaCppVersion}-${preset}`;
}

/**
 * `postgres` is PostgreSQL from Debian's packages, only a build stage; `postgresInitialized` is
 * built FROM it with the cluster made at build time (postgres-initialized-entrypoint.sh): what
 * the embedded stack and the compose files run, since initdb was the longest part of a stack
 * start (seconds of CPU, more under load). Both tags changed when the package image lost its
 * own entry point: a recipe change takes a new tag, never rebuilds a tag other checkouts use.
 */
export type LocalImages = Omit<StackImages, 'llmReal' | 'detectorReal'> & { base: string; node: string; postgresInitialized: string };

/**
 * The emulated stack's local images under a name prefix: `hsi-chaos/…` normally; another prefix
 * builds a second, independent set beside it (e.g. to time a cold build without touching the
 * images others use). Jaeger is the slim distribution (jaeger-slim.ts), tagged apart from a full build.
 */
export function localImages(prefix: string = DEFAULT_IMAGE_PREFIX): LocalImages {
  return {
    base: `${prefix}/debian:${PINNED.debianSuite}`,
    postgres: `${prefix}/postgres-packages:15-${PINNED.debianSuite}`,
    postgresInitialized: `${prefix}/postgres:15-${PINNED.debianSuite}-initdb`,
    redis: `${prefix}/redis:7-${PINNED.debianSuite}`,
    jaeger: `${prefix}/jaeger:${PINNED.jaegerVersion}-slim`,
    toxiproxy: `${prefix}/toxiproxy:${PINNED.toxiproxyVersion.slice(1)}`,
    node: `${prefix}/node:${PINNED.nodeVersion}`,
    referenceStack: `${prefix}/reference-stack-emulated:dev-${CHECKOUT_TAG}`,
  };
}

/** The default set (the real inference images build FROM its node image). */
export const LOCAL_IMAGES: LocalImages = localImages();

/**
 * The images of one stack. In registry mode an image without a default (Toxiproxy, the
 * reference stack, and an engine the run makes real) must be configured: its absence is a
 * ConfigError naming the field, raised before any container starts.
 */
export function stackImages(
  config: Pick<StackConfig, 'imageMode' | 'registryImages' | 'realAi' | 'localImagePrefix'>,
  ai: Readonly<AiModes> = EMULATED,
): StackImages {
  if (config.imageMode === 'registry') return registryStackImages(config, ai);
  const { base: _base, node: _node, postgresInitialized, ...images } = localImages(config.localImagePrefix);
  // A per-service engine image (realAi.llmImage / detectorImage) wins in both modes.
  return {
    ...images,
    postgres: postgresInitialized,
    llmReal: config.realAi.llmImage ?? llamaServerImage(config.realAi.llmPreset, config.localImagePrefix),
    detectorReal: config.realAi.detectorImage ?? realAiImages(config.localImagePrefix).detectorReal,
  };
}

function registryStackImages(config: Pick<StackConfig, 'registryImages' | 'realAi'>, ai: Readonly<AiModes>): StackImages {
  const reg = config.registryImages;
  const required = (value: string | undefined, field: string, needed = true): string => {
    if (value !== undefined) return value;
    if (!needed) return '';
    throw new ConfigError(`${field}: registry mode has no default for this image; set it in hsi-chaos.config.json to your registry's copy`);
  };
  return {
    postgres: reg.postgres,
    redis: reg.redis,
    jaeger: reg.jaeger,
    toxiproxy: required(reg.toxiproxy, 'registryImages.toxiproxy'),
    referenceStack: required(reg.referenceStack, 'registryImages.referenceStack'),
    llmReal: required(config.realAi.llmImage ?? reg.llmReal, 'realAi.llmImage (or registryImages.llmReal)', ai.llm === 'real'),
    detectorReal: required(config.realAi.detectorImage ?? reg.detectorReal, 'realAi.detectorImage (or registryImages.detectorReal)', ai.detector === 'real'),
  };
}
