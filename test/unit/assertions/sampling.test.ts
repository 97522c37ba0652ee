import { describe, expect, it } from 'vitest';
import { hsiCompleteness } from '../../../assertions/hsi/expectations.ts';
import { assessCompleteness, checkNoPartialTraces, checkParentBasedSampling, checkSampleRate, type SamplingRecord } from '../../../assertions/sampling/checks.ts';
import { checkTracePresence, toSamplingRecords, type PresenceSource } from '../../../assertions/sampling/presence.ts';
import { expectedRate, expectedSampling, parseSamplingStrategies } from '../../../assertions/sampling/strategies.ts';
import { normalQuantile, wilsonInterval, Z_99, zForConfidence } from '../../../assertions/sampling/wilson.ts';
import { setup } from '../../../assertions/vitest-matchers.ts';
import { JaegerQueryError } from '../../../harness/traces/jaeger-client.ts';
import type { TraceTree } from '../../../harness/traces/span-model.ts';
import { hsiRun, hsiUploadTraces } from './helpers.ts';

setup();

function records(n: number, found: number, over: Partial<SamplingRecord> = {}): SamplingRecord[] {
  return Array.from({ length: n }, (_, i) => ({ traceId: (i + 1).toString(16).padStart(32, '0'), foundInJaeger: i < found, complete: i < found, ...over }));
}

describe('Wilson score interval', () => {
  it('matches hand-computed values', () => {
    // 10/100 at 99 %: z² = 6.634897, denominator 1.06634897, center (0.1 + 0.0331745)/1.06634897 = 0.124888,
    // half-width z/1.06634897 · √(0.0009 + 0.00016587) = 0.0788625 → [0.046026, 0.203751].
    const w = wilsonInterval(10, 100);
    expect(w.z).toBe(Z_99);
    expect(w.center).toBeCloseTo(0.124888, 6);
    expect(w.low).toBeCloseTo(0.046026, 6);
    expect(w.high).toBeCloseTo(0.203751, 6);
    // p̂ = 0: low 0, high z²/(n + z²) = 6.634897/56.634897 = 0.117152.
    const zero = wilsonInterval(0, 50);
    expect(zero.low).toBe(0);
    expect(zero.high).toBeCloseTo(0.117152, 6);
    // p̂ = 1: low n/(n + z²) = 200/206.634897 = 0.967891, high 1.
    const all = wilsonInterval(200, 200);
    expect(all.low).toBeCloseTo(0.967891, 6);
    expect(all.high).toBe(1);
    // 95 %: 50/100 → 0.5 ± 1.959964/1.0384146 · √(0.0025 + 0.00009604) = [0.403832, 0.596168].
    const half = wilsonInterval(50, 100, 0.95);
    expect(half.low).toBeCloseTo(0.403832, 6);
    expect(half.high).toBeCloseTo(0.596168, 6);
  });

  it('computes z from the confidence', () => {
    expect(zForConfidence(0.95)).toBeCloseTo(1.959964, 6);
    expect(normalQuantile(0.995)).toBeCloseTo(Z_99, 8);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 6);
    expect(() => wilsonInterval(3, 2)).toThrow(RangeError);
  });
});

