import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hsiBaggageChecks, hsiCompleteness, hsiHops, hsiUploadTree } from '../../assertions/hsi/expectations.ts';
import { evaluateExpectations, parseExpectations, type ExpectationEvidence } from '../../assertions/expectations.ts';
import { backendWorkersIdle, readPipelineOutcome, waitForDrain } from '../../assertions/hsi/pipeline-adapters.ts';
import { fetchPipelineTraces } from '../../assertions/propagation/stitch.ts';
import { request } from 'undici';
import mainJob from '../../scenarios/steady-detector-fault.ts';
import { checkNothingLost } from '../../assertions/lost/outcome.ts';
import { checkBaggage } from '../../assertions/propagation/baggage.ts';
import { checkHops, sentSpanIds } from '../../assertions/propagation/hops.ts';
import { stitchPipelines } from '../../assertions/propagation/stitch.ts';
import type { AssertionResult } from '../../assertions/result.ts';
import { checkNoPartialTraces, checkParentBasedSampling } from '../../assertions/sampling/checks.ts';
import { checkTracePresence, toSamplingRecords } from '../../assertions/sampling/presence.ts';
import { checkSpanTree } from '../../assertions/span-tree/evaluate.ts';
import type { UploadRecord } from '../../harness/load/upload-client.ts';
import { DEFECTS, type DefectName } from '../../harness/stack/defects.ts';
import { HsiStack, newRunId, type StartedHsiStack } from '../../harness/stack/hsi-stack.ts';
import type { TraceTree } from '../../harness/traces/span-model.ts';
import { BACKEND, backendTraces, DETECTOR, FAST_LLM, FAST_PIPELINE, getJson, jaegerOf, LLM, setProxyEnabled, trace, upload } from './pipeline-helpers.ts';
import { dockerResourcesOfRun, switchBackendDefects, switchDetectorDefects, testConfig, waitFor } from './stack-helpers.ts';

/**
 * Each defect switch of the reference stack changes what the traces or the database
 * show, and the assertion family meant to catch it fails on the real stack's output
 * with a message naming the broken hop, span or bound. The healthy stack is the control:
 * the same checks pass there.
 *
 * The backend's and the detector's switches are live (POST /admin/defects on each), so one
 * stack serves the control and every defect: each test turns its switches on, and after it they
 * are all turned off, every proxy is enabled again and the pipeline drains, so the next test
 * starts from a healthy, idle stack (the control runs first, on a stack no defect has touched,
 * and again last). Each test judges only its own uploads (trace ids, file paths).
 */
function startStack(defects: DefectName[]): Promise<StartedHsiStack> {
  return new HsiStack(testConfig())
    .withRunId(newRunId(`test-${defects[0] ?? 'defects'}`))
    .withDefects(defects)
    .withBackendEnvironment(FAST_PIPELINE)
    .withLlmEnvironment(FAST_LLM)
    .start();
}

/** After a test on the shared stack: no switch on, every proxy enabled, nothing queued or in flight. */
async function backToHealthy(stack: StartedHsiStack): Promise<void> {
  await switchBackendDefects(stack.getBackendUrl(), []);
  await switchDetectorDefects(stack.getDetectorUrl(), []);
  for (const proxy of ['postgres', 'redis', 'detector', 'llm']) await setProxyEnabled(stack, proxy, true);
  await deleteJson(`${stack.getLlmUrl()}/admin/faults`);
  await waitFor('backend ready', async () => ((await fetch(new URL('/api/system/health/ready', stack.getBackendUrl()))).status === 200 ? true : undefined), 30_000);
  await waitForDrain({ redisUrl: stack.getRedisUrl() }, { timeoutMs: 60_000, pollMs: 300, alsoIdle: backendWorkersIdle(stack.getBackendUrl()) });
}

/** A DLQ count of the backend (`detection_queue_count`, `analysis_queue_count`). */
async function dlqCount(stack: StartedHsiStack, queue: 'detection_queue_count' | 'analysis_queue_count'): Promise<number> {
  return (await getJson<Record<string, number>>(`${stack.getBackendUrl()}/api/dlq/stats`)).body[queue] ?? 0;
}

