import { createHash } from 'node:crypto';
import type { Tracer } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { initTracing, type InitTracingOptions } from '../telemetry/tracing.ts';
import type { DetectorDefects } from './settings.ts';

/**
 * The detector's defect switches that concern tracing. They emulate gaps of the real stack so
 * that the harness can prove that it notices them:
 *
 * - not instrumented: the detector emits no spans (the real HSI's AI services have no
 *   instrumentation); its spans never leave the process;
 * - drops spans: a fraction of traces lose all their detector spans on the way to the
 *   collector. The choice is a hash of the seed and the trace id, so every span of one trace
 *   goes the same way and the same seed drops the same traces.
 *
 * Both can change while the detector runs (POST /admin/defects, detector-emulator/app.ts), as
 * the backend's can: the exporter judges each span by the switches in effect when the span
 * ended (LiveDetectorDefects keeps their recent history), so a switch turned off does not let
 * through the spans that ended while it was on, whatever the batch processor's delay.
 *
 * Kept out of telemetry/tracing.ts on purpose: they are defects, not tracing features.
 */

/** Whether the detector drops the spans of this trace: hash(seed, trace id) as a uniform in [0, 1) < fraction. */
export function dropsTrace(traceId: string, fraction: number, seed: string): boolean {
  if (fraction <= 0) return false;
  if (fraction >= 1) return true;
  const digest = createHash('sha256').update(`${seed}\0${traceId}`).digest();
  return digest.readUInt32LE(0) / 4294967296 < fraction;
}

/** The detector's switch variables (as in its environment and in POST /admin/defects). */
export const DETECTOR_DEFECT_VARIABLES = {
  notInstrumented: 'HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED',
  dropSpansFraction: 'HSI_DEFECT_DETECTOR_DROPS_SPANS',
} as const satisfies Record<keyof DetectorDefects, string>;

/** How many switch changes the history keeps (spans end and are exported within seconds). */
const HISTORY_LIMIT = 64;

/**
 * The detector's switches now, and since when each state held: `at(epochMs)` answers the
 * switches in effect at a past moment (a span's end), for the exporter.
 */
export class LiveDetectorDefects {
  private readonly history: { sinceMs: number; defects: Readonly<DetectorDefects> }[];

  constructor(initial: DetectorDefects) {
    this.history = [{ sinceMs: Number.NEGATIVE_INFINITY, defects: { ...initial } }];
  }

  get current(): Readonly<DetectorDefects> {
    return this.history[this.history.length - 1]!.defects;
  }

  /** Sets some switches from now on (`nowMs` for tests); returns the previous state. */
  set(change: Partial<DetectorDefects>, nowMs = Date.now()): Readonly<DetectorDefects> {
    const previous = this.current;
    this.history.push({ sinceMs: nowMs, defects: { ...previous, ...change } });
    if (this.history.length > HISTORY_LIMIT) this.history.splice(0, this.history.length - HISTORY_LIMIT);
    return previous;
  }

  /** The switches in effect at `epochMs` (the oldest kept state before the history's start). */
  at(epochMs: number): Readonly<DetectorDefects> {
    for (let i = this.history.length - 1; i >= 0; i--) if (this.history[i]!.sinceMs <= epochMs) return this.history[i]!.defects;
    return this.history[0]!.defects;
  }

  /** Whether any switch is on now. */
  get anyOn(): boolean {
    return this.current.notInstrumented || this.current.dropSpansFraction > 0;
  }
}

/** A span's end as epoch milliseconds (HrTime is [seconds, nanoseconds] since the epoch). */
function endEpochMs(span: ReadableSpan): number {
  return span.endTime[0] * 1000 + span.endTime[1] / 1e6;
}

/**
 * A span exporter that silently leaves out the spans the detector's defects remove: every span
 * that ended while "not instrumented" was on, and every span of the traces `dropsTrace` picks
 * at the fraction in effect when it ended.
 */
export class TraceDroppingExporter implements SpanExporter {
  private readonly inner: SpanExporter;
  private readonly defects: LiveDetectorDefects;
  private readonly seed: string;
  /** Spans left out so far (for the emulator's stats). */
  dropped = 0;

  constructor(inner: SpanExporter, defects: LiveDetectorDefects, seed: string) {
    this.inner = inner;
    this.defects = defects;
    this.seed = seed;
  }

