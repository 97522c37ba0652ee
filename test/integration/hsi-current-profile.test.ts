import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPipelineOutcome, waitForDrain } from '../../assertions/hsi/pipeline-adapters.ts';
import { checkNothingLost } from '../../assertions/lost/outcome.ts';
import { parseStoredDlqEntry } from '../../harness/contract/dlq-entry.ts';
import { decodePayloadText, isCompressedPayload } from '../../harness/contract/payload-codec.ts';
import { HSI_CURRENT } from '../../harness/contract/profiles.ts';
import { sendUpload, type UploadRecord } from '../../harness/load/upload-client.ts';
import { HsiStack, newRunId, type StartedHsiStack } from '../../harness/stack/hsi-stack.ts';
import type { TraceTree } from '../../harness/traces/span-model.ts';
import { BACKEND, DETECTOR, FAST_LLM, LLM, FAST_PIPELINE, getJson, jaegerOf, upload } from './pipeline-helpers.ts';
import { PROJECT_ROOT, testConfig, waitFor } from './stack-helpers.ts';

/**
 * Profile hsi-current, live, on ONE stack: each real-HSI behaviour the profile claims exists
 * (reference-stack/README.md "Profile hsi-current"). The pure parts (sampler rules, retry delays,
 * batcher, rate-limit window, codec use) are unit-tested in test/unit/reference-stack/hsi-current.test.ts.
 * The rate-limit test runs last: it spends the test client's request budget for a minute.
 */

const RAISE_CAMERA = 'raise_cam';
/** A fixture whose emulated detections hold a `person` at 0.91: the fast path. */
const FAST_PATH_IMAGE = join(PROJECT_ROOT, 'fixtures/images/front_door/porch_dogs_1920x1080.jpg');
const QUEUES = ['hsi:queue:detection_queue', 'hsi:queue:analysis_queue'];

let stack: StartedHsiStack;
let redis: Redis;
const pushed: { key: string; body: string }[] = [];
const published: Record<string, unknown>[] = [];
const wsMessages: Record<string, unknown>[] = [];
let ws: WebSocket;
const clients: Redis[] = [];

beforeAll(async () => {
  stack = await new HsiStack(testConfig())
    .withRunId(newRunId('hsi-current'))
    .withProfile('hsi-current')
    .withBackendEnvironment({ ...FAST_PIPELINE, DETECTOR_CB_FAILURE_THRESHOLD: '100', HSI_DEFECT_ANALYSIS_RAISES: '1', HSI_DEFECT_ANALYSIS_RAISES_CAMERA: RAISE_CAMERA })
    .withLlmEnvironment(FAST_LLM)
    .start();
  redis = new Redis(stack.getRedisUrl());
  // monitor() opens its own connection in MONITOR mode (ioredis duplicates the client).
  const monitor = await redis.monitor();
  clients.push(redis, monitor);
  for (const c of clients) c.on('error', () => undefined);
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'rpush' && args[1] !== undefined && args[2] !== undefined) pushed.push({ key: args[1], body: args[2] });
  });
  const subscriber = new Redis(stack.getRedisUrl());
  subscriber.on('error', () => undefined);
  clients.push(subscriber);
  subscriber.on('message', (_channel: string, text: string) => published.push(JSON.parse(text) as Record<string, unknown>));
  await subscriber.subscribe(HSI_CURRENT.eventChannel);
  ws = new WebSocket(`${stack.getBackendUrl().replace(/^http/, 'ws')}/ws/events`);
  ws.addEventListener('message', (m) => wsMessages.push(JSON.parse(String(m.data)) as Record<string, unknown>));
  await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }));
}, 120_000);

afterAll(async () => {
  ws?.close();
  for (const c of clients) c.disconnect();
  await stack?.stop();
}, 60_000);

async function events(): Promise<{ batch_id: string; camera_id: string; summary: string }[]> {
  return (await getJson<{ items: { batch_id: string; camera_id: string; summary: string }[] }>(`${stack.getBackendUrl()}/api/events?limit=100`)).body.items;
}

async function uploadFile(path: string, cameraId: string, baggage: Record<string, string> = {}): Promise<UploadRecord> {
  return sendUpload({ backendUrl: stack.getBackendUrl(), cameraId, fileName: path.split('/').pop()!, bytes: readFileSync(path), baggage });
}

