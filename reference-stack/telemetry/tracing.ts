import {
  context,
  diag,
  DiagLogLevel,
  propagation,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  TraceFlags,
  type SpanKind,
  type Attributes,
  type Context,
  type Link,
  type DiagLogger,
  type Span,
  type SpanOptions,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { defaultResource, detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  SamplingDecision,
  type Sampler,
  type SamplingResult,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_ERROR_TYPE, ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { StackProfile } from '../../harness/contract/profiles.ts';
import { createLogger, rateLimited } from '../common/log.ts';
import { hsiSamplingRatesFromEnv, HsiRuleSampler } from './hsi-sampler.ts';

/**
 * Tracing set-up shared by the reference services, following the HSI contract:
 * OTLP gRPC export to OTEL_EXPORTER_OTLP_ENDPOINT, batch processor (queue 8192, batch 1024,
 * delay 2000 ms), W3C tracecontext + baggage propagation, parent-based priority sampling.
 */

export interface BatchProcessorConfig {
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
}

/** Contract values of the batch span processor (HSI backend settings). */
export const BATCH_PROCESSOR_DEFAULTS: Readonly<BatchProcessorConfig> = {
  maxQueueSize: 8192,
  maxExportBatchSize: 1024,
  scheduledDelayMillis: 2000,
  exportTimeoutMillis: 30_000,
};

export interface InitTracingOptions {
  /** Used unless OTEL_SERVICE_NAME is set. */
  serviceName: string;
  resourceAttributes?: Attributes;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Replaces the OTLP exporter (tests). */
  exporter?: SpanExporter;
  /** Extra processors after the batch processor (tests: a SimpleSpanProcessor on an in-memory exporter). */
  extraSpanProcessors?: SpanProcessor[];
  /** Passed to buildSampler (defect switches). */
  sampler?: SamplerOptions;
}

export interface Tracing {
  tracer: Tracer;
  provider: NodeTracerProvider;
  serviceName: string;
  /** Flushes pending spans, bounded by timeoutMs (default 3000). */
  forceFlush(timeoutMs?: number): Promise<void>;
  /** Flushes and stops the provider, bounded by timeoutMs (default 3000); never throws. */
  shutdown(timeoutMs?: number): Promise<void>;
}

export class TracingConfigError extends Error {
  override name = 'TracingConfigError';
}

function numberFromEnv(env: NodeJS.ProcessEnv, name: string, check: (n: number) => boolean, expected: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || !check(value)) {
    throw new TracingConfigError(`invalid environment variable ${name}=${JSON.stringify(raw)}: expected ${expected}`);
  }
  return value;
}

/** OTEL_TRACE_SAMPLE_RATE (HSI's fallback rate), 0..1; the reference stack keeps 1.0 as its default. */
export function sampleRateFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return rateFromEnv(env, 'OTEL_TRACE_SAMPLE_RATE') ?? 1.0;
}

function rateFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  return numberFromEnv(env, name, (n) => n >= 0 && n <= 1, 'a number between 0 and 1');
}

/** Root sampling rates by the `event.priority` of the contract. */
export interface SamplingRates {
  /** `high` and `critical` (OTEL_SAMPLE_RATE_HIGH, 1.0). */
  high: number;
  /** `medium` (OTEL_SAMPLE_RATE_MEDIUM, 0.5). */
  medium: number;
  /** `low` and `background` (OTEL_SAMPLE_RATE_BACKGROUND, 0.1). */
  background: number;
  /** No or unknown priority (OTEL_TRACE_SAMPLE_RATE; HSI: 0.1, reference stack: 1.0). */
  fallback: number;
}

export function samplingRatesFromEnv(env: NodeJS.ProcessEnv = process.env): SamplingRates {
  return {
    high: rateFromEnv(env, 'OTEL_SAMPLE_RATE_HIGH') ?? 1.0,
    medium: rateFromEnv(env, 'OTEL_SAMPLE_RATE_MEDIUM') ?? 0.5,
    background: rateFromEnv(env, 'OTEL_SAMPLE_RATE_BACKGROUND') ?? 0.1,
    fallback: sampleRateFromEnv(env),
  };
}

/** The rate for a priority value (case-insensitive); unknown or missing values use the fallback. */
export function rateForPriority(priority: string | undefined, rates: SamplingRates): number {
  switch (priority?.trim().toLowerCase()) {
    case 'high':
    case 'critical':
      return rates.high;
    case 'medium':
      return rates.medium;
    case 'low':
    case 'background':
      return rates.background;
    default:
      return rates.fallback;
  }
}