  private drops(span: ReadableSpan): boolean {
    const d = this.defects.at(endEpochMs(span));
    return d.notInstrumented || dropsTrace(span.spanContext().traceId, d.dropSpansFraction, this.seed);
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const kept = spans.filter((span) => !this.drops(span));
    this.dropped += spans.length - kept.length;
    if (kept.length === 0) {
      resultCallback({ code: ExportResultCode.SUCCESS });
      return;
    }
    this.inner.export(kept, resultCallback);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

export interface DetectorTracing {
  tracer: Tracer;
  /** The switches, live: POST /admin/defects changes them, the exporter reads them. */
  defects: LiveDetectorDefects;
  /** The exporter that applies them (undefined when export is disabled: nothing leaves the process anyway). */
  dropper: TraceDroppingExporter | undefined;
  forceFlush(timeoutMs?: number): Promise<void>;
  shutdown(timeoutMs?: number): Promise<void>;
}

/**
 * initTracing with the detector's defects applied by its exporter (OTLP, or `options.exporter`
 * in tests) wrapped in a TraceDroppingExporter that reads the live switches: "not instrumented"
 * leaves out every span, "drops spans" the picked traces' spans, and either can be turned on or
 * off while the detector runs.
 */
export function initDetectorTracing(defects: DetectorDefects, seed: string, options: InitTracingOptions): DetectorTracing {
  const live = new LiveDetectorDefects(defects);
  let dropper: TraceDroppingExporter | undefined;
  let tracingOptions = options;
  const env = options.env ?? process.env;
  const exportDisabled = env['OTEL_SDK_DISABLED'] === 'true' || env['OTEL_TRACES_EXPORTER'] === 'none';
  if (options.exporter !== undefined || !exportDisabled) {
    // The same endpoint choice as initTracing's.
    const endpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? env['OTEL_EXPORTER_OTLP_ENDPOINT'];
    const inner = options.exporter ?? new OTLPTraceExporter(endpoint !== undefined && endpoint !== '' ? { url: endpoint } : {});
    dropper = new TraceDroppingExporter(inner, live, seed);
    tracingOptions = { ...options, exporter: dropper };
  }
  const tracing = initTracing(tracingOptions);
  return {
    // The provider's own tracer, not the global one: the same in the detector's process, and a
    // test process that sets up several detectors keeps their spans apart.
    tracer: tracing.provider.getTracer(tracing.serviceName),
    defects: live,
    dropper,
    forceFlush: (timeoutMs) => tracing.forceFlush(timeoutMs),
    shutdown: (timeoutMs) => tracing.shutdown(timeoutMs),
  };
}

export class DetectorDefectSwitchError extends Error {
  override name = 'DetectorDefectSwitchError';
}

const ON = new Set(['1', 'true', 'yes', 'on']);
const OFF = new Set(['', '0', 'false', 'no', 'off']);

/** The switches as environment values: "1"/"0" and the fraction. */
export function detectorDefectValues(d: Readonly<DetectorDefects>): Record<string, string> {
  return { [DETECTOR_DEFECT_VARIABLES.notInstrumented]: d.notInstrumented ? '1' : '0', [DETECTOR_DEFECT_VARIABLES.dropSpansFraction]: String(d.dropSpansFraction) };
}

/** Variables of the switches on, sorted. */
export function activeDetectorDefects(d: Readonly<DetectorDefects>): string[] {
  const on: string[] = [];
  if (d.notInstrumented) on.push(DETECTOR_DEFECT_VARIABLES.notInstrumented);
  if (d.dropSpansFraction > 0) on.push(DETECTOR_DEFECT_VARIABLES.dropSpansFraction);
  return on.sort();
}

/**
 * A POST /admin/defects body (variable → value, strings as in the environment, numbers or
 * booleans) as a change of the switches; an unknown variable or a bad value throws
 * DetectorDefectSwitchError naming it.
 */
export function parseDetectorDefectSwitches(request: Readonly<Record<string, string | number | boolean>>): Partial<DetectorDefects> {
  const change: Partial<DetectorDefects> = {};
  for (const [variable, raw] of Object.entries(request)) {
    const value = String(raw).trim().toLowerCase();
    if (variable === DETECTOR_DEFECT_VARIABLES.notInstrumented) {
      if (!ON.has(value) && !OFF.has(value)) throw new DetectorDefectSwitchError(`${variable}: expected 1 or 0`);
      change.notInstrumented = ON.has(value);
    } else if (variable === DETECTOR_DEFECT_VARIABLES.dropSpansFraction) {
      const fraction = value === '' ? 0 : Number(value);
      if (!Number.isFinite(fraction) || fraction < 0 || fraction > 1) throw new DetectorDefectSwitchError(`${variable}: expected a fraction between 0 and 1`);
      change.dropSpansFraction = fraction;
    } else {
      throw new DetectorDefectSwitchError(`${variable}: not a detector defect switch; known: ${Object.values(DETECTOR_DEFECT_VARIABLES).join(', ')}`);
    }
  }
  return change;
}