describe('sampling rate', () => {
  it('passes when the configured rate lies inside the interval of the observed fraction', () => {
    const [r] = checkSampleRate(records(2000, 212), { rate: 0.1 });
    expect(r).toPass();
    expect(r!.measured.value).toBeCloseTo(0.106, 6);
    expect(r!.bound.op).toBe('within');
    expect(r!.bound.text).toMatch(/^configured rate 0\.1 \(service\) inside the 99 % Wilson interval \[0\.08\d+, 0\.12\d+\] of the observed fraction$/);
  });

  it('sampler ignoring the parent: rate 1.0 observed vs 0.1 configured fails, stating the bound', () => {
    const [r] = checkSampleRate(records(200, 200), { rate: 0.1 });
    expect(r!.passed).toBe(false);
    expect(r!.message).toBe('sampling: observed 1.0000 (99 % Wilson 0.9679–1.0000, 200/200) is above the configured rate 0.1: 0.1 lies outside the interval');
    expect(r!.exampleTraceIds).toHaveLength(5);
  });

  it('measures only requests without a sampling decision unless told otherwise', () => {
    const sent = records(100, 100, { sentSampledFlag: true });
    expect(checkSampleRate(sent, { rate: 0.1 })[0]!.message).toMatch(/no requests without a sampling decision/);
    expect(checkSampleRate(sent, { rate: 1, include: 'all' })[0]).toPass();
  });

  it('groups by root operation with expected rates from a strategies file', () => {
    const strategies = parseSamplingStrategies({
      service_strategies: [{ service: 'nemotron-backend', type: 'probabilistic', param: 0.5, operation_strategies: [{ operation: 'POST /api/cameras/{camera_id}/uploads', type: 'probabilistic', param: 0.1 }] }],
      default_strategy: { type: 'probabilistic', param: 1 },
    });
    const uploads = records(1000, 95, { service: 'nemotron-backend', operation: 'POST /api/cameras/{camera_id}/uploads' });
    const other = records(400, 210, { service: 'nemotron-backend', operation: 'GET /api/events' }).map((r) => ({ ...r, traceId: `f${r.traceId.slice(1)}` }));
    const results = checkSampleRate([...uploads, ...other], { strategies });
    expect(results.map((r) => r.name)).toEqual(['sampling rate nemotron-backend "POST /api/cameras/{camera_id}/uploads"', 'sampling rate nemotron-backend "GET /api/events"']);
    expect(results).toPass();
  });
});

describe('sampling strategies file', () => {
  const strategies = parseSamplingStrategies({
    service_strategies: [
      { service: 'foo', type: 'probabilistic', param: 0.8, operation_strategies: [{ operation: 'op1', type: 'probabilistic', param: 0.2 }] },
      { service: 'bar', type: 'ratelimiting', param: 5 },
    ],
    default_strategy: { type: 'probabilistic', param: 0.5, operation_strategies: [{ operation: '/health', type: 'probabilistic', param: 0 }] },
  });

  it('resolves like Jaeger: service op, default op, service, default, built-in', () => {
    expect(expectedRate(strategies, 'foo', 'op1')).toBe(0.2);
    expect(expectedSampling(strategies, 'foo', '/health')).toEqual({ type: 'probabilistic', rate: 0, source: 'default-operation' });
    expect(expectedSampling(strategies, 'foo', 'op9')).toEqual({ type: 'probabilistic', rate: 0.8, source: 'service' });
    expect(expectedSampling(strategies, 'bar', 'x')).toEqual({ type: 'ratelimiting', tracesPerSecond: 5, source: 'service' });
    expect(expectedRate(strategies, 'bar', 'x')).toBeUndefined();
    expect(expectedSampling(strategies, 'baz')).toEqual({ type: 'probabilistic', rate: 0.5, source: 'default' });
    expect(expectedSampling(parseSamplingStrategies({}), 'baz')).toEqual({ type: 'probabilistic', rate: 0.001, source: 'builtin' });
  });

  it('rejects bad files with one line naming the field', () => {
    expect(() => parseSamplingStrategies({ service_strategies: [{ service: 'a', type: 'probabilistic', param: 2 }] }, 'strategies.json')).toThrow(
      /^strategies\.json: service_strategies\.0\.param: a probabilistic param is a rate in \[0, 1\]$/,
    );
    expect(() => parseSamplingStrategies({ default_strategy: { type: 'const', param: 1 } }, 'strategies.json')).toThrow(/^strategies\.json: default_strategy\.type: type must be/);
    expect(() => parseSamplingStrategies({ default_strategy: { type: 'probabilistic', param: 1, operation_strategies: [{ operation: 'x', type: 'ratelimiting', param: 1 }] } }, 's')).toThrow(
      /^s: default_strategy\.operation_strategies\.0\.type: operation strategies must be "probabilistic"/,
    );
  });

  it('checks a rate-limited strategy against the run duration', () => {
    const rl = parseSamplingStrategies({ default_strategy: { type: 'ratelimiting', param: 2 } });
    const [ok] = checkSampleRate(records(500, 21), { strategies: rl, service: 'nemotron-backend', durationSeconds: 10 });
    expect(ok).toPass();
    const [over] = checkSampleRate(records(500, 100), { strategies: rl, service: 'nemotron-backend', durationSeconds: 10 });
    expect(over!.passed).toBe(false);
    expect(over!.message).toMatch(/100 traces kept, over the rate limit of 2\/s/);
  });
});

