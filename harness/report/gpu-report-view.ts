import type { GpuPoint, GpuReportView } from './report-model.ts';
import type { GpuSample } from '../gpu/gpu-sample.ts';
import type { GpuTelemetry } from '../gpu/gpu-sampler.ts';

/**
 * The report's view of a run's GPU telemetry: series per GPU on the report's time axis
 * (seconds since the load started, like every other chart), peaks, and what went wrong.
 */
export function gpuReportView(telemetry: GpuTelemetry, samples: readonly GpuSample[], loadStartEpochMs: number, knee?: { tSec: number; label: string }): GpuReportView {
  const toSec = (epochMs: number) => Math.round(epochMs - loadStartEpochMs) / 1000;
  const series = new Map<number, { index: number; name: string | null; points: GpuPoint[] }>();
  for (const s of samples) {
    for (const r of s.gpus) {
      const entry = series.get(r.index) ?? { index: r.index, name: r.name, points: [] };
      entry.points.push({ tSec: toSec(s.epochMs), utilizationPct: r.utilizationPct, memoryUsedMiB: r.memoryUsedMiB, memoryTotalMiB: r.memoryTotalMiB, temperatureC: r.temperatureC, powerW: r.powerW });
      series.set(r.index, entry);
    }
  }
  return {
    available: telemetry.source !== null,
    source: telemetry.sourceLabel,
    tried: telemetry.tried,
    sampleCount: telemetry.sampleCount,
    malformedLines: telemetry.malformedLines,
    readFailures: telemetry.readFailures,
    lastReadFailure: telemetry.lastReadFailure,
    lost: telemetry.lost.map((l) => ({ index: l.index, name: l.name, atSec: toSec(l.epochMs) })),
    peaks: telemetry.peaks,
    perGpu: telemetry.perGpu,
    series: [...series.values()].sort((a, b) => a.index - b.index),
    ...(knee ? { knee } : {}),
  };
}

/** One line for the terminal and summary.md: the source and the peaks, or "no GPU telemetry (why)". */
export function gpuSummaryLine(view: GpuReportView): string {
  if (!view.available) {
    const why = view.tried.map((t) => `${t.source}: ${t.reason}`).join('; ');
    return `${view.source}${why ? ` (${why})` : ''}`;
  }
  const p = view.peaks;
  const parts = [`${view.source}, ${view.perGpu.length} GPU${view.perGpu.length === 1 ? '' : 's'}, ${view.sampleCount} samples`];
  parts.push(`peak utilisation ${p.utilizationPct === null ? 'not reported' : `${p.utilizationPct.toFixed(0)} %`}`);
  const gib = (mib: number) => `${(mib / 1024).toFixed(1)} GiB`;
  if (p.memoryUsedMiB === null) parts.push('memory not reported');
  else parts.push(`peak memory ${gib(p.memoryUsedMiB)}${p.memoryTotalMiB !== null ? ` of ${gib(p.memoryTotalMiB)}` : ' (total unknown)'}${p.memoryUsedFraction !== null ? ` (${(p.memoryUsedFraction * 100).toFixed(1)} %)` : ''}`);
  if (p.temperatureC !== null) parts.push(`peak ${p.temperatureC.toFixed(0)} °C`);
  if (p.powerW !== null) parts.push(`peak ${p.powerW.toFixed(0)} W`);
  if (view.malformedLines > 0) parts.push(`${view.malformedLines} malformed line(s) skipped`);
  if (view.readFailures > 0) parts.push(`${view.readFailures} failed read(s)${view.lastReadFailure ? ` (last: ${view.lastReadFailure})` : ''}`);
  for (const l of view.lost) parts.push(`GPU ${l.index}${l.name ? ` (${l.name})` : ''} lost at ${l.atSec.toFixed(1)} s`);
  return parts.join(', ');
}
