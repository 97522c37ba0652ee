import { mkdirSync, mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkNothingLost } from '../../assertions/lost/outcome.ts';
import { readPipelineOutcome, waitForDrain } from '../../assertions/hsi/pipeline-adapters.ts';
import {
  contractViolation,
  DetectionsResponse,
  DetectorHealth,
  DetectResponse,
  EventsResponse,
  GpuStats,
  LlmCompletionResponse,
  RiskAssessment,
  SystemHealth,
  UploadAccepted,
} from '../../harness/contract/hsi-contract.ts';
import { applyExternalSettings, readLiveSettings } from '../../harness/experiment/external-settings.ts';
import { GpuSampler } from '../../harness/gpu/gpu-sampler.ts';
import { gpuSourcesFor } from '../../harness/gpu/gpu-sources.ts';
import { NvidiaSmiSource } from '../../harness/gpu/nvidia-smi.ts';
import { loadScenario } from '../../harness/scenario/load-scenario.ts';
import { HsiStack, newRunId, type StartedHsiStack } from '../../harness/stack/hsi-stack.ts';
import {
  BACKEND,
  DETECTOR,
  FAST_LLM,
  FAST_PIPELINE,
  fixture,
  getJson,
  LLM,
  one,
  postJson,
  setProxyEnabled,
  trace,
  upload,
} from './pipeline-helpers.ts';
import { dockerResourcesOfRun, testConfig, waitFor } from './stack-helpers.ts';

const FULL_SPANS = ['detection_processing', 'yolo26_detection_request', 'analysis_processing', 'llm_inference', 'event_creation'];

