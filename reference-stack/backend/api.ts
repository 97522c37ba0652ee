import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { context, propagation, type Tracer } from '@opentelemetry/api';
import type { QueryResultRow } from 'pg';
import { HSI_ROUTES } from '../../harness/contract/hsi-api.ts';
import { r1 } from '../common/round.ts';
import { HttpError, json, multipartFile, readBody, route, type JsonResponse, type Route, type RouteRequest } from '../common/http.ts';
import { FILE_EXTENSIONS, sniffImageType } from '../common/image.ts';
import { rateLimited, type Logger } from '../common/log.ts';
import { activeTraceId, recordException } from '../telemetry/tracing.ts';
import type { AnalysisJobHandler } from './analysis-worker.ts';
import type { BatchAggregator } from './batch-aggregator.ts';
import {
  cameraNameFromId,
  DETECTION_COLUMNS,
  detectionToJson,
  EVENT_COLUMNS,
  eventToJson,
  UPSERT_CAMERA_SQL,
  type Database,
  type DetectionRow,
  type EventRow,
} from './db.ts';
import type { BackendDefects } from './defects.ts';
import type { DetectionJobHandler } from './detection-worker.ts';
import type { DetectorClient } from './detector-client.ts';
import type { FileWatcher } from './file-watcher.ts';
import type { LlmClient } from './llm-client.ts';
import {
  ANALYSIS_DLQ,
  ANALYSIS_QUEUE,
  DEAD_LETTER_FIELDS,
  DETECTION_DLQ,
  DETECTION_QUEUE,
  DLQ_SOURCES,
  pingRedis,
  publish,
  type RedisConnections,
} from './queue.ts';
import type { QueueWorkerPool } from './queue-worker.ts';
import { decodeCursor, hsiDlqJobs, hsiQueueStatus, hsiRequeue, withCursorPagination } from './api-hsi-current.ts';
import type { EventBroadcaster } from './event-broadcaster.ts';
import type { BackendQueues } from './queue-dialect.ts';
import { liveDefectRoutes } from './live-defects.ts';
import { liveSettingsRoutes } from './live-settings.ts';
import type { BackendSettings } from './settings.ts';

/** HTTP API of the reference backend: the upload front door and the read/health/DLQ endpoints of HSI. */

export const CAMERA_ID_PATTERN = /^[a-z0-9_]{1,64}$/;
/** HSI's file watcher rejects images under 10 KB. */
export const MIN_IMAGE_BYTES = 10 * 1024;
const PROBE_TIMEOUT_MS = 2000;
export const RISK_LEVEL_VALUES = ['low', 'medium', 'high', 'critical'] as const;
/** requeue-all moves at most this many entries per call. */
export const REQUEUE_ALL_LIMIT = 10_000;

export interface ApiState {
  /** Migrations applied, Redis reached, workers started. */
  started: boolean;
  shuttingDown: boolean;
}

export interface ApiDeps {
  settings: BackendSettings;
  tracer: Tracer;
  log: Logger;
  db: Database;
  redis: RedisConnections;
  detector: DetectorClient;
  llm: LlmClient;
  detectionWorkers: QueueWorkerPool;
  analysisWorkers: QueueWorkerPool;
  detectionHandler: DetectionJobHandler;
  analysisHandler: AnalysisJobHandler;
  batches: BatchAggregator;
  fileWatcher: FileWatcher;
  defects: BackendDefects;
  state: ApiState;
  /** Keys, payload form and dead-letter shape of the profile. */
  queues: BackendQueues;
  /** Profile hsi-current: events go out over Redis pub/sub and batched /ws/events messages. */
  broadcaster?: EventBroadcaster;
}

interface ServiceProbe {
  status: 'healthy' | 'unhealthy';
  message: string;
  latency_ms?: number;
  details?: unknown;
}

async function probe(run: () => Promise<void>): Promise<ServiceProbe> {
  const started = performance.now();
  try {
    await run();
    return { status: 'healthy', message: 'ok', latency_ms: Math.round((performance.now() - started) * 10) / 10 };
  } catch (error) {
    return { status: 'unhealthy', message: (error as Error).message ?? String(error) };
  }
}

