import { anyReal, EMULATED, type AiModes } from '../../config/real-ai-config.ts';
import type { StackConfig } from '../../config/stack-config.ts';
import { buildLocalImages, type ImageBuildReport } from './local-image-builder.ts';
import { buildRealAiImages } from './real-ai-images.ts';

/**
 * Makes the stack's images available: `local` builds what is missing or stale (the real
 * inference engines' images only when `ai` asks for them); `registry` leaves pulling to
 * Testcontainers at start.
 */
export async function prepareImages(
  config: Pick<StackConfig, 'imageMode' | 'cacheDir' | 'realAi' | 'localImagePrefix' | 'debianMirror'>,
  options: { force?: boolean; log?: (line: string) => void; ai?: AiModes } = {},
): Promise<ImageBuildReport[]> {
  if (config.imageMode === 'registry') return [];
  const common = {
    cacheDir: config.cacheDir,
    ...(config.debianMirror !== undefined ? { debianMirror: config.debianMirror } : {}),
    force: options.force ?? false,
    log: options.log ?? (() => {}),
  };
  const ai = options.ai ?? EMULATED;
  // An engine with its own image (realAi.llmImage / detectorImage) is pulled, not built.
  const modes: AiModes = {
    detector: config.realAi.detectorImage === undefined ? ai.detector : 'emulated',
    llm: config.realAi.llmImage === undefined ? ai.llm : 'emulated',
  };
  const localOptions = { ...common, imagePrefix: config.localImagePrefix };
  if (!anyReal(modes)) return buildLocalImages(localOptions);
  // On a cold machine the forky images build beside the bookworm ones (other rootfs, other tags).
  const local = buildLocalImages(localOptions);
  const real = buildRealAiImages({ ...localOptions, modes, llmPreset: config.realAi.llmPreset }, local.catch(() => undefined));
  const [localReports, realReports] = await Promise.all([local, real]);
  return [...localReports, ...realReports];
}
