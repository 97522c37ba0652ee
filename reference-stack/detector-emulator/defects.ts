import { createHash } from 'node:crypto';
import { ProxyTracerProvider, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { initTracing, type InitTracingOptions } from '../telemetry/tracing.ts';
import type { DetectorDefects } from './settings.ts';

/**
 * The detector's defect switches that concern tracing. They emulate gaps of the real stack so
 * that the harness can prove that it notices them:
 *
 * - not instrumented: no tracer provider is set up at all, so the detector emits no spans and
 *   ignores incoming trace context (the real HSI's AI services have no instrumentation);
 * - drops spans: a fraction of traces lose all their detector spans on the way to the
 *   collector. The choice is a hash of the seed and the trace id, so every span of one trace
 *   goes the same way and the same seed drops the same traces.
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

/** A span exporter that silently leaves out every span of the traces `dropsTrace` picks. */
export class TraceDroppingExporter implements SpanExporter {
  private readonly inner: SpanExporter;
  private readonly fraction: number;
  private readonly seed: string;
  /** Spans left out so far (for the emulator's stats). */
  dropped = 0;

  constructor(inner: SpanExporter, fraction: number, seed: string) {
    this.inner = inner;
    this.fraction = fraction;
    this.seed = seed;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const kept = spans.filter((span) => !dropsTrace(span.spanContext().traceId, this.fraction, this.seed));
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
  /** False when HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED is on. */
  instrumented: boolean;
  /** Set when HSI_DEFECT_DETECTOR_DROPS_SPANS is above 0. */
  dropper: TraceDroppingExporter | undefined;
  forceFlush(timeoutMs?: number): Promise<void>;
  shutdown(timeoutMs?: number): Promise<void>;
}

/**
 * initTracing with the detector's defects applied. Not instrumented: no provider, no
 * propagator, no exporter; the tracer is a no-op, so the server's spans are non-recording.
 * Drops spans: the exporter (OTLP, or `options.exporter` in tests) is wrapped in a
 * TraceDroppingExporter.
 */
export function initDetectorTracing(defects: DetectorDefects, seed: string, options: InitTracingOptions): DetectorTracing {
  if (defects.notInstrumented) {
    return {
      // A provider with no delegate hands out no-op tracers; nothing is registered globally.
      tracer: new ProxyTracerProvider().getTracer(options.serviceName),
      instrumented: false,
      dropper: undefined,
      forceFlush: async () => undefined,
      shutdown: async () => undefined,
    };
  }
  let dropper: TraceDroppingExporter | undefined;
  let tracingOptions = options;
  if (defects.dropSpansFraction > 0) {
    const env = options.env ?? process.env;
    const exportDisabled = env['OTEL_SDK_DISABLED'] === 'true' || env['OTEL_TRACES_EXPORTER'] === 'none';
    if (options.exporter !== undefined || !exportDisabled) {
      // The same endpoint choice as initTracing's.
      const endpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? env['OTEL_EXPORTER_OTLP_ENDPOINT'];
      const inner = options.exporter ?? new OTLPTraceExporter(endpoint !== undefined && endpoint !== '' ? { url: endpoint } : {});
      dropper = new TraceDroppingExporter(inner, defects.dropSpansFraction, seed);
      tracingOptions = { ...options, exporter: dropper };
    }
  }
  const tracing = initTracing(tracingOptions);
  return {
    tracer: tracing.tracer,
    instrumented: true,
    dropper,
    forceFlush: (timeoutMs) => tracing.forceFlush(timeoutMs),
    shutdown: (timeoutMs) => tracing.shutdown(timeoutMs),
  };
}
