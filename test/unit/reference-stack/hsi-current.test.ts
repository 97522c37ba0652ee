import { ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodePayloadText, isCompressedPayload } from '../../../harness/contract/payload-codec.ts';
import { HSI_CURRENT, STACK_PROFILE_ENV } from '../../../harness/contract/profiles.ts';
import { errorBody } from '../../../reference-stack/common/http.ts';
import { loadProfile, ProfileError } from '../../../reference-stack/common/profile.ts';
import { decodeCursor, encodeCursor } from '../../../reference-stack/backend/api-hsi-current.ts';
import { isBatchId, newUuidHexBatchId } from '../../../reference-stack/backend/batch-aggregator.ts';
import { DetectorError } from '../../../reference-stack/backend/detector-client.ts';
import { MessageBatcher, requiresAck, type BatchedMessage } from '../../../reference-stack/backend/event-broadcaster.ts';
import { HsiRetryHandler, NestedDetectorFailure } from '../../../reference-stack/backend/hsi-retry-handler.ts';
import { BackendQueues } from '../../../reference-stack/backend/queue-dialect.ts';
import { isRateLimitExempt, SlidingWindowLimiter } from '../../../reference-stack/backend/rate-limit.ts';
import { detectorClientDelayMs, retryHandlerDelayMs } from '../../../reference-stack/backend/retry.ts';
import { loadSettings, SettingsError } from '../../../reference-stack/backend/settings.ts';
import { HSI_DEFAULT_SAMPLING_RATES, HsiRuleSampler, ruleRate, samplingRule } from '../../../reference-stack/telemetry/hsi-sampler.ts';
import { traceIdRatioSampled } from '../../../reference-stack/telemetry/tracing.ts';
import type { DetectorClient } from '../../../reference-stack/backend/detector-client.ts';

const ENV = { DATABASE_URL: 'postgres://u:p@db:5432/hsi', REDIS_URL: 'redis://r:6379/0', YOLO26_URL: 'http://d:8095' };

describe('profile selection', () => {
  it('defaults to reference; hsi-current by HSI_PROFILE; anything else names the variable', () => {
    expect(loadProfile({})).toBe('reference');
    expect(loadProfile({ [STACK_PROFILE_ENV]: 'hsi-current' })).toBe('hsi-current');
    expect(() => loadProfile({ [STACK_PROFILE_ENV]: 'hsi' })).toThrow(ProfileError);
    expect(() => loadProfile({ [STACK_PROFILE_ENV]: 'hsi' })).toThrow(/HSI_PROFILE: expected one of reference, hsi-current/);
    expect(loadSettings({ ...ENV, HSI_PROFILE: 'hsi-current' }).profile).toBe('hsi-current');
    expect(() => loadSettings({ ...ENV, HSI_PROFILE: 'x' })).toThrow(SettingsError);
  });

  it('rate limit and fast-path settings: the real defaults, configurable, validated', () => {
    const s = loadSettings(ENV);
    expect(s.rateLimit).toEqual({ enabled: true, perMinute: 60, burst: 10 });
    expect(s.fastPathConfidence).toBe(0.9);
    expect(loadSettings({ ...ENV, RATE_LIMIT_ENABLED: 'false', RATE_LIMIT_REQUESTS_PER_MINUTE: '600', RATE_LIMIT_BURST: '0' }).rateLimit).toEqual({ enabled: false, perMinute: 600, burst: 0 });
    expect(() => loadSettings({ ...ENV, RATE_LIMIT_BURST: '-1' })).toThrow(/RATE_LIMIT_BURST/);
    expect(() => loadSettings({ ...ENV, FAST_PATH_CONFIDENCE_THRESHOLD: '2' })).toThrow(/FAST_PATH_CONFIDENCE_THRESHOLD/);
  });
});

describe('FastAPI error bodies', () => {
  it('hsi-current answers {detail} only; reference keeps {error, detail, ...extra}', () => {
    expect(errorBody('detail', 'not_found', 'no route', { x: 1 })).toEqual({ detail: 'no route' });
    expect(errorBody('reference', 'not_found', 'no route', { x: 1 })).toEqual({ error: 'not_found', detail: 'no route', x: 1 });
  });
});

