import type { StackConfig } from '../../config/stack-config.ts';
import { buildLocalImages, type ImageBuildReport } from './local-image-builder.ts';

/**
 * Makes the stack's images available: `local` builds what is missing or stale;
 * `registry` leaves pulling to Testcontainers at start.
 */
export async function prepareImages(
  config: Pick<StackConfig, 'imageMode' | 'cacheDir'>,
  options: { force?: boolean; log?: (line: string) => void } = {},
): Promise<ImageBuildReport[]> {
  if (config.imageMode === 'registry') return [];
  return buildLocalImages({ cacheDir: config.cacheDir, force: options.force ?? false, log: options.log ?? (() => {}) });
}