// Moves up to ARGV[1] entries from the DLQ (KEYS[1]) to its queue (KEYS[2]) atomically, oldest
// first, without the dead-letter fields (ARGV[2..]). Entries that are not JSON objects stay.
const REQUEUE_SCRIPT = `
local moved = {}
local max = tonumber(ARGV[1])
local skipped = 0
for n = 1, max do
  local raw = redis.call('LINDEX', KEYS[1], 0)
  if not raw then break end
  local ok, entry = pcall(cjson.decode, raw)
  if not ok or type(entry) ~= 'table' then
    skipped = skipped + 1
    break
  end
  redis.call('LPOP', KEYS[1])
  for i = 2, #ARGV do entry[ARGV[i]] = nil end
  local body = cjson.encode(entry)
  redis.call('RPUSH', KEYS[2], body)
  moved[#moved + 1] = body
end
return {skipped, moved}
`;

/** `dlq:detection_queue`, `detection_queue`, ... → the DLQ key, or a 400. */
export function dlqKeyFor(name: string): string {
  const key = name.startsWith('dlq:') ? name : `dlq:${name}`;
  if (DLQ_SOURCES[key] === undefined) {
    throw new HttpError(400, 'invalid_queue', `unknown dead-letter queue "${name}"; use ${Object.keys(DLQ_SOURCES).join(' or ')}`);
  }
  return key;
}

/** A 503 while the backend starts or shuts down. */
function notStarted(state: ApiDeps['state']): HttpError {
  return new HttpError(503, state.shuttingDown ? 'shutting_down' : 'starting', state.shuttingDown ? 'the backend is shutting down' : 'the backend is still starting');
}

function workersStatus(deps: ApiDeps) {
  return { detection: deps.detectionWorkers.status(), analysis: deps.analysisWorkers.status() };
}

function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new HttpError(400, 'invalid_parameter', `${name} must be an integer between ${min} and ${max}`);
  }
  return value;
}

function textParam(url: URL, name: string): string | undefined {
  const raw = url.searchParams.get(name);
  return raw === null || raw === '' ? undefined : raw;
}

function dateParam(url: URL, name: string): Date | undefined {
  const raw = textParam(url, name);
  if (raw === undefined) return undefined;
  const t = Date.parse(raw);
  if (!Number.isFinite(t)) throw new HttpError(400, 'invalid_parameter', `${name} must be an ISO 8601 date or date-time`);
  return new Date(t);
}

function cameraParam(url: URL): string | undefined {
  const cameraId = textParam(url, 'camera_id');
  if (cameraId !== undefined && !CAMERA_ID_PATTERN.test(cameraId)) {
    throw new HttpError(400, 'invalid_camera_id', 'camera_id must match ^[a-z0-9_]{1,64}$');
  }
  return cameraId;
}

/** `WHERE a = $1 AND b = $2` from the given conditions. */
function where(conditions: [string, unknown][]): { sql: string; values: unknown[] } {
  const values = conditions.map(([, v]) => v);
  const sql = conditions.length === 0 ? '' : `WHERE ${conditions.map(([c], i) => c.replace('?', `$${i + 1}`)).join(' AND ')}`;
  return { sql, values };
}

async function dbRead<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(503, 'database_unavailable', `database query failed: ${(error as Error).message}`);
  }
}

async function redisRead(read: () => Promise<JsonResponse>): Promise<JsonResponse> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(503, 'redis_unavailable', `could not read Redis: ${(error as Error).message}`);
  }
}

/** One page of a table, newest first, with the contract's pagination block. */
function page<Row extends QueryResultRow>(
  db: Database,
  table: 'detections' | 'events',
  columns: string,
  newestFirstBy: string,
  conditions: [string, unknown][],
  { limit, offset }: { limit: number; offset: number },
  toJson: (row: Row) => unknown,
): Promise<JsonResponse> {
  const filter = where(conditions);
  const n = filter.values.length;
  return dbRead(async () => {
    const [rows, count] = await Promise.all([
      db.query<Row>(`SELECT ${table}`, `SELECT ${columns} FROM ${table} ${filter.sql} ORDER BY ${newestFirstBy} DESC, id DESC LIMIT $${n + 1} OFFSET $${n + 2}`, [
        ...filter.values,
        limit,
        offset,
      ]),
      db.query<{ total: string }>(`SELECT ${table}`, `SELECT count(*) AS total FROM ${table} ${filter.sql}`, filter.values),
    ]);
    const total = Number(count.rows[0]?.total ?? 0);
    const items = rows.rows.map(toJson);
    return json(200, { items, pagination: { total, limit, offset, has_more: offset + items.length < total } });
  });
}

