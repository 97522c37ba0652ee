import type { AttachedTarget } from '../experiment/phases.ts';
import { GpuSampler } from '../gpu/gpu-sampler.ts';
import { gpuSourcesFor } from '../gpu/gpu-sources.ts';
import type { RunResults } from '../report/run-results.ts';
import type { GpuPeaks } from './capacity-types.ts';
import type { GpuHeadroomSource } from './step-runner.ts';

/**
 * The capacity search's view of GPU telemetry (harness/gpu): the VRAM-headroom SLO reads the
 * peak memory-used fraction of each window, capacity.json the run's peaks. Without a source
 * the SLO is "n/a: no GPU telemetry" and the peaks are null, said plainly (never zeros).
 */
export interface CapacityGpuHook extends GpuHeadroomSource {
  peaks(): GpuPeaks | null;
  stop(): Promise<void>;
}

export type CapacityGpuFactory = (target: AttachedTarget, results: RunResults, log: (line: string) => void) => Promise<CapacityGpuHook | undefined>;

/** GPU telemetry through the sampler, in HSI's fallback order, samples to gpu.ndjson. */
export const samplerGpuHook: CapacityGpuFactory = async (target, results, log) => {
  const sampler = new GpuSampler({
    sources: gpuSourcesFor({ host: true, backendUrl: target.endpoints.backendUrl, aiServices: target.emulatorUrls }),
    intervalMs: 1_000,
    sink: (line) => results.appendNdjson('gpu.ndjson', line),
    log,
  });
  const started = await sampler.start();
  return {
    source: started.sourceLabel,
    memoryUsedFraction: (fromMs, toMs) => sampler.peaks(fromMs, toMs).overall.memoryUsedFraction,
    peaks: () => {
      const t = sampler.telemetry();
      if (t.source === null) return null;
      return {
        source: t.sourceLabel,
        gpus: Math.max(1, t.perGpu.length),
        peakUtilisation: t.peaks.utilizationPct === null ? null : t.peaks.utilizationPct / 100,
        peakMemoryUsedFraction: t.peaks.memoryUsedFraction,
        peakTemperatureC: t.peaks.temperatureC,
      };
    },
    stop: async () => {
      await sampler.stop();
    },
  };
};