describe('reference stack: the full HSI pipeline under Testcontainers', () => {
  let stack: StartedHsiStack;
  let runId: string;
  let dropDir: string;

  beforeAll(async () => {
    runId = newRunId('test-pipeline');
    dropDir = mkdtempSync(join(tmpdir(), 'hsi-drop-'));
    chmodSync(dropDir, 0o755);
    stack = await new HsiStack(testConfig())
      .withRunId(runId)
      .withBackendEnvironment(FAST_PIPELINE)
      .withLlmEnvironment(FAST_LLM)
      .withDropFolder(dropDir)
      .start();
  });

  afterAll(async () => {
    await stack?.stop();
    expect(await dockerResourcesOfRun(runId)).toEqual([]);
  });

  it('one upload is one trace from the HTTP request to event_creation, and its event links the detections', async () => {
    const record = await upload(stack, 0);
    expect(record.status, record.error).toBe(202);
    const tree = await trace(stack, record.traceId, [BACKEND, DETECTOR, LLM], FULL_SPANS, 45_000);
    const byId = new Map(tree.spans.map((s) => [s.spanId, s]));
    const parentOf = (s: { parentSpanId?: string }) => (s.parentSpanId !== undefined ? byId.get(s.parentSpanId) : undefined);
    const isUnder = (child: { parentSpanId?: string }, ancestorId: string): boolean => {
      for (let p = parentOf(child); p; p = parentOf(p)) if (p.spanId === ancestorId) return true;
      return false;
    };
    const server = one(tree, (s) => s.service === BACKEND && s.kind === 'server' && s.name.includes('/uploads'), 'upload server span');
    const processing = one(tree, (s) => s.name === 'detection_processing', 'detection_processing');
    const detect = one(tree, (s) => s.name === 'yolo26_detection_request', 'yolo26_detection_request');
    const detectorServer = one(tree, (s) => s.service === DETECTOR && s.kind === 'server', 'detector server span');
    const analysis = one(tree, (s) => s.name === 'analysis_processing', 'analysis_processing');
    const llmCall = one(tree, (s) => s.name === 'llm_inference', 'llm_inference');
    const llmServer = one(tree, (s) => s.service === LLM && s.kind === 'server', 'LLM server span');
    const creation = one(tree, (s) => s.name === 'event_creation', 'event_creation');
    expect(server.parentSpanId).toBe(record.clientSpanId);
    expect(isUnder(processing, server.spanId)).toBe(true);
    expect(isUnder(detect, processing.spanId)).toBe(true);
    expect(isUnder(detectorServer, detect.spanId)).toBe(true);
    expect(isUnder(analysis, processing.spanId), 'analysis continues the opening upload trace').toBe(true);
    expect(isUnder(llmCall, analysis.spanId)).toBe(true);
    expect(isUnder(llmServer, llmCall.spanId)).toBe(true);
    expect(isUnder(creation, analysis.spanId)).toBe(true);
    expect(detectorServer.attributes['ai.emulated']).toBe(true);
    expect(llmServer.attributes['camera.id'], 'baggage reaches the LLM').toBe(record.cameraId);

    const db = new pg.Client({ connectionString: stack.getPostgresConnectionUri() });
    await db.connect();
    try {
      const rows = await db.query<{ event_id: string; detection_id: string; trace_id: string }>(
        `SELECT ed.event_id::text, d.id::text AS detection_id, e.trace_id FROM detections d
           JOIN event_detections ed ON ed.detection_id = d.id JOIN events e ON e.id = ed.event_id
          WHERE d.file_path = $1`,
        [record.filePath],
      );
      expect(rows.rowCount, 'event_detections rows for the upload').toBeGreaterThan(0);
      expect(rows.rows[0]!.trace_id).toBe(record.traceId);
    } finally {
      await db.end();
    }
  });

  it('answers with the contract shapes (backend, detector emulator, LLM emulator)', async () => {
    const f = fixture(1);
    const record = await upload(stack, 1);
    expect(contractViolation(UploadAccepted, { id: record.uploadId, camera_id: record.cameraId, file_path: record.filePath })).toBeUndefined();
    const detect = await postJson(`${stack.getDetectorUrl()}/detect`, { image_base64: f.bytes.toString('base64') });
    expect(detect.status).toBe(200);
    expect(contractViolation(DetectResponse, detect.body)).toBeUndefined();
    expect(contractViolation(DetectorHealth, (await getJson(`${stack.getDetectorUrl()}/health`)).body)).toBeUndefined();
    const completion = await postJson<{ content: string }>(`${stack.getLlmUrl()}/completion`, {
      prompt: '<|im_start|>user\nperson at front_door<|im_end|>',
      temperature: 0.7,
      top_p: 0.95,
      max_tokens: 1536,
      stop: ['<|im_end|>', '<|im_start|>'],
    });
    expect(completion.status).toBe(200);
    expect(contractViolation(LlmCompletionResponse, completion.body)).toBeUndefined();
    const risk = JSON.parse(/\{[\s\S]*\}/.exec(completion.body.content)?.[0] ?? '{}') as unknown;
    expect(contractViolation(RiskAssessment, risk)).toBeUndefined();
    await waitFor('an event', async () => ((await getJson<{ items: unknown[] }>(`${stack.getBackendUrl()}/api/events?limit=5`)).body.items.length > 0 ? true : undefined), 30_000);
    for (const [path, schema] of [
      ['/api/events?limit=5', EventsResponse],
      ['/api/detections?limit=5', DetectionsResponse],
      ['/api/system/health', SystemHealth],
      ['/api/system/gpu', GpuStats],
    ] as const) {
      const { body } = await getJson(`${stack.getBackendUrl()}${path}`);
      expect(contractViolation(schema, body), path).toBeUndefined();
    }
  });

  it('GPU telemetry: the emulated stack is no GPU source, and the sampler says why; a GPU source ahead of it wins', async () => {
    const targets = { host: false, backendUrl: stack.getBackendUrl(), aiServices: { detector: stack.getDetectorUrl(), llm: stack.getLlmUrl() } };
    const none = await new GpuSampler({ sources: gpuSourcesFor(targets) }).start();
    expect(none.sourceLabel).toBe('no GPU telemetry');
    expect(none.tried[0]).toEqual({ source: 'backend /api/system/gpu', reason: 'emulated AI services, no GPU' });
    expect(none.tried[1]?.source).toBe("AI services' /health (detector, llm)");
    expect(none.tried[1]?.reason).toMatch(/^detector: emulator; llm: emulator \(modelled VRAM [\d.]+ GB, not measured\)$/);
    expect(none.sampleCount).toBe(0);
    // The order: nvidia-smi (the stand-in) before the same stack's endpoints.
    process.env['NVIDIA_SMI_FIXTURE_STATE'] = join(mkdtempSync(join(tmpdir(), 'hsi-gpu-')), 'calls');
    const smi = new NvidiaSmiSource({ kind: 'host', command: join(import.meta.dirname, '..', 'fixtures', 'gpu', 'nvidia-smi') });
    const withGpu = await new GpuSampler({ sources: [smi, ...gpuSourcesFor(targets)] }).start();
    delete process.env['NVIDIA_SMI_FIXTURE_STATE'];
    expect([withGpu.source, withGpu.tried, withGpu.perGpu.length]).toEqual(['nvidia-smi', [], 2]);
  });

  it('takes camera images from the drop folder (camera id from the folder name, small files rejected, duplicates skipped)', async () => {
    const f = fixture(2);
    const folder = join(dropDir, 'Front Door');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'cam1.jpg'), f.bytes);
    writeFileSync(join(folder, 'tiny.jpg'), f.bytes.subarray(0, 5_000));
    const db = new pg.Client({ connectionString: stack.getPostgresConnectionUri() });
    await db.connect();
    try {
      const rows = await waitFor(
        'detections of the dropped file',
        async () => {
          const r = await db.query<{ camera_id: string; trace_id: string }>('SELECT camera_id, trace_id FROM detections WHERE file_path = $1', ['/cameras/Front Door/cam1.jpg']);
          return r.rowCount ? r.rows : undefined;
        },
        30_000,
      );
      expect(rows[0]!.camera_id).toBe('front_door');
      // The same pipeline as an HTTP upload: one trace from the watcher to event_creation.
      const tree = await trace(stack, rows[0]!.trace_id, [BACKEND, DETECTOR, LLM], FULL_SPANS, 45_000);
      one(tree, (s) => s.name === 'file_watcher ingest', 'file_watcher ingest span');
      // The same bytes under another name are a duplicate: no new detections.
      writeFileSync(join(folder, 'cam1-copy.jpg'), f.bytes);
      await new Promise((r) => setTimeout(r, 4_000));
      const copies = await db.query('SELECT 1 FROM detections WHERE file_path = $1', ['/cameras/Front Door/cam1-copy.jpg']);
      expect(copies.rowCount).toBe(0);
      const tiny = await db.query('SELECT 1 FROM detections WHERE file_path = $1', ['/cameras/Front Door/tiny.jpg']);
      expect(tiny.rowCount).toBe(0);
    } finally {
      await db.end();
    }
  });

  it('detector down: retries, dead-letter queue, circuit breaker opens and closes again (span events), nothing lost', async () => {
    await setProxyEnabled(stack, 'detector', false);
    const failed = [];
    try {
      for (let i = 0; i < 4; i++) failed.push(await upload(stack, i));
      for (const r of failed) expect(r.status).toBe(202);
      await waitFor('4 uploads in the detection DLQ', async () => {
        const { body } = await getJson<{ detection_queue_count: number }>(`${stack.getBackendUrl()}/api/dlq/stats`);
        return body.detection_queue_count >= 4 ? true : undefined;
      }, 60_000);
    } finally {
      await setProxyEnabled(stack, 'detector', true);
    }
    const events = async (traceIds: string[], name: string) => {
      for (const id of traceIds) {
        const tree = await trace(stack, id, [BACKEND], ['detection_processing']);
        if (tree.spans.some((s) => s.events.some((e) => e.name === name))) return true;
      }
      return false;
    };
    expect(await events(failed.map((r) => r.traceId), 'circuit_breaker.opened'), 'circuit_breaker.opened event').toBe(true);
    const attempts = (await trace(stack, failed[0]!.traceId, [BACKEND], ['detection_processing'])).spans.filter((s) => s.name === 'yolo26_detection_request');
    expect(attempts.length, 'the first failed upload was retried').toBe(2);
    expect(attempts.every((s) => s.status.code === 'error')).toBe(true);

    // After the recovery window the breaker lets trial calls through and closes on success.
    await new Promise((r) => setTimeout(r, 3_500));
    const recovered = [await upload(stack, 0), await upload(stack, 1)];
    for (const r of recovered) await trace(stack, r.traceId, [BACKEND, DETECTOR], ['detection_processing']);
    expect(await waitFor('circuit_breaker.closed', async () => ((await events(recovered.map((r) => r.traceId), 'circuit_breaker.closed')) ? true : undefined), 20_000)).toBe(true);

    const uploads = [...failed, ...recovered];
    const drain = await waitForDrain({ redisUrl: stack.getRedisUrl() }, { timeoutMs: 60_000, pollMs: 500 });
    expect(drain.drained).toBe(true);
    const outcome = await readPipelineOutcome({ pgConnectionString: stack.getPostgresConnectionUri(), redisUrl: stack.getRedisUrl(), filePaths: uploads.map((u) => u.filePath!) });
    const lost = checkNothingLost(uploads.map((u) => ({ traceId: u.traceId, status: u.status, uploadId: u.uploadId, filePath: u.filePath })), outcome);
    expect(lost.passed, lost.message).toBe(true);
  });

  it('an external run\'s settings: POST /admin/settings changes the breaker\'s recovery time live, names a start-only setting, and the rollback puts it back', async () => {
    const breakerConfig = async () => (await getJson<{ circuit_breakers: Record<string, { config: { recovery_seconds: number } }> }>(`${stack.getBackendUrl()}/api/system/circuit-breakers`)).body.circuit_breakers['yolo26']?.config.recovery_seconds;
    expect(await breakerConfig()).toBe(3);
    const base = await loadScenario('smoke');
    const scenario = { ...base, stack: { backend: { DETECTOR_CB_RECOVERY_SECONDS: '7', YOLO26_READ_TIMEOUT: '9' } } };
    const result = await applyExternalSettings(stack.getBackendUrl(), scenario);
    try {
      expect(result.applied).toEqual({ DETECTOR_CB_RECOVERY_SECONDS: '7' });
      expect(result.notApplied).toEqual(['backend YOLO26_READ_TIMEOUT=9: read only at start (restart the backend with it)']);
      expect(await breakerConfig()).toBe(7);
      // What the run's resilience checks are judged against: read back from the stack, not assumed.
      expect(await readLiveSettings(stack.getBackendUrl())).toMatchObject({ DETECTOR_CB_RECOVERY_SECONDS: '7', DETECTOR_CB_FAILURE_THRESHOLD: expect.any(String) });
    } finally {
      expect(await result.rollback.restore()).toBe('external stack: settings restored (DETECTOR_CB_RECOVERY_SECONDS=3)');
    }
    expect(await breakerConfig()).toBe(3);
  });

  it('a request sent with sampled=0 leaves no spans (parent-based sampler)', async () => {
    const record = await upload(stack, 0, { sampled: false });
    expect(record.status).toBe(202);
    await new Promise((r) => setTimeout(r, 4_000));
    const { JaegerQueryClient } = await import('../../harness/traces/jaeger-client.ts');
    expect(await new JaegerQueryClient({ baseUrl: stack.getJaegerQueryUrl() }).getTrace(record.traceId)).toBeUndefined();
  });

  it('answers 503 when Redis is unreachable, so nothing is acknowledged that is not stored', async () => {
    await setProxyEnabled(stack, 'redis', false);
    try {
      const record = await upload(stack, 0);
      expect(record.status).toBe(503);
    } finally {
      await setProxyEnabled(stack, 'redis', true);
    }
  });
});