describe('queues of the profile', () => {
  const hsi = new BackendQueues('hsi-current');
  const ref = new BackendQueues('reference');

  it('keys: prefixed work queues, dlq:<queue> dead letters, dlq:overflow:<queue>, a 10,000 cap (hsi-current only)', () => {
    expect([hsi.key('detection'), hsi.key('analysis'), hsi.dlq('detection'), hsi.overflow('analysis')]).toEqual(['hsi:queue:detection_queue', 'hsi:queue:analysis_queue', 'dlq:detection_queue', 'dlq:overflow:analysis_queue']);
    expect(hsi.target('detection')).toMatchObject({ key: 'hsi:queue:detection_queue', name: 'detection_queue', cap: 10_000, overflowKey: 'dlq:overflow:detection_queue' });
    expect(ref.target('detection')).toEqual({ key: 'detection_queue', name: 'detection_queue', encode: expect.any(Function) });
    expect(hsi.dlqSources()).toEqual({ 'dlq:detection_queue': 'hsi:queue:detection_queue', 'dlq:analysis_queue': 'hsi:queue:analysis_queue' });
  });

  it('payloads over 1 KB are stored as Z:+base64(zstd) in hsi-current, never in reference', () => {
    const small = { camera_id: 'a', file_path: '/x.jpg' };
    const large = { ...small, note: 'y'.repeat(2000) };
    expect(isCompressedPayload(hsi.encode(small))).toBe(false);
    expect(isCompressedPayload(hsi.encode(large))).toBe(true);
    expect(JSON.parse(decodePayloadText(hsi.encode(large)))).toEqual(large);
    expect(isCompressedPayload(ref.encode(large))).toBe(false);
  });

  it('dead letters: nested as services/retry_handler.py writes them (hsi-current), flat (reference)', () => {
    const job = { camera_id: 'a', file_path: '/x.jpg' };
    const failure = { message: 'HTTP 503', code: 'detector_http_503', attempts: 3, httpStatus: 503, retryDelaysMs: [1000, 2000, 1100], firstFailedAt: '2026-12-01T00:00:00.000Z' };
    expect(hsi.deadLetterEntry('detection', job, '', failure)).toMatchObject({
      original_job: job,
      error: 'HTTP 503',
      attempt_count: 3,
      first_failed_at: '2026-12-01T00:00:00.000Z',
      last_failed_at: expect.any(String),
      queue_name: 'detection_queue',
      error_type: 'detector_http_503',
      http_status: 503,
      retry_delays: [1, 2, 1.1],
    });
    expect(ref.deadLetterEntry('detection', job, '', failure)).toMatchObject({ ...job, error: 'HTTP 503', error_code: 'detector_http_503', attempts: 3, queue: 'detection_queue' });
  });

  it('batch ids: uuid4().hex', () => {
    const id = newUuidHexBatchId();
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(isBatchId(id)).toBe(true);
    expect(isBatchId('batch-29f6d8c4')).toBe(true);
  });
});