/** Best-effort camera upsert (once per camera and process); the worker upserts again in its transaction. */
function cameraUpserter(deps: ApiDeps): (cameraId: string) => void {
  const { db, log } = deps;
  const knownCameras = new Set<string>();
  const allowLog = rateLimited(10_000);
  return (cameraId: string): void => {
    if (knownCameras.has(cameraId)) return;
    db.query('INSERT cameras', UPSERT_CAMERA_SQL, [cameraId, cameraNameFromId(cameraId)])
      .then(() => knownCameras.add(cameraId))
      .catch((error: unknown) => {
        if (allowLog('camera-upsert')) log.warn('camera upsert failed (will retry on a later upload)', { camera_id: cameraId, error });
      });
  };
}

/**
 * Stores uploads: each camera's folder made once (again if it went away), the file written in
 * one synchronous call (a page-cache copy of ~0.1 ms for the fixture images). Through
 * fs/promises it was four thread-pool round trips (mkdir, open, write, close), each waiting for
 * a CPU on a loaded machine: the store took up to 340 ms at load 9 while the same upload's
 * receive, parse and hash took under 1 ms, and it set the upload answer's p95 (docs/replay.md).
 */
class UploadStore {
  private readonly dirs = new Set<string>();

  store(dir: string, filePath: string, file: Buffer): void {
    if (!this.dirs.has(dir)) this.makeDir(dir);
    try {
      writeFileSync(filePath, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.makeDir(dir);
      writeFileSync(filePath, file);
    }
  }

  private makeDir(dir: string): void {
    mkdirSync(dir, { recursive: true });
    this.dirs.add(dir);
  }
}

/** The upload's image from its multipart body, checked (content type, size, JPEG/PNG); the span says how long receiving and parsing took. */
async function uploadedImage(req: RouteRequest['req'], span: RouteRequest['span'], maxBytes: number): Promise<{ file: Buffer; type: NonNullable<ReturnType<typeof sniffImageType>> }> {
  const contentType = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\s*;/i.test(contentType)) {
    throw new HttpError(400, 'invalid_content_type', 'expected multipart/form-data with a file field "file"');
  }
  const receivedAt = performance.now();
  const body = await readBody(req, maxBytes);
  const parsedAt = performance.now();
  const file = await multipartFile(body, contentType, 'file');
  span.setAttributes({ 'upload.receive_ms': r1(parsedAt - receivedAt), 'upload.parse_ms': r1(performance.now() - parsedAt) });
  if (file === undefined) throw new HttpError(400, 'missing_file', 'multipart field "file" is missing or is not a file');
  span.setAttribute('upload.size_bytes', file.length);
  if (file.length < MIN_IMAGE_BYTES) {
    throw new HttpError(422, 'file_too_small', `image of ${file.length} bytes is under the minimum of ${MIN_IMAGE_BYTES} bytes`);
  }
  const type = sniffImageType(file);
  if (type === undefined) throw new HttpError(415, 'unsupported_media_type', 'the file is neither a JPEG nor a PNG');
  return { file, type };
}

