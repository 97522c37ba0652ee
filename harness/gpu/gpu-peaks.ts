import { memoryUsedFraction, type GpuReading, type GpuSample } from './gpu-sample.ts';

/**
 * Peaks over samples: per GPU and over all GPUs. A peak is null when no sample had the value
 * (never 0). `memoryUsedFraction` is the highest used/total seen on any GPU: the number a
 * capacity search compares with a VRAM headroom limit (HSI's own monitor throttles from 85 %
 * and calls ≥ 95 % critical; the real deployment's first limit was 97.6 %).
 */
export interface GpuPeaks {
  utilizationPct: number | null;
  memoryUsedMiB: number | null;
  memoryTotalMiB: number | null;
  memoryUsedFraction: number | null;
  temperatureC: number | null;
  powerW: number | null;
}

export interface GpuPeaksOfDevice extends GpuPeaks {
  index: number;
  name: string | null;
}

const max = (a: number | null, b: number | null): number | null => (b === null ? a : a === null ? b : Math.max(a, b));

export function emptyPeaks(): GpuPeaks {
  return { utilizationPct: null, memoryUsedMiB: null, memoryTotalMiB: null, memoryUsedFraction: null, temperatureC: null, powerW: null };
}

function addReading(peaks: GpuPeaks, r: GpuReading): GpuPeaks {
  return {
    utilizationPct: max(peaks.utilizationPct, r.utilizationPct),
    memoryUsedMiB: max(peaks.memoryUsedMiB, r.memoryUsedMiB),
    memoryTotalMiB: max(peaks.memoryTotalMiB, r.memoryTotalMiB),
    memoryUsedFraction: max(peaks.memoryUsedFraction, memoryUsedFraction(r)),
    temperatureC: max(peaks.temperatureC, r.temperatureC),
    powerW: max(peaks.powerW, r.powerW),
  };
}

/** Peaks over all GPUs and per GPU (by index, in index order). */
export function gpuPeaks(samples: readonly GpuSample[]): { overall: GpuPeaks; perGpu: GpuPeaksOfDevice[] } {
  let overall = emptyPeaks();
  const perGpu = new Map<number, GpuPeaksOfDevice>();
  for (const s of samples) {
    for (const r of s.gpus) {
      overall = addReading(overall, r);
      const prev = perGpu.get(r.index) ?? { index: r.index, name: r.name, ...emptyPeaks() };
      perGpu.set(r.index, { ...addReading(prev, r), index: r.index, name: prev.name ?? r.name });
    }
  }
  return { overall, perGpu: [...perGpu.values()].sort((a, b) => a.index - b.index) };
}

/** Samples taken in [startEpochMs, endEpochMs]: a capacity step's window. */
export function samplesBetween(samples: readonly GpuSample[], startEpochMs: number, endEpochMs: number): GpuSample[] {
  return samples.filter((s) => s.epochMs >= startEpochMs && s.epochMs <= endEpochMs);
}