describe('detector retries (RetryHandler x detector client)', () => {
  it('waits: the client 1 s, 2 s without jitter; the RetryHandler 1 s, 2 s plus 0..25 %', () => {
    expect([detectorClientDelayMs(1), detectorClientDelayMs(2)]).toEqual([1000, 2000]);
    expect([retryHandlerDelayMs(1, false, () => 0), retryHandlerDelayMs(2, false, () => 0)]).toEqual([1000, 2000]);
    expect([retryHandlerDelayMs(1, false, () => 0.999), retryHandlerDelayMs(2, false, () => 0.999)]).toEqual([1250, 2500]);
    expect(retryHandlerDelayMs(6, false, () => 0)).toBe(30_000);
    expect([detectorClientDelayMs(1, true), retryHandlerDelayMs(1, true)]).toEqual([0, 0]);
  });

  function failingClient(error: () => Error): { client: DetectorClient; calls: () => number } {
    let calls = 0;
    const client = {
      requestAttributes: () => ({}),
      guardedPost: async () => {
        calls++;
        throw error();
      },
    } as unknown as DetectorClient;
    return { client, calls: () => calls };
  }

  it('a transient failure: 3 attempts per client call, 3 client calls, 9 calls, then NestedDetectorFailure with the 8 waits', async () => {
    const { client, calls } = failingClient(() => new DetectorError('HTTP 503', 'http_503', true, 503));
    const handler = new HsiRetryHandler({ tracer: trace.getTracer('t'), client, withoutBackoff: true });
    const failure = await handler.detect(Buffer.alloc(1), { filePath: '/x.jpg', cameraId: 'a' }, 'image/jpeg').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(NestedDetectorFailure);
    expect(calls()).toBe(HSI_CURRENT.detectorCallsBeforeDlq);
    expect((failure as NestedDetectorFailure).nested).toMatchObject({ calls: 9, rounds: 3, delaysMs: [0, 0, 0, 0, 0, 0, 0, 0] });
  });

  it('a 4xx is not retried by the client, but the RetryHandler calls it again: 3 calls', async () => {
    const { client, calls } = failingClient(() => new DetectorError('HTTP 400', 'http_400', false, 400));
    const handler = new HsiRetryHandler({ tracer: trace.getTracer('t'), client, withoutBackoff: true });
    await expect(handler.detect(Buffer.alloc(1), { filePath: '/x.jpg', cameraId: 'a' }, 'image/jpeg')).rejects.toBeInstanceOf(NestedDetectorFailure);
    expect(calls()).toBe(3);
  });

  it('the real waits add up to 1+2 per client call and 1..1.25 + 2..2.5 between calls', async () => {
    vi.useFakeTimers();
    const { client } = failingClient(() => new DetectorError('HTTP 503', 'http_503', true, 503));
    const handler = new HsiRetryHandler({ tracer: trace.getTracer('t'), client, random: () => 0.5 });
    const pending = handler.detect(Buffer.alloc(1), { filePath: '/x.jpg', cameraId: 'a' }, 'image/jpeg').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(60_000);
    const failure = (await pending) as NestedDetectorFailure;
    expect(failure.nested.delaysMs).toEqual([1000, 2000, 1125, 1000, 2000, 2250, 1000, 2000]);
  });

  afterEach(() => vi.useRealTimers());
});

describe('the rule sampler (core/sampling.py)', () => {
  it('first match wins: error, risk >= 70, health/metrics, /api/system, API data paths, default', () => {
    expect(samplingRule('GET /api/events', { 'error.type': '500' })).toBe('error');
    expect(samplingRule('analysis_processing', { risk_score: 70 })).toBe('high_risk');
    expect(samplingRule('analysis_processing', { risk_score: 69 })).toBe('default');
    expect(samplingRule('GET', { 'url.path': '/api/system/health/ready' })).toBe('health');
    expect(samplingRule('GET /metrics', {})).toBe('health');
    expect(samplingRule('GET /api/system/gpu', {})).toBe('system');
    expect(samplingRule('POST /api/cameras/{camera_id}/uploads', { 'url.path': '/api/cameras/front_door/uploads' })).toBe('api');
    expect(samplingRule('GET', { 'url.path': '/api/detections' })).toBe('api');
    expect(samplingRule('file_watcher ingest', {})).toBe('default');
  });

  it('rates: 1.0 / 1.0 / 0.1 / 0.5 / 1.0 / 0.1, each capped by OTEL_TRACE_SAMPLE_RATE', () => {
    const r = HSI_DEFAULT_SAMPLING_RATES;
    expect((['error', 'high_risk', 'health', 'system', 'api', 'default'] as const).map((rule) => ruleRate(rule, r))).toEqual([1, 1, 0.1, 0.5, 1, 0.1]);
    expect(ruleRate('api', { ...r, cap: 0.2 })).toBe(0.2);
    expect(ruleRate('health', { ...r, cap: 0.2 })).toBe(0.1);
  });

  it('parent-based: a parent decides; a root decides by its rule on the trace id', () => {
    const sampler = new HsiRuleSampler(HSI_DEFAULT_SAMPLING_RATES, traceIdRatioSampled);
    const parentCtx = (flags: number) => trace.setSpanContext(ROOT_CONTEXT, { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: flags, isRemote: true });
    expect(sampler.shouldSample(parentCtx(TraceFlags.NONE), 'f'.repeat(32), 'GET /api/events', SpanKind.SERVER, {}).decision).toBe(SamplingDecision.NOT_RECORD);
    expect(sampler.shouldSample(parentCtx(TraceFlags.SAMPLED), 'f'.repeat(32), 'GET /health', SpanKind.SERVER, {}).decision).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    // Lower 64 bits 0x4000… = 0.25 of the range: under the system rate 0.5, over the default 0.1.
    const traceId = `${'1'.repeat(16)}4000000000000000`;
    expect(sampler.shouldSample(ROOT_CONTEXT, traceId, 'GET /api/system/gpu', SpanKind.SERVER, {})).toMatchObject({ decision: SamplingDecision.RECORD_AND_SAMPLED, attributes: { 'sampling.rule': 'system', 'sampling.rate': 0.5 } });
    expect(sampler.shouldSample(ROOT_CONTEXT, traceId, 'file_watcher ingest', SpanKind.INTERNAL, {}).decision).toBe(SamplingDecision.NOT_RECORD);
  });
});