describe('parent-based consistency and partial traces', () => {
  it('sampler ignoring parent: sampled=0 requests that left spans fail', () => {
    const unsampled = records(100, 12, { sentSampledFlag: false });
    const sampled = records(50, 50, { sentSampledFlag: true }).map((r) => ({ ...r, traceId: `e${r.traceId.slice(1)}` }));
    const [zero, one] = checkParentBasedSampling([...unsampled, ...sampled]);
    expect(zero!.passed).toBe(false);
    expect(zero!.message).toBe("parent-based sampling broken: 12/100 requests sent with sampled=0 left spans in Jaeger (a sampler ignores the parent's decision)");
    expect(one).toPass();
  });

  it('a side no request exercised passes as not exercised, unless required', () => {
    const [zero] = checkParentBasedSampling(records(10, 10, { sentSampledFlag: true }));
    expect(zero).toPass();
    expect(zero!.message).toBe('parent-based sampling: not exercised: no request was sent with sampled=0');
    expect(checkParentBasedSampling(records(10, 10, { sentSampledFlag: true }), { requireExercised: true })[0]!.passed).toBe(false);
  });

  it('sampled=1 requests must leave complete traces', () => {
    const sampled = records(10, 8, { sentSampledFlag: true });
    sampled[0]!.complete = false;
    sampled[0]!.missing = ['service ai-yolo26-emulator'];
    const [, one] = checkParentBasedSampling(sampled);
    expect(one!.passed).toBe(false);
    expect(one!.message).toBe(
      '3/10 requests sent with sampled=1 did not leave a complete trace: 2 not in Jaeger (parent-based sampling or export), 1 partial (a span lost or attached to the wrong parent: trace 00000000000000000000000000000001 lacks service ai-yolo26-emulator)',
    );
    // Present but partial only: not blamed on the sampler.
    const partialOnly = checkParentBasedSampling(sampled.filter((r) => r.foundInJaeger))[1]!;
    expect(partialOnly.message).not.toMatch(/sampling broken/);
    expect(partialOnly.message).toMatch(/wrong parent, not a sampling decision/);
  });

  it('partial traces (a service dropping spans) fail the no-partial check, naming what is missing', () => {
    const healthy = hsiRun({ uploads: 6 }).traces;
    const partial = hsiRun({ uploads: 2, defects: { detectorNotInstrumented: true } }).traces.map((t) => t);
    const spec = hsiCompleteness();
    const recs: SamplingRecord[] = [...healthy.slice(2), ...partial].map((t) => {
      const c = assessCompleteness(t, spec);
      return { traceId: t.traceId, sentSampledFlag: true, foundInJaeger: c.found, complete: c.complete, missing: c.missing };
    });
    const r = checkNoPartialTraces(recs);
    expect(r.passed).toBe(false);
    expect(r.measured.text).toBe('2/6 found traces partial');
    expect(r.message).toMatch(/^2\/6 found traces are partial: trace a0+1 lacks under nemotron-backend "yolo26_detection_request" expected a child ai-yolo26-emulator "POST \/detect": none \(0 of min 1\)$/);
    expect(checkNoPartialTraces(recs.slice(0, 4))).toPass();
  });

  it('leaves failed lookups out and says so', () => {
    const recs = [...records(10, 10, { sentSampledFlag: true }), { traceId: 'f'.repeat(32), sentSampledFlag: true, foundInJaeger: false, complete: false, error: 'ECONNREFUSED' }];
    const [, one] = checkParentBasedSampling(recs);
    expect(one).toPass();
    expect(one!.details?.['lookupErrors']).toBe(1);
  });
});

