import { errorMessage } from '../errors.ts';
import { gpuPeaks, samplesBetween, type GpuPeaks, type GpuPeaksOfDevice } from './gpu-peaks.ts';
import { NO_GPU_TELEMETRY, type GpuNdjsonLine, type GpuReadResult, type GpuSample, type GpuSource, type GpuSourceKind } from './gpu-sample.ts';

/**
 * Samples GPU telemetry through a run. `start()` tries the sources in order (nvidia-smi,
 * the backend's /api/system/gpu, the AI services' /health: HSI's own monitor's order) and
 * keeps the first that has a GPU in its answer; then one read every `intervalMs` (reads
 * never overlap) until `stop()`. Every line goes to `sink` as it happens (gpu.ndjson).
 * A malformed line is skipped and counted; a GPU missing from a later answer is recorded
 * as lost (and as back if it returns); a failed read leaves a gap, never a zero.
 */
export interface GpuSamplerOptions {
  /** In fallback order; the first with a GPU wins. */
  sources: readonly GpuSource[];
  intervalMs?: number;
  sink?: (line: GpuNdjsonLine) => void;
  log?: (line: string) => void;
  now?: () => number;
}

export interface TriedSource {
  source: string;
  reason: string;
}

export interface GpuTelemetry {
  source: GpuSourceKind | null;
  /** The chosen source for people, or NO_GPU_TELEMETRY. */
  sourceLabel: string;
  /** Sources tried before the chosen one (all of them when none answered), with why each did not count. */
  tried: TriedSource[];
  sampleCount: number;
  malformedLines: number;
  readFailures: number;
  lastReadFailure: string | null;
  lost: { index: number; name: string | null; epochMs: number }[];
  peaks: GpuPeaks;
  perGpu: GpuPeaksOfDevice[];
}

export class GpuSampler {
  private readonly options: GpuSamplerOptions;
  private readonly now: () => number;
  private source: GpuSource | null = null;
  private tried: TriedSource[] = [];
  private readonly samples: GpuSample[] = [];
  private malformed = 0;
  private readFailures = 0;
  private lastReadFailure: string | null = null;
  private readonly lost: GpuTelemetry['lost'] = [];
  private readonly known = new Map<number, string | null>();
  private readonly missing = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private running = false;

  constructor(options: GpuSamplerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Picks the source (writes a `source` line) and starts the sampling loop. */
  async start(): Promise<GpuTelemetry> {
    for (const source of this.options.sources) {
      const result = await this.safeRead(source);
      if (result.ok && result.gpus.length > 0) {
        this.source = source;
        this.emit({ kind: 'source', epochMs: this.now(), source: source.kind, label: source.label, tried: this.tried });
        this.record(result);
        break;
      }
      this.tried.push({ source: source.label, reason: result.ok ? 'answered without a GPU' : result.reason });
    }
    if (this.source === null) {
      this.emit({ kind: 'source', epochMs: this.now(), source: null, label: NO_GPU_TELEMETRY, tried: this.tried });
      this.options.log?.(`gpu: ${NO_GPU_TELEMETRY} (${this.tried.map((t) => `${t.source}: ${t.reason}`).join('; ') || 'no source configured'})`);
      return this.telemetry();
    }
    this.options.log?.(`gpu: sampling ${this.source.label} every ${this.intervalMs()} ms (${this.known.size} GPU${this.known.size === 1 ? '' : 's'})`);
    this.running = true;
    this.schedule();
    return this.telemetry();
  }

  /** Stops the loop, waits for a read in flight, returns the run's telemetry. */
  async stop(): Promise<GpuTelemetry> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    return this.telemetry();
  }

  /** One read of the chosen source now (the loop calls it; tests call it to step deterministically). */
  async sampleOnce(): Promise<void> {
    if (!this.source) return;
    this.record(await this.safeRead(this.source));
  }

  getSamples(): readonly GpuSample[] {
    return this.samples;
  }

  /** Peaks in a window of the run (a capacity step), or of the whole run. */
  peaks(startEpochMs = -Infinity, endEpochMs = Infinity): { overall: GpuPeaks; perGpu: GpuPeaksOfDevice[] } {
    return gpuPeaks(samplesBetween(this.samples, startEpochMs, endEpochMs));
  }

  telemetry(): GpuTelemetry {
    const { overall, perGpu } = this.peaks();
    return {
      source: this.source?.kind ?? null,
      sourceLabel: this.source?.label ?? NO_GPU_TELEMETRY,
      tried: [...this.tried],
      sampleCount: this.samples.length,
      malformedLines: this.malformed,
      readFailures: this.readFailures,
      lastReadFailure: this.lastReadFailure,
      lost: [...this.lost],
      peaks: overall,
      perGpu,
    };
  }

  private intervalMs(): number {
    return Math.max(50, this.options.intervalMs ?? 1_000);
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.sampleOnce().finally(() => {
        this.inFlight = undefined;
        this.schedule();
      });
    }, this.intervalMs());
    this.timer.unref();
  }

  private async safeRead(source: GpuSource): Promise<GpuReadResult> {
    try {
      return await source.read();
    } catch (error) {
      return { ok: false, reason: errorMessage(error) };
    }
  }

  private record(result: GpuReadResult): void {
    const epochMs = this.now();
    if (!result.ok) {
      this.readFailures += 1;
      this.lastReadFailure = result.reason;
      this.emit({ kind: 'read-failed', epochMs, reason: result.reason });
      return;
    }
    for (const m of result.malformed) {
      this.malformed += 1;
      this.emit({ kind: 'malformed', epochMs, line: m.line, reason: m.reason });
    }
    // A GPU whose row was cut off is unread this time, not gone.
    const unread = result.malformed.flatMap((m) => (m.index === undefined ? [] : [{ index: m.index, name: this.known.get(m.index) ?? null }]));
    this.trackPresence([...result.gpus.map((g) => ({ index: g.index, name: g.name })), ...unread], epochMs);
    if (result.gpus.length === 0) return;
    const sample: GpuSample = { kind: 'sample', epochMs, source: this.source!.kind, gpus: result.gpus };
    this.samples.push(sample);
    this.emit(sample);
  }

  /** A GPU seen before and missing now is lost (once); seen again, it is back. */
  private trackPresence(present: { index: number; name: string | null }[], epochMs: number): void {
    const now = new Set(present.map((g) => g.index));
    for (const [index, name] of this.known) {
      if (!now.has(index) && !this.missing.has(index)) {
        this.missing.add(index);
        this.lost.push({ index, name, epochMs });
        this.emit({ kind: 'gpu-lost', epochMs, index, name });
        this.options.log?.(`gpu: GPU ${index}${name ? ` (${name})` : ''} disappeared from ${this.source?.label ?? 'the source'}`);
      }
    }
    for (const g of present) {
      if (this.missing.delete(g.index)) this.emit({ kind: 'gpu-back', epochMs, index: g.index, name: g.name });
      if (!this.known.has(g.index)) this.known.set(g.index, g.name);
    }
  }

  private emit(line: GpuNdjsonLine): void {
    this.options.sink?.(line);
  }
}