const TRACE_ID_LIMIT = 2n ** 64n;

/**
 * Deterministic ratio decision on the trace id, the algorithm of OpenTelemetry Python's
 * TraceIdRatioBased (which HSI's backend uses): the lower 64 bits of the trace id compared with
 * round(rate * 2^64). Every service (and the harness) decides alike for one trace id.
 */
export function traceIdRatioSampled(traceId: string, rate: number): boolean {
  if (!/^[0-9a-f]{32}$/i.test(traceId) || /^0+$/.test(traceId)) return false;
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  const bound = BigInt(Math.round(rate * 2 ** 64));
  const low = BigInt(`0x${traceId.slice(16)}`);
  return low < (bound > TRACE_ID_LIMIT ? TRACE_ID_LIMIT : bound);
}

export interface PrioritySamplerOptions {
  rates: SamplingRates;
  /**
   * HSI_DEFECT_SAMPLER_IGNORES_PARENT: the parent's sampled flag is ignored and every span, root
   * or child, draws its own random decision at its priority's rate (a hand-rolled
   * `random() < rate` sampler). With a rate below 1 this yields partial traces, and requests sent
   * with sampled=0 still leave spans.
   */
  ignoreParent?: boolean;
  random?: () => number;
}

/**
 * The contract's sampler: parent-based with priority rates. With a valid parent (remote or
 * local) the parent's sampled flag decides. At a root, the rate comes from the `event.priority`
 * baggage entry (or a span attribute of that name): high/critical 1.0, medium 0.5,
 * low/background 0.1, otherwise OTEL_TRACE_SAMPLE_RATE; the decision is traceIdRatioSampled.
 * "Errors and high risk 1.0" cannot be decided here: a head sampler decides when the span
 * starts, before an error or a risk score exists (that needs tail sampling in a collector).
 */
export class PrioritySampler implements Sampler {
  private readonly rates: SamplingRates;
  /** The defect switch, read at each decision (live in the backend: POST /admin/defects). */
  private readonly defects: Pick<PrioritySamplerOptions, 'ignoreParent'>;
  private readonly random: () => number;

  constructor(options: PrioritySamplerOptions) {
    this.rates = options.rates;
    this.defects = options;
    this.random = options.random ?? Math.random;
  }

  private get ignoreParent(): boolean {
    return this.defects.ignoreParent ?? false;
  }

  shouldSample(ctx: Context, traceId: string, _spanName: string, _spanKind: SpanKind, attributes: Attributes, _links?: Link[]): SamplingResult {
    const parent = trace.getSpanContext(ctx);
    if (!this.ignoreParent && parent !== undefined && trace.isSpanContextValid(parent)) {
      return { decision: (parent.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
    }
    const fromBaggage = propagation.getBaggage(ctx)?.getEntry('event.priority')?.value;
    const fromAttribute = attributes['event.priority'];
    const priority = fromBaggage ?? (typeof fromAttribute === 'string' ? fromAttribute : undefined);
    const rate = rateForPriority(priority, this.rates);
    const sampled = this.ignoreParent ? this.random() < rate : traceIdRatioSampled(traceId, rate);
    return {
      decision: sampled ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD,
      attributes: { 'sampling.rate': rate, ...(priority !== undefined ? { 'sampling.priority': priority } : {}) },
    };
  }

  toString(): string {
    const r = this.rates;
    return `PrioritySampler{high=${r.high},medium=${r.medium},background=${r.background},fallback=${r.fallback}${this.ignoreParent ? ',ignoreParent' : ''}}`;
  }
}

export interface SamplerOptions {
  /** HSI_DEFECT_SAMPLER_IGNORES_PARENT (the backend passes it from its defects module). */
  ignoreParent?: boolean;
  /** `hsi-current`: the real HSI's rule sampler (hsi-sampler.ts) instead of the priority sampler. */
  profile?: StackProfile;
}

/** The sampler of every reference service: the contract's parent-based priority sampler, or the real HSI's rules (profile hsi-current). */
export function buildSampler(env: NodeJS.ProcessEnv = process.env, options: SamplerOptions = {}): Sampler {
  if (options.profile === 'hsi-current') return new HsiRuleSampler(hsiSamplingRatesFromEnv(env, (name) => rateFromEnv(env, name)), traceIdRatioSampled);
  const rates = samplingRatesFromEnv(env);
  // Read at each decision, not copied: the backend's switch is live (POST /admin/defects).
  return new PrioritySampler({
    rates,
    get ignoreParent() {
      return options.ignoreParent ?? false;
    },
  });
}

/** Span link limit: a batch's producer span links every detection job of the batch. */
export function linkCountLimitFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return numberFromEnv(env, 'OTEL_SPAN_LINK_COUNT_LIMIT', (n) => Number.isInteger(n) && n >= 0, 'a whole number') ?? 1024;
}

export function batchProcessorConfig(env: NodeJS.ProcessEnv = process.env): BatchProcessorConfig {
  const delay = numberFromEnv(env, 'OTEL_BSP_SCHEDULE_DELAY', (n) => Number.isInteger(n) && n >= 0, 'a whole number of milliseconds');
  return { ...BATCH_PROCESSOR_DEFAULTS, scheduledDelayMillis: delay ?? BATCH_PROCESSOR_DEFAULTS.scheduledDelayMillis };
}

export function buildResource(serviceName: string, attributes: Attributes = {}, env: NodeJS.ProcessEnv = process.env): Resource {
  const name = env['OTEL_SERVICE_NAME']?.trim() || serviceName;
  return defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({ ...attributes, [ATTR_SERVICE_NAME]: name }));
}