/** The defect switches added for issue 15: each one a bug the old default expectations passed. */
const NEW_SWITCHES: DefectName[] = ['analysis-queue-no-trace-context', 'llm-client-no-trace-context', 'detector-client-stale-baggage', 'processing-span-ends-early', 'worker-drops-rows', 'llm-failure-dead-letters'];
const MAIN_JOB_EXPECTATIONS = parseExpectations(mainJob.expectations, 'steady-detector-fault');

async function uploads(stack: StartedHsiStack, from: number, count: number): Promise<UploadRecord[]> {
  const out: UploadRecord[] = [];
  for (let i = from; i < from + count; i++) {
    const r = await upload(stack, i);
    expect(r.status, r.error).toBe(202);
    out.push(r);
  }
  return out;
}

async function putJson(url: string, body: unknown): Promise<void> {
  const res = await request(url, { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  await res.body.dump();
  expect(res.statusCode, `PUT ${url}`).toBe(200);
}

async function deleteJson(url: string): Promise<void> {
  const res = await request(url, { method: 'DELETE' });
  await res.body.dump();
}

/** What the main job's evaluator does, on a test stack: drain, traces, rows, then the main job's expectations. */
async function defaultVerdict(stack: StartedHsiStack, records: readonly UploadRecord[], sinceMs: number): Promise<AssertionResult[]> {
  await waitForDrain({ redisUrl: stack.getRedisUrl() }, { timeoutMs: 60_000, pollMs: 300, alsoIdle: backendWorkersIdle(stack.getBackendUrl()) });
  await new Promise((r) => setTimeout(r, 3_000)); // the services' span batches (OTEL_BSP_SCHEDULE_DELAY 2 s)
  const accepted = records.filter((r) => r.status === 202);
  const traces = await fetchPipelineTraces(jaegerOf(stack), { startMin: new Date(sinceMs), startMax: new Date(Date.now() + 5_000), traceIds: accepted.map((r) => r.traceId) });
  const pipelineOutcome = await readPipelineOutcome({ pgConnectionString: stack.getPostgresConnectionUri(), redisUrl: stack.getRedisUrl(), filePaths: accepted.map((r) => r.filePath!) });
  const evidence: ExpectationEvidence = {
    traces,
    uploads: accepted.map((r) => ({ traceId: r.traceId, clientSpanId: r.clientSpanId, sampled: r.sampled, status: r.status, uploadId: r.uploadId, filePath: r.filePath, cameraId: r.cameraId })),
    pipelineOutcome,
    faults: { windows: [], loadStartEpochMs: sinceMs },
    stackSettings: FAST_PIPELINE,
  };
  return evaluateExpectations(MAIN_JOB_EXPECTATIONS, evidence);
}

async function stopAndCheck(stack: StartedHsiStack | undefined): Promise<void> {
  if (!stack) return;
  await stack.stop();
  expect(await dockerResourcesOfRun(stack.runId)).toEqual([]);
}

const FULL = ['detection_processing', 'yolo26_detection_request', 'analysis_processing', 'llm_inference', 'event_creation'];
const failed = (results: AssertionResult[]) => results.filter((r) => !r.passed);

async function uploadAndTrace(stack: StartedHsiStack, services: string[], spans: string[]): Promise<{ record: UploadRecord; tree: TraceTree }> {
  const record = await upload(stack, 0);
  expect(record.status, record.error).toBe(202);
  return { record, tree: await trace(stack, record.traceId, services, spans, 45_000) };
}

/** The control: span tree, every hop and baggage of one upload, and the main job's default expectations over seven. */
async function expectHealthyControl(stack: StartedHsiStack): Promise<void> {
  const t0 = Date.now();
  const { record, tree } = await uploadAndTrace(stack, [BACKEND, DETECTOR, LLM], FULL);
  const results = [
    checkSpanTree([tree], hsiUploadTree({ analysis: true, analysisRequired: true })),
    ...checkHops([tree], hsiHops({ analysis: true }), { sent: sentSpanIds([{ traceId: record.traceId, clientSpanId: record.clientSpanId }]) }),
    ...checkBaggage([tree], hsiBaggageChecks({ analysis: true, analysisRequired: true })),
  ];
  expect(failed(results).map((r) => r.message)).toEqual([]);
  // The main job's default expectations, over a few uploads of several cameras: no false alarm.
  const more = await uploads(stack, 1, 6);
  const verdict = await defaultVerdict(stack, [record, ...more], t0 - 1_000);
  expect(failed(verdict).map((r) => `[${r.family}] ${r.message}`)).toEqual([]);
}

describe('defect switches: each one breaks what its assertion family checks (backend and detector switches, one stack)', () => {
  let shared: StartedHsiStack | undefined;
  /** The shared stack with exactly `defects` switched on (each on its service). */
  async function stackWith(defects: DefectName[]): Promise<StartedHsiStack> {
    const backend = defects.filter((d) => DEFECTS[d].service === 'backend');
    const detector = defects.filter((d) => DEFECTS[d].service === 'detector');
    if (backend.length > 0) await switchBackendDefects(shared!.getBackendUrl(), backend);
    if (detector.length > 0) await switchDetectorDefects(shared!.getDetectorUrl(), detector);
    return shared!;
  }
  beforeAll(async () => {
    shared = await startStack([]);
  });
  afterEach(async () => {
    if (shared) await backToHealthy(shared);
  });
  afterAll(() => stopAndCheck(shared));

  it('control: the healthy stack passes span tree, every hop and baggage', () => expectHealthyControl(shared!));

  it('the six defect switches of issue 15, on in one stack: the default expectations fail each, naming its cause', async () => {
    const stack = await stackWith(NEW_SWITCHES);
    const t0 = Date.now();
    const analysisDlqBefore = await dlqCount(stack, 'analysis_queue_count');
    const first = await uploads(stack, 0, 8);
    // An LLM failure: every answer 503 while a few more batches are analysed.
    await putJson(`${stack.getLlmUrl()}/admin/faults`, { error_rate: 1, status_code: 503 });
    let late: UploadRecord[];
    try {
      late = await uploads(stack, 8, 4);
      await waitFor('an analysis dead letter', async () => ((await dlqCount(stack, 'analysis_queue_count')) >= analysisDlqBefore + 1 ? true : undefined), 60_000);
    } finally {
      await deleteJson(`${stack.getLlmUrl()}/admin/faults`);
    }
    const verdict = await defaultVerdict(stack, [...first, ...late], t0 - 1_000);
    const message = (name: string) => verdict.find((r) => r.name === name && !r.passed)?.message ?? `(${name} passed or missing)`;
    // analysis-queue-no-trace-context
    expect(message('hop: queue: analysis_queue producer → consumer')).toMatch(/broken in \d+\/\d+ traces: nemotron-backend "analysis_processing" not in the trace of nemotron-backend "analysis_queue publish"/);
    // llm-client-no-trace-context
    expect(message('hop: http: backend → llm')).toMatch(/broken in \d+\/\d+ traces: ai-llm-emulator server span not in the trace of nemotron-backend "llm_inference"/);
    // detector-client-stale-baggage
    expect(message('baggage: camera.id at ai-yolo26-emulator "POST /detect"')).toMatch(/is present but wrong in \d+\/\d+ traces: got "[a-z_]+", (but the span's own camera_id is|but the request that started the trace sent) "[a-z_]+"/);
    // processing-span-ends-early
    expect(message('span timing: children inside their parents')).toMatch(/a parent span ends before the work it covers.*nemotron-backend "detection_processing" \(\d+\.\d ms\) ended [\d.]+ ms before its child/);
    // worker-drops-rows and llm-failure-dead-letters
    const lost = verdict.find((r) => r.family === 'nothing-lost')!;
    expect(lost.passed).toBe(false);
    const reasons = ((lost.details?.['lost'] ?? []) as { reason: string }[]).map((l) => l.reason);
    expect(reasons.some((r) => /^the detector returned \d detections? but the worker stored \d rows?: 1 dropped/.test(r)), reasons.join('\n')).toBe(true);
    expect(reasons.some((r) => /in dlq:analysis_queue, which the contract does not allow here: it failed on the LLM \(error_code llm_/.test(r)), reasons.join('\n')).toBe(true);
    expect(reasons.some((r) => r.includes('the detector found nothing')), 'dropped rows are not blamed on the detector').toBe(false);
  });

  it('queue-no-trace-context: the queue hop breaks; stitching by file_path still joins the pieces', async () => {
    const stack = await stackWith(['queue-no-trace-context']);
    const since = Date.now();
    const record = await upload(stack, 0);
    const uploadTree = await trace(stack, record.traceId, [BACKEND], ['detection_queue publish']);
    const processing = await waitFor('the worker-started trace', async () => (await backendTraces(stack, 'detection_processing', since)).find((t) => t.spans.some((s) => s.attributes['file_path'] === record.filePath)), 30_000);
    expect(processing.traceId).not.toBe(record.traceId);
    const hops = checkHops([uploadTree], hsiHops());
    const queueHop = hops.find((r) => r.name.includes('queue: detection_queue producer → consumer'));
    expect(queueHop?.passed).toBe(false);
    expect(queueHop?.message).toMatch(/queue: detection_queue producer → consumer/);
    const pipelines = stitchPipelines([uploadTree, processing], { uploads: [{ filePath: record.filePath, uploadId: record.uploadId }], until: 'detection' });
    expect(pipelines[0]?.complete, 'stitched upload → detection').toBe(true);
  });

  it('llm-client-drops-baggage: camera.id does not reach the LLM', async () => {
    const stack = await stackWith(['llm-client-drops-baggage']);
    const { tree } = await uploadAndTrace(stack, [BACKEND, DETECTOR, LLM], FULL);
    const results = checkBaggage([tree], hsiBaggageChecks({ analysis: true, analysisRequired: true }));
    const llm = results.find((r) => r.name.includes('ai-llm-emulator'));
    expect(llm?.passed).toBe(false);
    expect(llm?.message).toMatch(/camera\.id/);
    expect(results.filter((r) => !r.name.includes('ai-llm-emulator')).every((r) => r.passed), 'the other hops keep their baggage').toBe(true);
  });

  it('sampler-ignores-parent: requests sent with sampled=0 leave spans', async () => {
    const stack = await stackWith(['sampler-ignores-parent']);
    const records: UploadRecord[] = [];
    for (let i = 0; i < 6; i++) records.push(await upload(stack, i, { sampled: false }));
    await new Promise((r) => setTimeout(r, 5_000));
    const presence = await checkTracePresence(jaegerOf(stack), records.map((r) => r.traceId));
    const [unsampled] = checkParentBasedSampling(toSamplingRecords(presence, new Map(records.map((r) => [r.traceId, { sampled: false }]))));
    expect(unsampled?.passed).toBe(false);
    expect(unsampled?.message).toMatch(/sampled=0/);
  });

  it('ack-before-store: an upload is acknowledged during a Redis outage and then lost', async () => {
    const stack = await stackWith(['ack-before-store']);
    await setProxyEnabled(stack, 'redis', false);
    let record: UploadRecord;
    try {
      record = await upload(stack, 0);
      expect(record.status, 'acknowledged although nothing was stored').toBe(202);
      await new Promise((r) => setTimeout(r, 1_500));
    } finally {
      await setProxyEnabled(stack, 'redis', true);
    }
    await waitForDrain({ redisUrl: stack.getRedisUrl() }, { timeoutMs: 30_000, pollMs: 500 });
    const outcome = await readPipelineOutcome({ pgConnectionString: stack.getPostgresConnectionUri(), redisUrl: stack.getRedisUrl(), filePaths: [record.filePath!] });
    const lost = checkNothingLost([{ traceId: record.traceId, status: record.status, uploadId: record.uploadId, filePath: record.filePath }], outcome);
    expect(lost.passed).toBe(false);
    expect(lost.message).toContain(record.filePath!);
  });

  it('retry-without-backoff: retries hit the detector back to back', async () => {
    const stack = await stackWith(['retry-without-backoff']);
    await setProxyEnabled(stack, 'detector', false);
    try {
      const record = await upload(stack, 0);
      const tree = await trace(stack, record.traceId, [BACKEND], ['detection_processing', 'yolo26_detection_request']);
      const attempts = await waitFor('2 attempts', async () => {
        const t = await jaegerOf(stack).getTrace(tree.traceId);
        const a = t?.spans.filter((s) => s.name === 'yolo26_detection_request').sort((x, y) => x.startTimeMs - y.startTimeMs);
        return a && a.length >= 2 ? a : undefined;
      });
      const gap = attempts[1]!.startTimeMs - (attempts[0]!.startTimeMs + attempts[0]!.durationMs);
      expect(gap, 'no backoff between attempts (healthy: about 1 s)').toBeLessThan(200);
    } finally {
      await setProxyEnabled(stack, 'detector', true);
    }
  });

  it('breaker-never-opens: the detector keeps being called, no circuit_breaker.opened event', async () => {
    const stack = await stackWith(['breaker-never-opens']);
    await setProxyEnabled(stack, 'detector', false);
    const records: UploadRecord[] = [];
    const dlqBefore = await dlqCount(stack, 'detection_queue_count');
    try {
      for (let i = 0; i < 4; i++) records.push(await upload(stack, i));
      await waitFor('4 more uploads in the DLQ', async () => ((await dlqCount(stack, 'detection_queue_count')) >= dlqBefore + 4 ? true : undefined), 60_000);
    } finally {
      await setProxyEnabled(stack, 'detector', true);
    }
    let requestSpans = 0;
    for (const r of records) {
      const tree = await trace(stack, r.traceId, [BACKEND], ['detection_processing']);
      expect(tree.spans.some((s) => s.events.some((e) => e.name === 'circuit_breaker.opened'))).toBe(false);
      requestSpans += tree.spans.filter((s) => s.name === 'yolo26_detection_request').length;
    }
    expect(requestSpans, 'every attempt reached for the detector (8 = 4 uploads × 2 attempts)').toBe(8);
  });

  it('detector-not-instrumented: the detector span is missing from the tree and its hop breaks', async () => {
    const stack = await stackWith(['detector-not-instrumented']);
    const { tree } = await uploadAndTrace(stack, [BACKEND], ['yolo26_detection_request', 'batch_aggregation']);
    expect(tree.services()).not.toContain(DETECTOR);
    const tree1 = checkSpanTree([tree], hsiUploadTree());
    expect(tree1.passed).toBe(false);
    expect(tree1.message).toMatch(/ai-yolo26-emulator/);
    const hop = checkHops([tree], hsiHops()).find((r) => r.name.includes('http: backend → detector'));
    expect(hop?.passed).toBe(false);
  });

  it('detector-drops-spans: some traces are partial, and the no-partial-traces check fails', async () => {
    const stack = await stackWith(['detector-drops-spans']);
    const records: UploadRecord[] = [];
    for (let i = 0; i < 12; i++) records.push(await upload(stack, i));
    for (const r of records) await trace(stack, r.traceId, [BACKEND], ['yolo26_detection_request']);
    await new Promise((r) => setTimeout(r, 2_000));
    const presence = await checkTracePresence(jaegerOf(stack), records.map((r) => r.traceId), { expected: hsiCompleteness() });
    const result = checkNoPartialTraces(toSamplingRecords(presence, new Map(records.map((r) => [r.traceId, { sampled: true }]))));
    expect(result.passed).toBe(false);
    expect(result.message).toMatch(/partial/i);
    expect(presence.some((p) => p.complete), 'the other traces are complete').toBe(true);
  });

  it('control again: after every backend and detector switch was on and off at run time, the same stack is healthy', () => expectHealthyControl(shared!));
});
