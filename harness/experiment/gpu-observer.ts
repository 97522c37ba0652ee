import type { AttachedTarget } from './phases.ts';
import type { RunContext, RunObserver } from './run-session.ts';
import type { RunReportModel } from '../report/report-model.ts';
import type { NdjsonWriter } from '../util/run-results.ts';
import { registerTeardown } from '../stack/teardown.ts';
import { gpuReportView } from '../report/gpu-report-view.ts';
import type { GpuPeaks, GpuPeaksOfDevice } from '../gpu/gpu-peaks.ts';
import { GpuSampler } from '../gpu/gpu-sampler.ts';
import type { GpuSource } from '../gpu/gpu-sample.ts';
import { gpuSourcesFor } from '../gpu/gpu-sources.ts';

export const GPU_NDJSON_FILE = 'gpu.ndjson';

export interface GpuObserverOptions {
  /** One read every … ms (default 1000). */
  intervalMs?: number;
  /** Replace the sources derived from the stack (tests). */
  sources?: (target: AttachedTarget) => GpuSource[];
}

/** The sources for a stack: nvidia-smi on the host, in the AI containers that got GPUs, the backend, the AI services' /health. */
export function gpuSourcesOfTarget(target: AttachedTarget): GpuSource[] {
  const gpuContainers = target.stack?.gpuContainers() ?? [];
  return gpuSourcesFor({ host: true, gpuContainers, backendUrl: target.endpoints.backendUrl, aiServices: target.emulatorUrls, ...(target.http ? { backendHttp: target.http } : {}) });
}

/**
 * GPU telemetry beside the phases of every run (a RunObserver): sampling starts when the stack
 * is up, samples go to gpu.ndjson as they come, and at the end the report model gets its
 * `gpu` section on the load's time axis. A capacity search reads `peaks(window)` per step and
 * marks its knee with `setKnee`.
 */
export class GpuObserver implements RunObserver {
  readonly name = 'gpu telemetry';
  private readonly options: GpuObserverOptions;
  private sampler: GpuSampler | undefined;
  private writer: NdjsonWriter | undefined;
  private loadStartEpochMs: number | undefined;
  private knee: { tSec: number; label: string } | undefined;
  private unregisterTeardown: () => void = () => {};
  private finished = false;

  constructor(options: GpuObserverOptions = {}) {
    this.options = options;
  }

  async onTargetReady(ctx: RunContext): Promise<void> {
    const writer = ctx.results.ndjsonWriter(GPU_NDJSON_FILE, { flushEveryMs: 1_000 });
    this.writer = writer;
    const sources = this.options.sources ? this.options.sources(ctx.target) : gpuSourcesOfTarget(ctx.target);
    this.sampler = new GpuSampler({ sources, intervalMs: this.options.intervalMs ?? 1_000, sink: (line) => writer.write(line), log: ctx.log });
    // On Ctrl-C the session's summary is saved from a teardown, not from onFinish: this one runs
    // just before it (newest first), so an interrupted run's summary.json has its GPU section too.
    this.unregisterTeardown = registerTeardown('gpu telemetry', () => this.finish(ctx.model));
    await this.sampler.start();
  }

  /** The first load's start is the report's time zero. */
  onLoadStart(_ctx: RunContext, startEpochMs: number): void {
    this.loadStartEpochMs ??= startEpochMs;
  }

  /** Peaks in a window (epoch ms) of the run, e.g. one capacity step; all null without telemetry. */
  peaks(startEpochMs?: number, endEpochMs?: number): { overall: GpuPeaks; perGpu: GpuPeaksOfDevice[] } | undefined {
    return this.sampler?.peaks(startEpochMs, endEpochMs);
  }

  /** Marks the capacity knee on the GPU charts (seconds since the first load started). */
  setKnee(tSec: number, label: string): void {
    this.knee = { tSec, label };
  }

  async onFinish(ctx: Pick<RunContext, 'model' | 'log'>): Promise<void> {
    this.unregisterTeardown();
    await this.finish(ctx.model);
  }

  private async finish(model: RunReportModel): Promise<void> {
    const sampler = this.sampler;
    if (!sampler || this.finished) return;
    this.finished = true;
    const telemetry = await sampler.stop();
    this.writer?.close();
    const samples = sampler.getSamples();
    const zero = this.loadStartEpochMs ?? samples[0]?.epochMs ?? Date.now();
    model.gpu = gpuReportView(telemetry, samples, zero, this.knee);
  }
}