/** Routes OpenTelemetry's internal diagnostics (failed exports...) to our JSON log, one line per message kind every 30 s. */
function installDiagLogger(serviceName: string, env: NodeJS.ProcessEnv): void {
  const log = createLogger(serviceName);
  const allow = rateLimited(30_000);
  const emit = (level: 'warn' | 'error' | 'info' | 'debug', raw: string, args: unknown[]): void => {
    // Export errors arrive as serialized errors ({"stack": ..., "message": ...}): keep the message.
    let message = raw;
    if (raw.startsWith('{')) {
      try {
        const parsed = JSON.parse(raw) as { message?: unknown; stack?: unknown };
        const text = typeof parsed.message === 'string' ? parsed.message : typeof parsed.stack === 'string' ? parsed.stack.split('\n')[0] : undefined;
        if (text !== undefined) message = text;
      } catch {
        // not JSON after all
      }
    }
    message = message.slice(0, 300);
    if (!allow(`${level}:${message.slice(0, 60)}`)) return;
    const detail = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
    // Diagnostics belong to no request, whatever context happens to be active.
    context.with(ROOT_CONTEXT, () => log[level](`otel: ${message}`, detail === '' ? undefined : { detail: detail.slice(0, 500) }));
  };
  const logger: DiagLogger = {
    error: (m, ...a) => emit('error', m, a),
    warn: (m, ...a) => emit('warn', m, a),
    info: (m, ...a) => emit('info', m, a),
    debug: (m, ...a) => emit('debug', m, a),
    verbose: (m, ...a) => emit('debug', m, a),
  };
  const levels: Record<string, DiagLogLevel> = {
    none: DiagLogLevel.NONE,
    error: DiagLogLevel.ERROR,
    warn: DiagLogLevel.WARN,
    info: DiagLogLevel.INFO,
    debug: DiagLogLevel.DEBUG,
    verbose: DiagLogLevel.VERBOSE,
    all: DiagLogLevel.ALL,
  };
  const level = levels[(env['OTEL_LOG_LEVEL'] ?? 'warn').toLowerCase()] ?? DiagLogLevel.WARN;
  diag.setLogger(logger, { logLevel: level, suppressOverrideMessage: true });
}

