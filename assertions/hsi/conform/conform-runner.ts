import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { evaluateExpectations, parseExpectations } from '../../expectations.ts';
import { hsiUploadTree } from '../expectations.ts';
import { evaluateSpanTree } from '../../span-tree/evaluate.ts';
import { HSI_QUEUE_ROLES, HSI_ROUTES, HsiHttpClient, resolveStackDialect, type HsiDialect } from '../contract.ts';
import { HSI_SPANS } from '../names.ts';
import { EventStreamRecorder } from '../../../harness/events/event-stream-recorder.ts';
import { applyExternalSettings } from '../../../harness/experiment/external-settings.ts';
import type { EvidenceEndpoints } from '../../../harness/experiment/evaluator.ts';
import { errorMessage } from '../../../harness/errors.ts';
import { loadFixtures, type CameraFixtures } from '../../../harness/load/fixtures.ts';
import { sendUpload, type UploadRecord } from '../../../harness/load/upload-client.ts';
import { registerTeardown } from '../../../harness/stack/teardown.ts';
import { JaegerQueryClient } from '../../../harness/traces/jaeger-client.ts';
import type { TraceTree } from '../../../harness/traces/span-model.ts';
import { apiChecks, hsiGet } from '../../../harness/conform/api-checks.ts';
import { record, skip, type ConformOptions, type ConformReport, type Difference } from '../../../harness/conform/differences.ts';
import { assertionDifferences, spanTreeDifferences } from './trace-differences.ts';
import { dlqChecks, queuePayloadChecks, type CheckedPart, type DlqSample } from '../../../harness/conform/payload-checks.ts';
import { QueueCapture } from '../../../harness/conform/queue-capture.ts';

/** The upload route with the camera's id, as shown in a difference's `where`. */
const uploadPathOf = (cameraId: string): string => HSI_ROUTES.upload.replace('{camera_id}', cameraId);

/**
 * `hsi-chaos conform`: contract tests for any HSI-compatible stack, in four parts: the read
 * APIs; one traced upload followed to its event (queue payloads seen with Redis MONITOR, the
 * trace's span names and attributes, the context on each hop, its event on /ws/events); the
 * dead letters already stored. On a stack with the reference backend's settings endpoint the
 * batch closes after 1 s idle for the upload (and the old settings are put back).
 */
const FAST_BATCH = { BATCH_IDLE_TIMEOUT_SECONDS: '1', BATCH_CHECK_INTERVAL_SECONDS: '0.5' };

function fold(report: ConformReport, area: ConformReport['checks'][number]['area'], parts: readonly CheckedPart[]): void {
  for (const p of parts) {
    if (p.skipped) skip(report, area, p.where, p.note ?? 'skipped');
    else record(report, area, p.where, p.differences, p.note);
  }
}

export async function runConform(options: ConformOptions): Promise<ConformReport> {
  const { endpoints, log } = options;
  const cameras = loadFixtures(options.fixturesDir);
  const http = new HsiHttpClient({ apiKey: options.apiKey });
  const headers = http.authHeaders();
  const get = hsiGet(http, endpoints.backendUrl);
  const resolved = await resolveStackDialect(options.dialect, endpoints, http);
  const { dialect } = resolved;
  const source = resolved.reason;
  const report: ConformReport = { schemaVersion: 1, kind: 'conform', backendUrl: endpoints.backendUrl, dialect: dialect.name, dialectSource: source, startedAt: new Date().toISOString(), checks: [], differences: [], notes: [] };
  log(`conform: ${endpoints.backendUrl}, dialect ${dialect.name} (${source})`);
  // The upload first: afterwards the list APIs hold at least its detections and event to check.
  await tracedUploadChecks(report, { ...options, dialect, cameras, headers });
  fold(report, 'api', await apiChecks(get, dialect));
  await storedDlqChecks(report, endpoints, dialect);
  report.finishedAt = new Date().toISOString();
  return report;
}

