import { randomBytes } from 'node:crypto';
import { propagation, ROOT_CONTEXT, SpanKind, trace, TraceFlags, type Context } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import {
  buildSampler,
  PrioritySampler,
  rateForPriority,
  samplingRatesFromEnv,
  traceIdRatioSampled,
} from '../../../reference-stack/telemetry/tracing.ts';

const RATES = { high: 1, medium: 0.5, background: 0.1, fallback: 1 };
const randomTraceId = (): string => randomBytes(16).toString('hex');

function withParent(sampled: boolean, remote = true): Context {
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: randomTraceId(),
    spanId: randomBytes(8).toString('hex'),
    traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: remote,
  });
}

function withPriority(priority: string, ctx: Context = ROOT_CONTEXT): Context {
  return propagation.setBaggage(ctx, propagation.createBaggage({ 'event.priority': { value: priority } }));
}

const sampled = (s: PrioritySampler, ctx: Context, traceId = randomTraceId(), attributes = {}): boolean =>
  s.shouldSample(ctx, traceId, 'span', SpanKind.INTERNAL, attributes, []).decision === SamplingDecision.RECORD_AND_SAMPLED;

function fraction(s: PrioritySampler, ctx: () => Context, n = 4000): number {
  let hits = 0;
  for (let i = 0; i < n; i++) if (sampled(s, ctx())) hits++;
  return hits / n;
}

describe('priority sampler', () => {
  it('reads the contract rates from the environment (fallback 1.0 in the reference stack)', () => {
    expect(samplingRatesFromEnv({})).toEqual({ high: 1, medium: 0.5, background: 0.1, fallback: 1 });
    expect(samplingRatesFromEnv({ OTEL_SAMPLE_RATE_MEDIUM: '0.2', OTEL_TRACE_SAMPLE_RATE: '0.1' })).toMatchObject({ medium: 0.2, fallback: 0.1 });
    expect(() => samplingRatesFromEnv({ OTEL_SAMPLE_RATE_HIGH: '1.5' })).toThrow(/OTEL_SAMPLE_RATE_HIGH/);
  });

  it('maps priorities to rates', () => {
    expect(['high', 'CRITICAL', 'medium', 'low', 'background', 'other', undefined].map((p) => rateForPriority(p, { high: 1, medium: 0.5, background: 0.1, fallback: 0.3 }))).toEqual([
      1, 1, 0.5, 0.1, 0.1, 0.3, 0.3,
    ]);
  });

  it("follows the parent's sampled flag, whatever the priority", () => {
    const s = new PrioritySampler({ rates: { high: 0, medium: 0, background: 0, fallback: 0 } });
    expect(sampled(s, withParent(true))).toBe(true);
    expect(sampled(s, withParent(true, false))).toBe(true);
    const all = new PrioritySampler({ rates: { high: 1, medium: 1, background: 1, fallback: 1 } });
    expect(sampled(all, withParent(false))).toBe(false);
    expect(sampled(all, withPriority('high', withParent(false)))).toBe(false);
  });

  it('samples roots at the rate of their priority (baggage, else span attribute)', () => {
    const s = new PrioritySampler({ rates: RATES });
    expect(fraction(s, () => withPriority('high'))).toBe(1);
    expect(fraction(s, () => withPriority('critical'))).toBe(1);
    expect(fraction(s, () => withPriority('medium'))).toBeCloseTo(0.5, 1);
    expect(fraction(s, () => withPriority('background'))).toBeCloseTo(0.1, 1);
    expect(fraction(s, () => ROOT_CONTEXT)).toBe(1);
    let hits = 0;
    for (let i = 0; i < 4000; i++) if (sampled(s, ROOT_CONTEXT, randomTraceId(), { 'event.priority': 'low' })) hits++;
    expect(hits / 4000).toBeCloseTo(0.1, 1);
    const result = s.shouldSample(withPriority('medium'), 'f'.repeat(32), 'x', SpanKind.SERVER, {}, []);
    expect(result.attributes).toEqual({ 'sampling.rate': 0.5, 'sampling.priority': 'medium' });
  });

  it('decides deterministically on the trace id (lower 64 bits, as OpenTelemetry Python)', () => {
    expect(traceIdRatioSampled('0123456789abcdef0000000000000000', 0.0001)).toBe(true);
    expect(traceIdRatioSampled('0123456789abcdefffffffffffffffff', 0.9999)).toBe(false);
    expect(traceIdRatioSampled('ffffffffffffffff7fffffffffffffff', 0.5)).toBe(true);
    expect(traceIdRatioSampled('00000000000000008000000000000000', 0.5)).toBe(false);
    expect(traceIdRatioSampled('0'.repeat(32), 1)).toBe(false); // invalid trace id
    const a = new PrioritySampler({ rates: RATES });
    const b = new PrioritySampler({ rates: RATES });
    for (let i = 0; i < 200; i++) {
      const id = randomTraceId();
      const ctx = withPriority('medium');
      expect(sampled(a, ctx, id)).toBe(sampled(b, ctx, id));
      expect(sampled(a, ctx, id)).toBe(traceIdRatioSampled(id, 0.5));
    }
  });

  it('with HSI_DEFECT_SAMPLER_IGNORES_PARENT, children decide on their own', () => {
    const s = new PrioritySampler({ rates: { ...RATES, fallback: 0.5 }, ignoreParent: true });
    // Children of sampled parents get dropped about half the time: partial traces.
    expect(fraction(s, () => withParent(true))).toBeCloseTo(0.5, 1);
    // Children of unsampled parents get recorded: sampled=0 requests leave spans.
    const all = new PrioritySampler({ rates: RATES, ignoreParent: true });
    expect(fraction(all, () => withParent(false))).toBe(1);
    // Not even deterministic on the trace id.
    const id = randomTraceId();
    const decisions = new Set(Array.from({ length: 64 }, () => sampled(s, ROOT_CONTEXT, id)));
    expect(decisions.size).toBe(2);
  });

  it('buildSampler wires the env and the defect', () => {
    expect(buildSampler({}).toString()).toBe('PrioritySampler{high=1,medium=0.5,background=0.1,fallback=1}');
    expect(buildSampler({ OTEL_TRACE_SAMPLE_RATE: '0.1' }, { ignoreParent: true }).toString()).toContain('fallback=0.1,ignoreParent');
  });
});