/** POST /api/cameras/{camera_id}/uploads: store the image, enqueue the detection job with the trace context and baggage. */
function uploadHandler(deps: ApiDeps): Route['handler'] {
  const { settings, tracer, log, redis, state, defects } = deps;
  const ensureCamera = cameraUpserter(deps);
  const uploads = new UploadStore();
  return async function upload({ req, params, span }: RouteRequest): Promise<JsonResponse> {
    const cameraId = params[0] ?? '';
    if (!CAMERA_ID_PATTERN.test(cameraId)) {
      throw new HttpError(400, 'invalid_camera_id', 'camera_id must match ^[a-z0-9_]{1,64}$');
    }
    span.setAttributes({ 'camera.id': cameraId, camera_id: cameraId });
    if (!state.started || state.shuttingDown) throw notStarted(state);
    const { file, type } = await uploadedImage(req, span, settings.maxUploadBytes);

    const id = randomUUID();
    const dir = join(settings.uploadDir, cameraId);
    const filePath = join(dir, `${id}.${FILE_EXTENSIONS[type]}`);
    const storeAt = performance.now();
    uploads.store(dir, filePath, file);
    const hashAt = performance.now();
    const fileHash = createHash('sha256').update(file).digest('hex');
    // where a slow upload answer spent its time (docs/replay.md: the few-ms upload answer's p95)
    span.setAttributes({ file_path: filePath, 'upload.id': id, 'file.hash': fileHash, 'upload.store_ms': r1(hashAt - storeAt), 'upload.hash_ms': r1(performance.now() - hashAt) });

    // Baggage of the contract, carried to the worker and the detector with the trace context.
    const incoming = propagation.getBaggage(context.active()) ?? propagation.createBaggage();
    let baggage = incoming.setEntry('camera.id', { value: cameraId });
    if (baggage.getEntry('request.source') === undefined) baggage = baggage.setEntry('request.source', { value: 'upload_api' });

    const now = new Date().toISOString();
    const message = {
      camera_id: cameraId,
      file_path: filePath,
      timestamp: now,
      media_type: 'image',
      pipeline_start_time: now,
      file_hash: fileHash,
    };
    const enqueue = (): Promise<unknown> =>
      context.with(propagation.setBaggage(context.active(), baggage), () =>
        publish(tracer, redis.main, redis.address, deps.queues.target('detection'), message, !defects.queueNoTraceContext, { camera_id: cameraId, file_path: filePath }),
      );
    const traceId = activeTraceId() ?? span.spanContext().traceId;
    if (defects.ackBeforeStore) {
      // DEFECT: answer first, store afterwards; a failed push is only logged (the upload is lost).
      const ctx = context.active();
      setImmediate(() => {
        context.with(ctx, () =>
          enqueue().catch((error: unknown) => {
            log.error('enqueue after 202 failed; the upload is lost', { error, file_path: filePath, upload_id: id });
          }),
        );
      });
      ensureCamera(cameraId);
      return json(202, { id, camera_id: cameraId, file_path: filePath, status: 'queued', trace_id: traceId });
    }
    try {
      await enqueue();
    } catch (error) {
      recordException(span, error, 'enqueue failed');
      await unlink(filePath).catch(() => undefined);
      throw new HttpError(503, 'queue_unavailable', `could not enqueue the detection job: ${(error as Error).message}`);
    }
    ensureCamera(cameraId);
    return json(202, { id, camera_id: cameraId, file_path: filePath, status: 'queued', trace_id: traceId });
  }
}

/** Readiness and health: the database, Redis and the AI services with the detector's breaker. */
function healthHandlers(deps: ApiDeps) {
  const { db, redis, detector, llm, state } = deps;
  async function ready(): Promise<JsonResponse> {
    const [database, redisProbe] = await Promise.all([probe(() => db.ping(PROBE_TIMEOUT_MS)), probe(() => pingRedis(redis.main, PROBE_TIMEOUT_MS))]);
    const isReady = state.started && !state.shuttingDown && database.status === 'healthy' && redisProbe.status === 'healthy';
    return json(isReady ? 200 : 503, {
      ready: isReady,
      status: isReady ? 'ready' : state.shuttingDown ? 'shutting_down' : state.started ? 'not_ready' : 'starting',
      services: { database, redis: redisProbe },
      workers: workersStatus(deps),
      timestamp: new Date().toISOString(),
    });
  }

  async function aiProbe(): Promise<ServiceProbe> {
    const [yolo, nemotron] = await Promise.all([detector.health(PROBE_TIMEOUT_MS + 1000), llm.health(PROBE_TIMEOUT_MS + 1000)]);
    const breaker = detector.breaker.snapshot();
    const problems: string[] = [];
    if (!yolo.ok) problems.push(`yolo26: ${yolo.error ?? `HTTP ${yolo.status ?? '?'}`}`);
    if (!nemotron.ok) problems.push(`nemotron: ${nemotron.error ?? `HTTP ${nemotron.status ?? '?'}`}`);
    if (breaker.state === 'open') problems.push('yolo26 circuit breaker open');
    return {
      status: problems.length === 0 ? 'healthy' : 'unhealthy',
      message: problems.length === 0 ? 'ok' : problems.join('; '),
      details: {
        yolo26: yolo.body ?? null,
        nemotron: nemotron.body ?? null,
        services: { yolo26: yolo.ok ? 'healthy' : 'unhealthy', nemotron: nemotron.ok ? 'healthy' : 'unhealthy' },
        circuit_breaker: breaker,
      },
    };
  }

  async function health(): Promise<JsonResponse> {
    const [database, redisProbe, ai] = await Promise.all([
      probe(() => db.ping(PROBE_TIMEOUT_MS)),
      probe(() => pingRedis(redis.main, PROBE_TIMEOUT_MS)),
      aiProbe(),
    ]);
    const core = database.status === 'healthy' && redisProbe.status === 'healthy';
    const status = core && ai.status === 'healthy' ? 'healthy' : core ? 'degraded' : 'unhealthy';
    return json(status === 'healthy' ? 200 : 503, {
      status,
      services: { database, redis: redisProbe, ai },
      timestamp: new Date().toISOString(),
    });
  }

  return { ready, health };
}