interface UploadContext extends Omit<ConformOptions, 'dialect'> {
  dialect: HsiDialect;
  cameras: readonly CameraFixtures[];
  headers: Record<string, string>;
}

/** A camera without an open batch, so that the upload opens its own and carries the analysis in its trace. */
async function pickCamera(cameras: readonly CameraFixtures[], redisUrl: string | undefined): Promise<CameraFixtures> {
  if (redisUrl === undefined) return cameras[0]!;
  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 5_000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    for (const c of cameras) if ((await redis.exists(`batch:${c.cameraId}:current`)) === 0) return c;
  } catch {
    // unreadable: the first camera
  } finally {
    redis.disconnect();
  }
  return cameras[0]!;
}

async function tracedUploadChecks(report: ConformReport, ctx: UploadContext): Promise<void> {
  const { endpoints, log } = ctx;
  const settings = await applyExternalSettings(endpoints.backendUrl, { stack: { backend: FAST_BATCH } });
  // Ctrl-C while waiting for the event must not leave the stack with a 1 s batch timeout.
  const unregister = registerTeardown('conform settings rollback', async () => {
    await settings.rollback.restore().catch(() => undefined);
  });
  if (Object.keys(settings.applied).length > 0) log(`conform: batch closes after 1 s idle for this upload (settings restored afterwards)`);
  else report.notes.push(`batch settings not applied (${settings.notApplied[0] ?? 'no settings endpoint'}): waiting for the stack's own batch timeout`);
  const capture = endpoints.redisUrl !== undefined ? new QueueCapture(endpoints.redisUrl) : undefined;
  const events = new EventStreamRecorder({ backendUrl: endpoints.backendUrl, headers: ctx.headers, openTimeoutMs: 3_000 });
  try {
    await capture?.start();
    await events.start();
    const camera = await pickCamera(ctx.cameras, endpoints.redisUrl);
    const file = camera.files[0]!;
    const upload = await sendUpload({ backendUrl: endpoints.backendUrl, cameraId: camera.cameraId, fileName: basename(file), bytes: readFileSync(file), sampled: true, requestSource: 'hsi-chaos-conform' });
    report.upload = { traceId: upload.traceId, cameraId: camera.cameraId, ...(upload.filePath ? { filePath: upload.filePath } : {}) };
    if (!upload.accepted) {
      record(report, 'api', `POST ${uploadPathOf(camera.cameraId)}`, [{ area: 'api', where: `POST ${uploadPathOf(camera.cameraId)}`, what: 'status', expected: '202', seen: `${upload.status}${upload.error ? ` (${upload.error})` : ''}` }]);
      return;
    }
    log(`conform: traced upload ${upload.traceId} (${camera.cameraId}); waiting for its event…`);
    const traces = await awaitEventTrace(new JaegerQueryClient({ baseUrl: endpoints.jaegerUrl }), upload, ctx.eventTimeoutMs ?? 60_000);
    checkTraces(report, traces, upload);
    if (capture?.note !== undefined) skip(report, 'queue', 'Redis work queues', capture.note);
    else if (capture) fold(report, 'queue', queuePayloadChecks(capture.pushes, ctx.dialect));
    else skip(report, 'queue', 'Redis work queues', 'no redisUrl in the stack file');
    await checkBroadcast(report, events, traces);
  } finally {
    capture?.stop();
    events.close();
    unregister();
    const restored = await settings.rollback.restore().catch((error: unknown) => errorMessage(error));
    if (restored) log(restored);
  }
}

/** The upload's trace once it holds `event_creation` (or the timeout), after one more export interval. */
async function awaitEventTrace(jaeger: JaegerQueryClient, upload: UploadRecord, timeoutMs: number): Promise<TraceTree[]> {
  const until = Date.now() + timeoutMs;
  let tree: TraceTree | undefined;
  while (Date.now() < until) {
    tree = await jaeger.getTrace(upload.traceId).catch(() => undefined);
    if (tree?.spans.some((s) => s.name === HSI_SPANS.eventCreation)) break;
    await sleep(1_000);
  }
  await sleep(2_500); // the last spans' export batch
  tree = (await jaeger.getTrace(upload.traceId).catch(() => undefined)) ?? tree;
  return tree ? [tree] : [];
}