describe('rate limiting', () => {
  it('admits perMinute + burst in a sliding 60 s window per client, counts the rejected ones too', () => {
    const limiter = new SlidingWindowLimiter({ perMinute: 60, burst: 10 });
    const decisions = Array.from({ length: 72 }, (_, i) => limiter.check('1.2.3.4', 1000 + i).allowed);
    expect(decisions.filter(Boolean)).toHaveLength(70);
    expect(decisions.slice(70)).toEqual([false, false]);
    expect(limiter.check('5.6.7.8', 2000).allowed).toBe(true);
    expect(limiter.check('1.2.3.4', 1000 + 60_000 + 71).allowed).toBe(true); // the window slid past all 72
    expect(limiter.rejected).toBe(2);
  });

  it('limits the /api routes, not the health probes, the upload front door or the admin routes', () => {
    expect(['/api/events', '/api/detections', '/api/queues/status', '/api/system/gpu'].map(isRateLimitExempt)).toEqual([false, false, false, false]);
    expect(['/api/system/health', '/api/system/health/ready', '/api/cameras/{camera_id}/uploads', '/admin/settings'].map(isRateLimitExempt)).toEqual([true, true, true, true]);
  });
});

describe('events: cursor pagination and the broadcaster', () => {
  it('a cursor is the next offset; a foreign one is a 400', () => {
    expect(decodeCursor(encodeCursor(50))).toBe(50);
    expect(() => decodeCursor('nonsense')).toThrow(/cursor is not valid/);
  });

  it('batches every 100 ms, or at once at 50 messages, as {type: batch, channel, count, messages, batched_at}', async () => {
    vi.useFakeTimers();
    const sent: BatchedMessage[] = [];
    const batcher = new MessageBatcher((b) => sent.push(b));
    batcher.queue({ n: 1 });
    batcher.queue({ n: 2 });
    expect(sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(HSI_CURRENT.wsBatch.intervalMs);
    expect(sent).toEqual([{ type: 'batch', channel: 'events', count: 2, messages: [{ n: 1 }, { n: 2 }], batched_at: expect.any(Number) }]);
    for (let i = 0; i < 50; i++) batcher.queue({ i });
    expect(sent).toHaveLength(2);
    expect(sent[1]?.count).toBe(50);
    expect(batcher.pendingCount).toBe(0);
    vi.useRealTimers();
  });

  it('requires_ack for risk >= 80 or critical events', () => {
    expect(requiresAck({ type: 'event', data: { risk_score: 80 } })).toBe(true);
    expect(requiresAck({ type: 'event', data: { risk_score: 50, risk_level: 'critical' } })).toBe(true);
    expect(requiresAck({ type: 'event', data: { risk_score: 79, risk_level: 'high' } })).toBe(false);
    expect(requiresAck({ type: 'status', data: { risk_score: 99 } })).toBe(false);
  });
});