/** An upload without traceparent (the backend's span is a root: the sampler decides); its trace id from x-trace-id. */
async function rootUpload(cameraId: string): Promise<string> {
  const form = new FormData();
  form.set('file', new Blob([readFileSync(FAST_PATH_IMAGE)], { type: 'image/jpeg' }), 'root.jpg');
  const res = await fetch(`${stack.getBackendUrl()}/api/cameras/${cameraId}/uploads`, { method: 'POST', body: form });
  expect(res.status).toBe(202);
  return res.headers.get('x-trace-id')!;
}

/** Every detector request answers 503 (emulator fault) while `fn` runs. */
async function withDetectorErrors<T>(fn: () => Promise<T>): Promise<T> {
  const faults = `${stack.getDetectorUrl()}/admin/faults`;
  await request(faults, { method: 'PUT', body: JSON.stringify({ error_rate: 1, status_code: 503 }), headers: { 'content-type': 'application/json' } }).then((r) => r.body.dump());
  try {
    return await fn();
  } finally {
    await request(faults, { method: 'DELETE' }).then((r) => r.body.dump());
  }
}

describe('profile hsi-current (one live stack)', () => {
  it('queues, payloads, batch ids, fast path, pub/sub and batched /ws/events, {detail} errors, /v1/completions', async () => {
    // A baggage entry of 1.5 KB makes the detection_queue payload longer than 1 KB: stored compressed.
    const big = await uploadFile(FAST_PATH_IMAGE, 'front_door', { note: 'x'.repeat(1500) });
    const plain = await upload(stack, 1, { cameraId: 'driveway' });
    expect([big.status, plain.status]).toEqual([202, 202]);
    const created = await waitFor('both events', async () => {
      const e = await events();
      return e.length >= 3 ? e : undefined; // front_door: fast path + batch; driveway: batch
    });
    // Prefixed keys; the big payload compressed, the others plain; the worker read both.
    // (MONITOR also shows the batch scripts' own RPUSHes to batch:* keys.)
    expect(new Set(pushed.filter((p) => p.key.includes('queue')).map((p) => p.key))).toEqual(new Set(QUEUES));
    const detectionBodies = pushed.filter((p) => p.key === QUEUES[0]).map((p) => p.body);
    expect(detectionBodies.filter(isCompressedPayload)).toHaveLength(1);
    expect(JSON.parse(decodePayloadText(detectionBodies.find(isCompressedPayload)!))).toMatchObject({ file_path: big.filePath });
    // Analysis payloads: uuid4().hex batch ids, epoch-seconds float timestamps; one is the fast path.
    const analysis = pushed.filter((p) => p.key === QUEUES[1]).map((p) => JSON.parse(decodePayloadText(p.body)) as { batch_id: string; timestamp: unknown; close_reason: string });
    for (const a of analysis) {
      expect(a.batch_id).toMatch(/^[0-9a-f]{32}$/);
      expect(typeof a.timestamp).toBe('number');
      expect(Math.abs((a.timestamp as number) * 1000 - Date.now())).toBeLessThan(120_000);
    }
    expect(analysis.map((a) => a.close_reason)).toContain('fast_path');
    expect(created.every((e) => /^[0-9a-f]{32}$/.test(e.batch_id))).toBe(true);
    // Every event on Redis pub/sub and, batched, on /ws/events.
    await waitFor('3 events broadcast', async () => (wsMessages.flatMap((m) => (m['messages'] as unknown[]) ?? []).length >= 3 ? true : undefined), 10_000);
    expect(published.map((p) => (p['data'] as { batch_id: string }).batch_id).sort()).toEqual(created.map((e) => e.batch_id).sort());
    const batch = wsMessages[0]!;
    expect(batch).toMatchObject({ type: 'batch', channel: 'events' });
    expect((batch['messages'] as Record<string, unknown>[])[0]).toMatchObject({ type: 'event', sequence: 1, requires_ack: expect.any(Boolean) });
    // FastAPI error bodies, backend and detector.
    const missing = await getJson<Record<string, unknown>>(`${stack.getBackendUrl()}/api/no-such-route`);
    expect(missing.body).toEqual({ detail: expect.any(String) });
    const badDetect = await request(`${stack.getDetectorUrl()}/detect`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(Object.keys((await badDetect.body.json()) as object)).toEqual(['detail']);
    // The LLM readiness probe is POST /v1/completions (its answer shows in the health details).
    const health = await getJson<{ services: { ai: { details: { nemotron: { object?: string } } } } }>(`${stack.getBackendUrl()}/api/system/health`);
    expect(health.body.services.ai.details.nemotron.object).toBe('text_completion');
  }, 60_000);

  // Side by side: the LLM fault does not touch the silent-drop batches (they raise before the LLM call).
  it.concurrent('silent drops: an invalid queue payload and an analysis exception leave no dead letter, and nothing-lost fails naming the lost detections', async () => {
    await redis.rpush(QUEUES[0]!, '{"not": "a job"}');
    const records = [await upload(stack, 2, { cameraId: RAISE_CAMERA }), await upload(stack, 3, { cameraId: RAISE_CAMERA })];
    await waitFor('the dropped analysis', async () => {
      const status = await getJson<{ queues: { name: string; dropped?: number }[] }>(`${stack.getBackendUrl()}/api/queues/status`);
      const dropped = Object.fromEntries(status.body.queues.map((q) => [q.name, q.dropped ?? 0]));
      return (dropped['detection'] ?? 0) >= 1 && (dropped['ai_analysis'] ?? 0) >= 1 ? dropped : undefined;
    }, 20_000);
    await waitForDrain({ lengths: async () => Object.fromEntries(await Promise.all(QUEUES.map(async (q) => [q, await redis.llen(q)] as const))) }, { timeoutMs: 20_000, pollMs: 300 });
    expect(await redis.llen('dlq:detection_queue')).toBe(0);
    expect(await redis.llen('dlq:analysis_queue')).toBe(0);
    const outcome = await readPipelineOutcome({ pgConnectionString: stack.getPostgresConnectionUri(), redisUrl: stack.getRedisUrl(), filePaths: records.map((r) => r.filePath!) });
    const lost = checkNothingLost(records.map((r) => ({ traceId: r.traceId, status: r.status, uploadId: r.uploadId, filePath: r.filePath, cameraId: r.cameraId })), outcome);
    expect(lost.passed).toBe(false);
    expect(lost.message).toContain('stored but in no event and not in dlq:analysis_queue');
    expect(lost.message).toContain(records[0]!.filePath!);
  }, 40_000);

  it.concurrent('LLM: one llm_inference span covers all attempts (llm_attempts, input_tokens), the real fallback summary', async () => {
    const llm = `${stack.getLlmUrl()}/admin/faults`;
    await request(llm, { method: 'PUT', body: JSON.stringify({ error_rate: 1, status_code: 503 }), headers: { 'content-type': 'application/json' } }).then((r) => r.body.dump());
    let record: UploadRecord;
    try {
      record = await upload(stack, 5, { cameraId: 'llm_cam' });
      await waitFor('the fallback event', async () => (await events()).find((e) => e.camera_id === 'llm_cam'), 30_000);
    } finally {
      await request(llm, { method: 'DELETE' }).then((r) => r.body.dump());
    }
    expect((await events()).find((e) => e.camera_id === 'llm_cam')?.summary).toBe(HSI_CURRENT.fallbackSummary);
    // The LLM exports its two server spans in batches, a moment apart: wait for both, not the first
    // (a run beside another stack read the trace with 1 of 2; the assertions below are unchanged).
    const llmCalls = (t: TraceTree | undefined) => t?.spans.filter((s) => s.service === LLM && s.name === 'POST /completion').length ?? 0;
    const tree = await waitFor('2 LLM calls and the llm_inference span in the trace', async () => {
      const t = await jaegerOf(stack).getTrace(record.traceId).catch(() => undefined);
      return llmCalls(t) >= 2 && t?.spans.some((s) => s.name === 'llm_inference') ? t : undefined;
    }, 20_000, 500).catch(async () => jaegerOf(stack).getTrace(record.traceId));
    const spans = (tree?.spans ?? []).filter((s) => s.name === 'llm_inference');
    expect(spans).toHaveLength(1);
    // FAST_PIPELINE sets NEMOTRON_MAX_RETRIES=2: two calls reach the LLM, both inside the one span.
    expect(spans[0]?.attributes).toMatchObject({ llm_attempts: 2, pipeline_stage: 'analysis', input_tokens: expect.any(Number) });
    expect(llmCalls(tree)).toBe(2);
  }, 40_000);
});

describe('profile hsi-current: faults and limits (side by side)', () => {
  // The detector fault of the retry test only slows the others' pipelines, which they do not wait for.
  it.concurrent('the rule sampler: an upload without traceparent is a root sampled by the API path rule (rate 1.0); the rules are unit-tested', async () => {
    const rootTraceId = await rootUpload('garden');
    const root = await jaegerOf(stack).waitForTrace(rootTraceId, { expectedServices: [BACKEND], expectedSpanNames: ['POST /api/cameras/{camera_id}/uploads'], timeoutMs: 20_000, pollIntervalMs: 400 });
    const server = root.spans.find((s) => s.name === 'POST /api/cameras/{camera_id}/uploads')!;
    expect(server.attributes).toMatchObject({ 'sampling.rule': 'api', 'sampling.rate': 1 });
  }, 40_000);

  it.concurrent('detector retries: 3 attempts (1 s, 2 s) per client call, 3 calls by the RetryHandler, 9 detector calls in 3 spans, then a nested dead letter', async () => {
    const { record, raw } = await withDetectorErrors(async () => {
      const record = await upload(stack, 4, { cameraId: 'retry_cam' });
      const mine = (r: string) => (parseStoredDlqEntry(r).job?.['file_path'] === record.filePath ? r : undefined);
      const raw = await waitFor('the dead letter', async () => (await redis.lrange('dlq:detection_queue', 0, -1)).map(mine).find((r) => r !== undefined), 30_000);
      return { record, raw };
    });
    const entry = parseStoredDlqEntry(raw);
    expect(entry.shape).toBe('nested');
    expect(entry.payload).toMatchObject({ attempt_count: 3, queue_name: 'detection_queue', error_type: 'detector_http_503', http_status: 503, original_job: { file_path: record.filePath } });
    const delays = entry.payload!['retry_delays'] as number[];
    expect(delays).toHaveLength(8);
    expect(delays.filter((d) => d === 1 || d === 2)).toHaveLength(6); // the client's waits, no jitter
    // Every call reached the detector (the breaker's threshold is raised for this stack): its SERVER spans count them
    // (waited for: the detector exports its last spans a moment after the backend).
    const detectorCalls = (t: TraceTree | undefined) => t?.spans.filter((s) => s.service === DETECTOR && s.name === 'POST /detect').length ?? 0;
    // The backend exports its three client spans in batches too: wait for all three, not the first.
    const clientSpans = (t: TraceTree | undefined) => t?.spans.filter((s) => s.name === 'yolo26_detection_request').length ?? 0;
    const tree = await waitFor('9 detector calls and 3 client spans in the trace', async () => {
      const t = await jaegerOf(stack).getTrace(record.traceId).catch(() => undefined);
      return detectorCalls(t) >= HSI_CURRENT.detectorCallsBeforeDlq && clientSpans(t) >= 3 ? t : undefined;
    }, 20_000, 500).catch(async () => jaegerOf(stack).getTrace(record.traceId));
    expect(detectorCalls(tree)).toBe(HSI_CURRENT.detectorCallsBeforeDlq);
    const spans = (tree?.spans ?? []).filter((s) => s.name === 'yolo26_detection_request');
    expect(spans.map((s) => s.attributes['attempt'])).toEqual([3, 3, 3]);
    expect(spans.map((s) => s.attributes['retry_attempt']).sort()).toEqual([0, 1, 2]);
    expect(spans[0]?.attributes).toMatchObject({ camera_id: 'retry_cam', image_path: record.filePath, pipeline_stage: 'detection' });
  }, 60_000);

  it.concurrent('rate limiting: 60/min + burst 10 per client, then 429 with Retry-After; health probes are not limited', async () => {
    const statuses: number[] = [];
    let limited: { headers: Record<string, unknown>; body: unknown } | undefined;
    for (let i = 0; i < 75; i++) {
      const res = await request(`${stack.getBackendUrl()}/api/detections?limit=1`);
      statuses.push(res.statusCode);
      if (res.statusCode === 429 && limited === undefined) limited = { headers: res.headers, body: await res.body.json() };
      else await res.body.dump();
    }
    // Earlier tests of this file spent some of the window: the first 429 comes at or before request 71.
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(5);
    expect(statuses.slice(statuses.indexOf(429)).every((s) => s === 429)).toBe(true);
    expect(limited?.headers['retry-after']).toBe('60');
    expect(limited?.body).toMatchObject({ detail: { error: 'Too many requests', retry_after_seconds: 60 } });
    expect((await getJson(`${stack.getBackendUrl()}/api/system/health/ready`)).status).toBe(200);
  }, 30_000);
});