function checkTraces(report: ConformReport, traces: readonly TraceTree[], upload: UploadRecord): void {
  const where = `trace ${upload.traceId}`;
  const tree = traces[0];
  if (!tree) {
    record(report, 'spans', where, [{ area: 'spans', where, what: 'the upload trace', expected: 'in Jaeger', seen: 'not found' }]);
    return;
  }
  record(report, 'spans', `${where} (span names and attributes)`, spanTreeDifferences(evaluateSpanTree(tree, hsiUploadTree({ analysisRequired: true })), where));
  const expectations = parseExpectations([{ family: 'propagation', hops: 'hsi', baggage: 'hsi', hsi: { analysisRequired: true } }]);
  const uploads = [{ traceId: upload.traceId, clientSpanId: upload.clientSpanId, sampled: true, status: upload.status, cameraId: upload.cameraId, filePath: upload.filePath, uploadId: upload.uploadId }];
  const results = evaluateExpectations(expectations, { traces, uploads });
  record(report, 'context', `${where} (hops and baggage)`, assertionDifferences('context', results));
}

/** The upload's event reached /ws/events in a valid envelope. */
async function checkBroadcast(report: ConformReport, events: EventStreamRecorder, traces: readonly TraceTree[]): Promise<void> {
  const where = events.path;
  const eventSpan = traces[0]?.spans.find((s) => s.name === HSI_SPANS.eventCreation);
  const batchSpan = traces[0]?.spans.find((s) => s.name === HSI_SPANS.analysisProcessing);
  const batchId = batchSpan?.attributes['batch_id'];
  if (!events.snapshot().subscribed) {
    record(report, 'websocket', where, [{ area: 'websocket', where, what: 'subscription', expected: 'open', seen: events.snapshot().note ?? 'refused' }]);
    return;
  }
  if (!eventSpan || typeof batchId !== 'string') {
    skip(report, 'websocket', where, 'the upload trace holds no event (see spans): broadcast not checked');
    return;
  }
  await events.waitFor([{ batchId }], 2_000);
  const log = events.snapshot();
  const differences: Difference[] = log.receipts.filter((r) => r.problem !== undefined).slice(0, 3).map((r) => ({ area: 'websocket', where, what: `a ${r.form} frame`, expected: 'a valid event message', seen: r.problem! }));
  if (!log.receipts.some((r) => r.events.some((e) => e.batchId === batchId))) differences.push({ area: 'websocket', where, what: `the event of batch ${batchId}`, expected: 'broadcast within 2 s', seen: `not received (${log.receipts.length} frames)` });
  record(report, 'websocket', where, differences);
}

async function storedDlqChecks(report: ConformReport, endpoints: EvidenceEndpoints, dialect: HsiDialect): Promise<void> {
  if (endpoints.redisUrl === undefined) {
    skip(report, 'dlq', 'Redis dead letters', 'no redisUrl in the stack file');
    return;
  }
  const redis = new Redis(endpoints.redisUrl, { lazyConnect: true, connectTimeout: 5_000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const keys = HSI_QUEUE_ROLES.flatMap((role) => dialect.dlqKeys(role).map((k) => k.key));
    const samples: DlqSample[] = await Promise.all(keys.map(async (key) => ({ key, entries: (await redis.type(key)) === 'list' ? await redis.lrange(key, 0, 4) : [] })));
    const parts = dlqChecks(samples, dialect);
    fold(report, 'dlq', parts);
    if (parts.length === 0) skip(report, 'dlq', `Redis ${keys.join(', ')}`, 'no dead letters stored: nothing to check');
  } catch (error) {
    skip(report, 'dlq', 'Redis dead letters', `Redis not readable: ${errorMessage(error)}`);
  } finally {
    redis.disconnect();
  }
}