/** The GPU figures (from the detector's health) and the circuit breakers. */
function gpuHandlers(deps: ApiDeps) {
  const { settings, detector } = deps;
  async function gpu(): Promise<JsonResponse> {
    const h = await detector.health(PROBE_TIMEOUT_MS);
    const body = (h.ok && typeof h.body === 'object' && h.body !== null ? h.body : {}) as Record<string, unknown>;
    const vram = typeof body['vram_used_gb'] === 'number' ? body['vram_used_gb'] : null;
    const emulated = body['emulated'] === true || body['device'] === 'cpu-emulated';
    if (settings.profile === 'hsi-current') {
      // The real HSI's field names (utilization, power_usage); no GPU here: nulls.
      return json(200, { utilization: null, memory_used: vram === null ? null : Math.round(vram * 1024), memory_total: null, temperature: null, power_usage: null, inference_fps: h.ok ? detector.inferenceRate() : null, emulated, gpu_name: null, timestamp: new Date().toISOString() });
    }
    return json(200, {
      gpu_utilization: null,
      // MB, as HSI reports it; from the detector's vram_used_gb (0 for the emulator).
      memory_used: vram === null ? null : Math.round(vram * 1024),
      memory_total: null,
      temperature: null,
      // Successful detector inferences per second over the last 10 s, as this backend saw them.
      inference_fps: h.ok ? detector.inferenceRate() : null,
      emulated,
      gpu_name: null,
      timestamp: new Date().toISOString(),
    });
  }

  async function circuitBreakers(): Promise<JsonResponse> {
    const breaker = detector.breaker.snapshot();
    return json(200, {
      circuit_breakers: { [breaker.name]: breaker },
      total_count: 1,
      open_count: breaker.state === 'open' ? 1 : 0,
      timestamp: new Date().toISOString(),
    });
  }

  return { gpu, circuitBreakers };
}