describe('trace presence in Jaeger', () => {
  it('checks many ids with bounded concurrency, retries retryable errors and records the rest', async () => {
    const byId = new Map<string, TraceTree>();
    for (let n = 1; n <= 30; n += 1) for (const t of hsiUploadTraces({ n, defects: n % 10 === 0 ? { detectorNotInstrumented: true } : {} })) byId.set(t.traceId, t);
    let inFlight = 0;
    let maxInFlight = 0;
    const attempts = new Map<string, number>();
    const ids = [...byId.keys(), '9'.repeat(32), '8'.repeat(32)];
    const source = {
      async getTrace(id: string) {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 2));
        inFlight -= 1;
        const n = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, n);
        if (id === '9'.repeat(32) && n === 1) throw new JaegerQueryError('HTTP 503', { status: 503, retryable: true });
        if (id === '8'.repeat(32)) throw new JaegerQueryError('not a trace id');
        return byId.get(id);
      },
    };
    const presence = await checkTracePresence(source, ids, { concurrency: 4, retryDelayMs: 1, expected: hsiCompleteness() });
    expect(maxInFlight).toBeLessThanOrEqual(4);
    expect(presence).toHaveLength(32);
    expect(presence.filter((p) => p.found)).toHaveLength(30);
    expect(presence.filter((p) => p.found && !p.complete).map((p) => p.traceId)).toHaveLength(3);
    expect(presence[30]).toMatchObject({ found: false, spanCount: 0 });
    expect(presence[30]!.error).toBeUndefined();
    expect(attempts.get('9'.repeat(32))).toBe(2);
    expect(presence[31]!.error).toBe('not a trace id');
    const recs = toSamplingRecords(presence, new Map(ids.map((id) => [id, { sampled: true }])));
    expect(checkNoPartialTraces(recs).measured.text).toBe('3/30 found traces partial');
  });

  it('reads through a bulk source when it has one, and retries only what may pass, one id at a time, with the same backoff', async () => {
    const byId = new Map<string, TraceTree>();
    for (let n = 1; n <= 6; n += 1) for (const t of hsiUploadTraces({ n })) byId.set(t.traceId, t);
    const flaky = '9'.repeat(32);
    const bad = '8'.repeat(32);
    const ids = [flaky, ...byId.keys(), bad];
    const single: string[] = [];
    let bulkConcurrency: number | undefined;
    const source: PresenceSource = {
      async forEachTrace(traceIds, options, onTrace) {
        bulkConcurrency = options.concurrency;
        // completion order reversed: results must still land at their input positions
        for (let index = traceIds.length - 1; index >= 0; index--) {
          const traceId = traceIds[index]!;
          if (traceId === flaky) onTrace({ traceId, ok: false, error: new JaegerQueryError('HTTP 503', { status: 503, retryable: true }) }, index);
          else if (traceId === bad) onTrace({ traceId, ok: false, error: new JaegerQueryError('not a trace id') }, index);
          else onTrace({ traceId, ok: true, tree: byId.get(traceId) }, index);
        }
      },
      async getTrace(id: string) {
        single.push(id);
        if (id === flaky && single.length === 1) throw new JaegerQueryError('HTTP 503', { status: 503, retryable: true });
        return byId.get(id);
      },
    };
    const progress: number[] = [];
    const presence = await checkTracePresence(source, ids, { concurrency: 4, retryDelayMs: 1, expected: hsiCompleteness(), onProgress: (done) => progress.push(done) });
    expect(bulkConcurrency).toBe(4);
    expect(presence.map((p) => p.traceId)).toEqual(ids);
    expect(presence.slice(1, -1).every((p) => p.found && p.complete)).toBe(true);
    // the flaky id: failed in the bulk pass and on its first retry, answered on the second (retries: 2)
    expect(single).toEqual([flaky, flaky]);
    expect(presence[0]).toMatchObject({ traceId: flaky, found: false, spanCount: 0 });
    expect(presence[0]!.error).toBeUndefined();
    expect(presence.at(-1)!.error).toBe('not a trace id');
    expect(progress).toEqual(ids.map((_, i) => i + 1));

    single.length = 0;
    const noRetry = await checkTracePresence(source, ids, { retries: 0 });
    expect(single).toEqual([]);
    expect(noRetry[0]!.error).toBe('HTTP 503');
  });
});
