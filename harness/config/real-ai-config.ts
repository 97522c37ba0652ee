import { z } from 'zod';

/**
 * The switch between the reference stack's AI emulators and real inference engines, and the
 * engines' settings. Mode per AI service (`emulated` is the default everywhere); the engines'
 * settings are the machine's (stack config `realAi`), not the scenario's.
 */

export const AiMode = z.enum(['emulated', 'real'], { error: (issue) => `expected "emulated" or "real", got ${JSON.stringify(issue.input)}` });
export type AiMode = z.infer<typeof AiMode>;

export interface AiModes {
  detector: AiMode;
  llm: AiMode;
}

export const EMULATED: Readonly<AiModes> = Object.freeze({ detector: 'emulated', llm: 'emulated' });

/** A scenario's `stack.ai`: one mode for both services, or one per service. */
export const AiModesSetting = z.union([AiMode, z.object({ detector: AiMode.optional(), llm: AiMode.optional() }).strict()]);
export type AiModesSetting = z.infer<typeof AiModesSetting>;

/** CLI flag > scenario > emulated. */
export function resolveAiModes(scenario: AiModesSetting | undefined, flag: AiMode | undefined): AiModes {
  if (flag !== undefined) return { detector: flag, llm: flag };
  if (scenario === undefined) return { ...EMULATED };
  if (typeof scenario === 'string') return { detector: scenario, llm: scenario };
  return { detector: scenario.detector ?? 'emulated', llm: scenario.llm ?? 'emulated' };
}

export function anyReal(modes: AiModes): boolean {
  return modes.detector === 'real' || modes.llm === 'real';
}

/**
 * Synthetic GGUF presets (llama architecture, random weights). `tiny` runs on a CPU in CI;
 * the nemotron-* ones have the dimensions of NVIDIA's Llama-3.1-Nemotron-Nano models (their
 * config.json) for GPU hosts. Bytes: parameters × bytes per weight.
 */
export const LLM_PRESETS = {
  tiny: { dim: 64, layers: 2, heads: 4, kv_heads: 2, ffn: 192, vocab: 2048, ctx: 8192, dtype: 'f32' },
  small: { dim: 768, layers: 12, heads: 12, kv_heads: 4, ffn: 2048, vocab: 32000, ctx: 8192, dtype: 'f16' },
  'nemotron-nano-4b': { dim: 3072, layers: 32, heads: 32, kv_heads: 8, ffn: 9216, vocab: 128256, ctx: 131072, dtype: 'f16' },
  'nemotron-nano-8b': { dim: 4096, layers: 32, heads: 32, kv_heads: 8, ffn: 14336, vocab: 128256, ctx: 131072, dtype: 'f16' },
} as const;
export type LlmPresetName = keyof typeof LLM_PRESETS;
export const LLM_PRESET_NAMES = Object.keys(LLM_PRESETS) as LlmPresetName[];

export function presetParameters(name: LlmPresetName): number {
  const p = LLM_PRESETS[name];
  const kvDim = (p.dim / p.heads) * p.kv_heads;
  const perLayer = 2 * p.dim * p.dim + 2 * p.dim * kvDim + 3 * p.dim * p.ffn + 2 * p.dim;
  return 2 * p.vocab * p.dim + p.layers * perLayer + p.dim;
}

export function presetBytes(name: LlmPresetName): number {
  return presetParameters(name) * (LLM_PRESETS[name].dtype === 'f16' ? 2 : 4);
}

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const RealAiConfigSchema = z
  .object({
    /** GGUF preset baked into the local llama.cpp image. */
    llmPreset: z.enum(LLM_PRESET_NAMES as [LlmPresetName, ...LlmPresetName[]]).default('tiny'),
    /** llama-server --parallel (slots; continuous batching is on). */
    llmParallel: int(1, 64).default(2),
    /** llama-server -c: context of all slots together. */
    llmCtxSize: int(512, 1_048_576).default(8192),
    /** llama-server -t (CPU threads; on a GPU host the GPU does the work). */
    llmThreads: int(1, 256).default(1),
    /** llama-server -ngl on a GPU host (999 = every layer). */
    llmGpuLayers: int(0, 999).default(999),
    /** Detector: inferences at once (default 2: the cores of a small CI machine, one ONNX Runtime thread each), ONNX Runtime threads per inference. */
    detectorConcurrency: int(1, 64).default(2),
    detectorThreads: int(1, 256).default(1),
    /** How long a real engine may take to load its model and answer /health. */
    healthTimeoutSeconds: int(5, 3600).default(120),
    /** Host folder mounted read-only at /models in both engines (GPU hosts; registry mode). */
    modelDir: z.string().min(1).optional(),
    /** File names in modelDir; without modelDir the images' own synthetic models are used. */
    llmModelFile: z.string().min(1).regex(/^[^/]+$/, 'a file name inside modelDir').optional(),
    detectorModelFile: z.string().min(1).regex(/^[^/]+$/, 'a file name inside modelDir').optional(),
    /**
     * Per-service images, pulled instead of built (GPU hosts): e.g. llama.cpp's CUDA
     * server image (tag `server-cuda`) with a model in modelDir. Unset: the local build
     * (imageMode local) or registryImages.llmReal / detectorReal (imageMode registry).
     */
    llmImage: z.string().min(1).regex(/^[a-z0-9][a-z0-9._\/:@-]*$/i, 'not a docker image reference').optional(),
    detectorImage: z.string().min(1).regex(/^[a-z0-9][a-z0-9._\/:@-]*$/i, 'not a docker image reference').optional(),
    /** Memory limit of each engine container in MB (0 = none); a model larger than it is refused before start. */
    memoryLimitMb: int(0, 10_000_000).default(0),
  })
  .strict();
export type RealAiConfig = z.infer<typeof RealAiConfigSchema>;