function bounded(promise: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
    timer.unref();
  });
  return Promise.race([promise.catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
}

export function initTracing(options: InitTracingOptions): Tracing {
  const env = options.env ?? process.env;
  installDiagLogger(options.serviceName, env);
  const resource = buildResource(options.serviceName, options.resourceAttributes, env);
  const serviceName = String(resource.attributes[ATTR_SERVICE_NAME] ?? options.serviceName);

  const spanProcessors: SpanProcessor[] = [];
  const exportDisabled = env['OTEL_SDK_DISABLED'] === 'true' || env['OTEL_TRACES_EXPORTER'] === 'none';
  if (options.exporter !== undefined || !exportDisabled) {
    // The gRPC exporter reads OTEL_EXPORTER_OTLP_ENDPOINT itself; passing it keeps the choice visible.
    const endpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? env['OTEL_EXPORTER_OTLP_ENDPOINT'];
    const exporter = options.exporter ?? new OTLPTraceExporter(endpoint !== undefined && endpoint !== '' ? { url: endpoint } : {});
    spanProcessors.push(new BatchSpanProcessor(exporter, batchProcessorConfig(env)));
  }
  spanProcessors.push(...(options.extraSpanProcessors ?? []));

  const provider = new NodeTracerProvider({
    resource,
    sampler: buildSampler(env, options.sampler),
    spanProcessors,
    spanLimits: { linkCountLimit: linkCountLimitFromEnv(env) },
  });
  // Default context manager of NodeTracerProvider: AsyncLocalStorageContextManager.
  provider.register({
    propagator: new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  });

  let stopped: Promise<void> | undefined;
  return {
    tracer: trace.getTracer(serviceName),
    provider,
    serviceName,
    forceFlush: (timeoutMs = 3000) => bounded(provider.forceFlush(), timeoutMs),
    shutdown: (timeoutMs = 3000) => {
      stopped ??= bounded(provider.shutdown(), timeoutMs);
      return stopped;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Context propagation through plain objects (queue messages) and HTTP headers
// ---------------------------------------------------------------------------------------------

/** What a queue message carries in `trace_context`. */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
  baggage?: string;
}

/** Serializes the given (default: active) context; undefined when there is no valid span context. */
export function injectTraceCarrier(ctx: Context = context.active()): TraceCarrier | undefined {
  const raw: Record<string, string> = {};
  propagation.inject(ctx, raw);
  const traceparent = raw['traceparent'];
  if (traceparent === undefined) return undefined;
  const carrier: TraceCarrier = { traceparent };
  if (raw['tracestate'] !== undefined && raw['tracestate'] !== '') carrier.tracestate = raw['tracestate'];
  if (raw['baggage'] !== undefined && raw['baggage'] !== '') carrier.baggage = raw['baggage'];
  return carrier;
}

/** Restores the context serialized by injectTraceCarrier; anything malformed yields `base`. */
export function extractTraceCarrier(carrier: unknown, base: Context = ROOT_CONTEXT): Context {
  if (carrier === null || typeof carrier !== 'object') return base;
  const fields: Record<string, string> = {};
  for (const key of ['traceparent', 'tracestate', 'baggage'] as const) {
    const value = (carrier as Record<string, unknown>)[key];
    if (typeof value === 'string') fields[key] = value;
  }
  return propagation.extract(base, fields);
}

/** Adds traceparent / tracestate / baggage of the context to an outgoing header object. */
export function injectHeaders(headers: Record<string, string>, ctx: Context = context.active()): Record<string, string> {
  propagation.inject(ctx, headers);
  return headers;
}

type IncomingHeaders = Record<string, string | string[] | undefined>;

const incomingHeaderGetter: TextMapGetter<IncomingHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key.toLowerCase()],
};

/** Continues the caller's W3C traceparent / baggage headers (Node lower-cases header names). */
export function extractFromHeaders(headers: IncomingHeaders, base: Context = ROOT_CONTEXT): Context {
  return propagation.extract(base, headers, incomingHeaderGetter);
}

// ---------------------------------------------------------------------------------------------
// Span helpers
// ---------------------------------------------------------------------------------------------

function errorType(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code !== '' ? code : error.name || 'Error';
}

/** Marks the span failed: exception event, status ERROR, `error.type`. */
export function recordException(span: Span, error: unknown, message?: string): void {
  const err = error instanceof Error ? error : new Error(String(error));
  span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? err.message });
  span.setAttribute(ATTR_ERROR_TYPE, errorType(err));
}

/**
 * Runs fn inside an active span (child of `parent`, default the active context). A thrown error
 * is recorded on the span and rethrown; the span always ends.
 */
export async function inSpan<T>(
  tracer: Tracer,
  name: string,
  options: SpanOptions,
  fn: (span: Span) => Promise<T>,
  parent: Context = context.active(),
): Promise<T> {
  return tracer.startActiveSpan(name, options, parent, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      recordException(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Baggage keys of the HSI contract. */
export const CONTRACT_BAGGAGE_KEYS = ['camera.id', 'event.priority', 'request.source', 'batch.id'] as const;

/** The contract's baggage entries present in the context, as span attributes of the same names. */
export function baggageAttributes(ctx: Context = context.active()): Attributes {
  const baggage = propagation.getBaggage(ctx);
  const attributes: Attributes = {};
  if (baggage === undefined) return attributes;
  for (const key of CONTRACT_BAGGAGE_KEYS) {
    const entry = baggage.getEntry(key);
    if (entry !== undefined) attributes[key] = entry.value;
  }
  return attributes;
}

/** The trace id of the active span, or undefined. */
export function activeTraceId(): string | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext !== undefined && trace.isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}