/** The detections and events APIs (offset pages; profile hsi-current also by cursor). */
function readHandlers(deps: ApiDeps) {
  const { settings, db } = deps;
  async function listDetections({ url }: RouteRequest): Promise<JsonResponse> {
    const limit = intParam(url, 'limit', 50, 1, 1000);
    const offset = intParam(url, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const conditions: [string, unknown][] = [];
    const cameraId = cameraParam(url);
    if (cameraId !== undefined) conditions.push(['camera_id = ?', cameraId]);
    const filePath = textParam(url, 'file_path');
    if (filePath !== undefined) conditions.push(['file_path = ?', filePath]);
    const traceId = textParam(url, 'trace_id');
    if (traceId !== undefined) conditions.push(['trace_id = ?', traceId.toLowerCase()]);
    return listPage(url, (from) => page<DetectionRow>(db, 'detections', DETECTION_COLUMNS, 'detected_at', conditions, { limit, offset: from }, detectionToJson), offset);
  }

  async function listEvents({ url }: RouteRequest): Promise<JsonResponse> {
    const limit = intParam(url, 'limit', 50, 1, 1000);
    const offset = intParam(url, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const conditions: [string, unknown][] = [];
    const cameraId = cameraParam(url);
    if (cameraId !== undefined) conditions.push(['camera_id = ?', cameraId]);
    const riskLevel = textParam(url, 'risk_level')?.toLowerCase();
    if (riskLevel !== undefined) {
      if (!(RISK_LEVEL_VALUES as readonly string[]).includes(riskLevel)) {
        throw new HttpError(400, 'invalid_parameter', `risk_level must be one of ${RISK_LEVEL_VALUES.join(', ')}`);
      }
      conditions.push(['risk_level = ?', riskLevel]);
    }
    const start = dateParam(url, 'start_date');
    if (start !== undefined) conditions.push(['started_at >= ?', start]);
    const end = dateParam(url, 'end_date');
    if (end !== undefined) conditions.push(['started_at <= ?', end]);
    const batchId = textParam(url, 'batch_id');
    if (batchId !== undefined) conditions.push(['batch_id = ?', batchId]);
    const traceId = textParam(url, 'trace_id');
    if (traceId !== undefined) conditions.push(['trace_id = ?', traceId.toLowerCase()]);
    return listPage(url, (from) => page<EventRow>(db, 'events', EVENT_COLUMNS, 'started_at', conditions, { limit, offset: from }, eventToJson), offset);
  }

  /** One page from `offset`; profile hsi-current also pages by `cursor` and answers the cursor fields. */
  async function listPage(url: URL, read: (offset: number) => Promise<JsonResponse>, offset: number): Promise<JsonResponse> {
    if (settings.profile !== 'hsi-current') return read(offset);
    const cursor = textParam(url, 'cursor');
    return withCursorPagination(await read(cursor !== undefined ? decodeCursor(cursor) : offset), cursor, url.searchParams.has('offset'));
  }

  async function getEvent({ params }: RouteRequest): Promise<JsonResponse> {
    const id = Number(params[0]);
    if (!Number.isSafeInteger(id) || id < 1) throw new HttpError(400, 'invalid_parameter', 'event id must be a positive integer');
    return dbRead(async () => {
      const result = await db.query<EventRow>('SELECT events', `SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1`, [id]);
      const row = result.rows[0];
      if (row === undefined) throw new HttpError(404, 'not_found', `event ${id} does not exist`);
      const detections = await db.query<DetectionRow>(
        'SELECT detections',
        `SELECT ${DETECTION_COLUMNS.split(', ').map((c) => `d.${c}`).join(', ')}
         FROM event_detections ed JOIN detections d ON d.id = ed.detection_id WHERE ed.event_id = $1 ORDER BY d.detected_at, d.id`,
        [id],
      );
      return json(200, { ...eventToJson(row), detections: detections.rows.map(detectionToJson) });
    });
  }

  return { listDetections, listEvents, getEvent };
}

/** Queue status and dead-letter counts. */
function queueHandlers(deps: ApiDeps) {
  const { settings, redis, detector } = deps;
  async function queueLengths(): Promise<Record<string, number>> {
    const q = deps.queues;
    const keys = [q.key('detection'), q.key('analysis'), q.dlq('detection'), q.dlq('analysis')];
    try {
      const lengths = await Promise.all(keys.map((k) => redis.main.llen(k)));
      return Object.fromEntries(keys.map((k, i) => [k, lengths[i] ?? 0]));
    } catch (error) {
      throw new HttpError(503, 'redis_unavailable', `could not read the queues: ${(error as Error).message}`);
    }
  }

  async function queueStatus(): Promise<JsonResponse> {
    if (settings.profile === 'hsi-current') {
      const throughput = { detection: deps.detectionWorkers.throughput, analysis: deps.analysisWorkers.throughput };
      return redisRead(() => hsiQueueStatus({ redis: redis.main, queues: deps.queues, workers: workersStatus(deps), throughput }));
    }
    const lengths = await queueLengths();
    const w = workersStatus(deps);
    const level = (value: number, warning: number, critical: number): string =>
      value >= critical ? 'critical' : value >= warning ? 'warning' : 'healthy';
    const depth = (k: string): number => lengths[k] ?? 0;
    const queues = [
      { name: 'detection', key: DETECTION_QUEUE, depth: depth(DETECTION_QUEUE), status: level(depth(DETECTION_QUEUE), 100, 500), running: w.detection.busy_workers, workers: w.detection.running ? w.detection.workers : 0 },
      { name: 'analysis', key: ANALYSIS_QUEUE, depth: depth(ANALYSIS_QUEUE), status: level(depth(ANALYSIS_QUEUE), 50, 200), running: w.analysis.busy_workers, workers: w.analysis.running ? w.analysis.workers : 0 },
      { name: 'dlq', key: DETECTION_DLQ, depth: depth(DETECTION_DLQ), status: level(depth(DETECTION_DLQ), 1, 100), running: 0, workers: 0 },
      { name: 'dlq_analysis', key: ANALYSIS_DLQ, depth: depth(ANALYSIS_DLQ), status: level(depth(ANALYSIS_DLQ), 1, 100), running: 0, workers: 0 },
    ];
    const statuses = queues.map((q) => q.status);
    const breaker = detector.breaker.snapshot();
    return json(200, {
      queues,
      summary: {
        total_queued: depth(DETECTION_QUEUE) + depth(ANALYSIS_QUEUE),
        total_running: w.detection.busy_workers + w.analysis.busy_workers,
        total_workers: (w.detection.running ? w.detection.workers : 0) + (w.analysis.running ? w.analysis.workers : 0),
        overall_status: statuses.includes('critical') ? 'critical' : statuses.includes('warning') ? 'warning' : 'healthy',
      },
      lengths,
      worker: w.detection,
      workers: w,
      pipeline: {
        batch_failures: deps.detectionHandler.batchFailures,
        events_created: deps.analysisHandler.counters.events,
        llm_fallbacks: deps.analysisHandler.counters.fallbacks,
        duplicate_batches: deps.analysisHandler.counters.duplicates,
      },
      batches: deps.batches.status(),
      file_watcher: deps.fileWatcher.status(),
      circuit_breakers: { [breaker.name]: breaker },
      timestamp: new Date().toISOString(),
    });
  }

  async function dlqStats(): Promise<JsonResponse> {
    const lengths = await queueLengths();
    const detection = lengths[DETECTION_DLQ] ?? 0;
    const analysis = lengths[ANALYSIS_DLQ] ?? 0;
    return json(200, { detection_queue_count: detection, analysis_queue_count: analysis, total_count: detection + analysis });
  }

  return { queueLengths, queueStatus, dlqStats };
}

/** Reading the dead-letter queues. */
function dlqReadHandlers(deps: ApiDeps) {
  const { settings, redis } = deps;
  async function dlqJobs({ params, url }: RouteRequest): Promise<JsonResponse> {
    const key = dlqKeyFor(params[0] ?? '');
    const start = intParam(url, settings.profile === 'hsi-current' && url.searchParams.has('offset') ? 'offset' : 'start', 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(url, 'limit', 100, 1, 1000);
    if (settings.profile === 'hsi-current') return redisRead(() => hsiDlqJobs(redis.main, key, start, limit));
    let raws: string[];
    let total: number;
    try {
      [raws, total] = await Promise.all([redis.main.lrange(key, start, start + limit - 1), redis.main.llen(key)]);
    } catch (error) {
      throw new HttpError(503, 'redis_unavailable', `could not read ${key}: ${(error as Error).message}`);
    }
    const jobs = raws.map((raw) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return { original_job: { raw }, error: 'unparseable DLQ entry', error_code: null, attempt_count: 0, failed_at: null, queue_name: DLQ_SOURCES[key] };
      }
      const original = Object.fromEntries(Object.entries(entry).filter(([k]) => !(DEAD_LETTER_FIELDS as readonly string[]).includes(k)));
      return {
        original_job: original,
        error: entry['error'] ?? null,
        error_code: entry['error_code'] ?? null,
        attempt_count: entry['attempts'] ?? 0,
        failed_at: entry['failed_at'] ?? null,
        queue_name: entry['queue'] ?? DLQ_SOURCES[key],
      };
    });
    return json(200, { queue_name: key, jobs, count: jobs.length, total, start, limit, has_more: start + jobs.length < total });
  }

  return { dlqJobs };
}

/** Requeueing and clearing dead letters. */
function dlqWriteHandlers(deps: ApiDeps) {
  const { settings, log, redis } = deps;
  async function requeue(key: string, max: number): Promise<{ moved: number; skipped: number }> {
    const target = deps.queues.dlqSources()[key] ?? '';
    try {
      const reply = (await redis.main.eval(REQUEUE_SCRIPT, 2, key, target, String(max), ...DEAD_LETTER_FIELDS)) as [number, string[]];
      return { skipped: Number(reply[0]), moved: reply[1].length };
    } catch (error) {
      throw new HttpError(503, 'redis_unavailable', `could not requeue from ${key}: ${(error as Error).message}`);
    }
  }

  async function dlqRequeue({ params }: RouteRequest): Promise<JsonResponse> {
    const key = dlqKeyFor(params[0] ?? '');
    if (settings.profile === 'hsi-current') return redisRead(() => hsiRequeue(redis.main, deps.queues, key));
    const { moved, skipped } = await requeue(key, 1);
    if (moved === 0 && skipped === 0) return json(404, { success: false, message: `${key} is empty`, requeued_count: 0 });
    if (moved === 0) throw new HttpError(409, 'unparseable_entry', `the oldest entry of ${key} is not a JSON object; delete it with DELETE /api/dlq/${key}`);
    log.info('dead-letter requeued', { queue: key, target: DLQ_SOURCES[key], count: 1 });
    return json(200, { success: true, message: `requeued 1 job from ${key} to ${DLQ_SOURCES[key]}`, requeued_count: 1 });
  }

  async function dlqRequeueAll({ params }: RouteRequest): Promise<JsonResponse> {
    const key = dlqKeyFor(params[0] ?? '');
    if (settings.profile === 'hsi-current') throw new HttpError(404, 'not_found', 'requeue-all is not a route of the real HSI (profile hsi-current)');
    let total = 0;
    let blocked = false;
    while (total < REQUEUE_ALL_LIMIT) {
      const { moved, skipped } = await requeue(key, Math.min(100, REQUEUE_ALL_LIMIT - total));
      total += moved;
      if (skipped > 0) blocked = true;
      if (moved === 0 || skipped > 0) break;
    }
    log.info('dead-letters requeued', { queue: key, target: DLQ_SOURCES[key], count: total });
    return json(200, {
      success: true,
      message: `requeued ${total} job(s) from ${key} to ${DLQ_SOURCES[key]}${blocked ? '; stopped at an entry that is not a JSON object' : ''}`,
      requeued_count: total,
    });
  }

  async function dlqClear({ params }: RouteRequest): Promise<JsonResponse> {
    const key = dlqKeyFor(params[0] ?? '');
    try {
      const [[, length], [, deleted]] = (await redis.main.multi().llen(key).del(key).exec()) as [[Error | null, number], [Error | null, number]];
      log.info('dead-letter queue cleared', { queue: key, count: length });
      return json(200, { success: true, message: `cleared ${length} job(s) from ${key}`, deleted_count: deleted === 0 ? 0 : length });
    } catch (error) {
      throw new HttpError(503, 'redis_unavailable', `could not clear ${key}: ${(error as Error).message}`);
    }
  }

  return { dlqRequeue, dlqRequeueAll, dlqClear };
}

export function createRoutes(deps: ApiDeps): Route[] {
  const { settings, log, defects } = deps;
  const upload = uploadHandler(deps);
  const { ready, health } = healthHandlers(deps);
  const { gpu, circuitBreakers } = gpuHandlers(deps);
  const { listDetections, listEvents, getEvent } = readHandlers(deps);
  const { queueStatus, dlqStats } = queueHandlers(deps);
  const { dlqJobs } = dlqReadHandlers(deps);
  const { dlqRequeue, dlqRequeueAll, dlqClear } = dlqWriteHandlers(deps);
  return [
    route('POST', HSI_ROUTES.upload, upload),
    route('GET', HSI_ROUTES.healthReady, ready),
    route('GET', HSI_ROUTES.systemHealth, health),
    route('GET', HSI_ROUTES.systemGpu, gpu),
    route('GET', HSI_ROUTES.circuitBreakers, circuitBreakers),
    route('GET', HSI_ROUTES.detections, listDetections),
    route('GET', HSI_ROUTES.events, listEvents),
    route('GET', HSI_ROUTES.event, getEvent),
    route('GET', HSI_ROUTES.queueStatus, queueStatus),
    route('GET', HSI_ROUTES.dlqStats, dlqStats),
    route('GET', HSI_ROUTES.dlqJobs, dlqJobs),
    route('POST', HSI_ROUTES.dlqRequeue, dlqRequeue),
    route('POST', HSI_ROUTES.dlqRequeueAll, dlqRequeueAll),
    route('DELETE', HSI_ROUTES.dlqClear, dlqClear),
    ...liveSettingsRoutes(settings, (answer) => log.warn('settings changed at run time', { applied: answer.applied, previous: answer.previous, not_applied: answer.not_applied })),
    ...liveDefectRoutes(defects, (answer) => log.warn('defect switches changed at run time', { active: answer.active, previous: answer.previous })),
  ];
}
