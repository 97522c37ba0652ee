import { trace, TraceFlags, type Attributes, type Context, type Link, type SpanKind } from '@opentelemetry/api';
import { SamplingDecision, type Sampler, type SamplingResult } from '@opentelemetry/sdk-trace-base';
import { HSI_SAMPLING_ENV } from '../../harness/contract/profiles.ts';

/**
 * The real HSI's sampler (core/sampling.py, HSI-CONTRACT.md last section), profile hsi-current:
 * parent-based; at a root the rate comes from the span's name and start attributes, first match
 * wins: an error (`error`=true or `error.type`) 1.0, `risk_score` >= 70 1.0, health and metrics
 * paths 0.1, `/api/system...` 0.5, the API's data paths (`/api/events`, `/api/detections`,
 * `/api/cameras`, ...) 1.0, anything else 0.1; every rate is capped by OTEL_TRACE_SAMPLE_RATE
 * (1.0 unless set). Each rate has an OTEL_SAMPLING_<RULE>_RATE variable. The decision is
 * traceIdRatioSampled on the trace id, as the reference sampler's.
 */

export type HsiSamplingRule = 'error' | 'high_risk' | 'health' | 'system' | 'api' | 'default';

export interface HsiSamplingRates {
  error: number;
  highRisk: number;
  health: number;
  system: number;
  api: number;
  default: number;
  /** OTEL_TRACE_SAMPLE_RATE: no rule samples above it. */
  cap: number;
}

export const HSI_DEFAULT_SAMPLING_RATES: Readonly<HsiSamplingRates> = Object.freeze({ error: 1, highRisk: 1, health: 0.1, system: 0.5, api: 1, default: 0.1, cap: 1 });

const HIGH_RISK_SCORE = 70;
const HEALTH_PATH = /(^|\/)(health|metrics)(\/|$)/;
const SYSTEM_PATH = /^\/api\/system(\/|$)/;
const API_PATH = /^\/api\/(events|detections|cameras|alerts|entities|zones|analytics)(\/|$)/;

/** The path a span stands for: `url.path`, `http.target`, `http.route`, or the route in its name (`GET /api/...`). */
function spanPath(spanName: string, attributes: Attributes): string | undefined {
  for (const key of ['url.path', 'http.target', 'http.route']) {
    const value = attributes[key];
    if (typeof value === 'string' && value.startsWith('/')) return value.split('?')[0];
  }
  const fromName = /^[A-Z]+ (\/\S*)$/.exec(spanName);
  return fromName?.[1];
}

/** Which rule decides a root span (first match wins). */
export function samplingRule(spanName: string, attributes: Attributes): HsiSamplingRule {
  if (attributes['error'] === true || attributes['error.type'] !== undefined) return 'error';
  const risk = attributes['risk_score'];
  if (typeof risk === 'number' && risk >= HIGH_RISK_SCORE) return 'high_risk';
  const path = spanPath(spanName, attributes);
  if (path !== undefined) {
    if (HEALTH_PATH.test(path)) return 'health';
    if (SYSTEM_PATH.test(path)) return 'system';
    if (API_PATH.test(path)) return 'api';
  }
  return 'default';
}

export function ruleRate(rule: HsiSamplingRule, rates: HsiSamplingRates): number {
  const byRule: Record<HsiSamplingRule, number> = { error: rates.error, high_risk: rates.highRisk, health: rates.health, system: rates.system, api: rates.api, default: rates.default };
  return Math.min(byRule[rule], rates.cap);
}

export function hsiSamplingRatesFromEnv(env: NodeJS.ProcessEnv, rate: (name: string) => number | undefined): HsiSamplingRates {
  const d = HSI_DEFAULT_SAMPLING_RATES;
  return {
    error: rate(HSI_SAMPLING_ENV.error) ?? d.error,
    highRisk: rate(HSI_SAMPLING_ENV.highRisk) ?? d.highRisk,
    health: rate(HSI_SAMPLING_ENV.health) ?? d.health,
    system: rate(HSI_SAMPLING_ENV.system) ?? d.system,
    api: rate(HSI_SAMPLING_ENV.api) ?? d.api,
    default: rate(HSI_SAMPLING_ENV.default) ?? d.default,
    cap: rate(HSI_SAMPLING_ENV.cap) ?? d.cap,
  };
}

export class HsiRuleSampler implements Sampler {
  private readonly rates: HsiSamplingRates;
  private readonly decide: (traceId: string, rate: number) => boolean;

  constructor(rates: HsiSamplingRates, decide: (traceId: string, rate: number) => boolean) {
    this.rates = rates;
    this.decide = decide;
  }

  shouldSample(ctx: Context, traceId: string, spanName: string, _spanKind: SpanKind, attributes: Attributes, _links?: Link[]): SamplingResult {
    const parent = trace.getSpanContext(ctx);
    if (parent !== undefined && trace.isSpanContextValid(parent)) {
      return { decision: (parent.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
    }
    const rule = samplingRule(spanName, attributes);
    const rate = ruleRate(rule, this.rates);
    return {
      decision: this.decide(traceId, rate) ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD,
      attributes: { 'sampling.rate': rate, 'sampling.rule': rule },
    };
  }

  toString(): string {
    const r = this.rates;
    return `HsiRuleSampler{error=${r.error},high_risk=${r.highRisk},health=${r.health},system=${r.system},api=${r.api},default=${r.default},cap=${r.cap}}`;
  }
}
