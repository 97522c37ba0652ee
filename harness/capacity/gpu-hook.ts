import type { AttachedTarget } from '../experiment/phases.ts';
import type { GpuObserver } from '../experiment/gpu-observer.ts';
import type { RunResults } from '../util/run-results.ts';
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

/**
 * GPU telemetry through the run's GpuObserver (one sampler for the run: gpu.ndjson, the report's
 * GPU charts with the knee marked): the headroom SLO reads its peaks per window.
 */
export function gpuObserverHook(observer: GpuObserver): CapacityGpuFactory {
  return async () => ({
    source: 'gpu telemetry',
    memoryUsedFraction: (fromMs, toMs) => observer.peaks(fromMs, toMs)?.overall.memoryUsedFraction ?? null,
    peaks: () => {
      const p = observer.peaks();
      if (!p || p.perGpu.length === 0) return null;
      const o = p.overall;
      return { source: 'gpu telemetry (see gpu.ndjson)', gpus: p.perGpu.length, peakUtilisation: o.utilizationPct === null ? null : o.utilizationPct / 100, peakMemoryUsedFraction: o.memoryUsedFraction, peakTemperatureC: o.temperatureC };
    },
    // the observer stops with the run session
    stop: async () => {},
  });
}
