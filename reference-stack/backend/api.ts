import { createHash, randomUUID } from 'node:crypto';
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { context, propagation, type Tracer } from '@opentelemetry/api';
import { HttpError, json, multipartFile, readBody, type JsonResponse, type Route, type RouteRequest } from '../common/http.ts';
import { FILE_EXTENSIONS, sniffImageType } from '../common/image.ts';
import { rateLimited, type Logger } from '../common/log.ts';
import { activeTraceId, recordException } from '../telemetry/tracing.ts';
import { cameraNameFromId, DETECTION_COLUMNS, UPSERT_CAMERA_SQL, type Database, type DetectionRow } from './db.ts';
import type { DetectionWorker } from './detection-worker.ts';
import type { DetectorClient } from './detector-client.ts';
import { DETECTION_DLQ, DETECTION_QUEUE, pingRedis, publish, type RedisConnections } from './queue.ts';
import type { BackendSettings } from './settings.ts';

/** HTTP API of the reference backend: the upload front door and the read/health endpoints of HSI. */

export const CAMERA_ID_PATTERN = /^[a-z0-9_]{1,64}$/;
/** HSI's file watcher rejects images under 10 KB. */
export const MIN_IMAGE_BYTES = 10 * 1024;
const PROBE_TIMEOUT_MS = 2000;

export interface ApiState {
  /** Migrations applied, Redis reached, worker started. */
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
  worker: DetectionWorker;
  state: ApiState;
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

export function createRoutes(deps: ApiDeps): Route[] {
  const { settings, tracer, log, db, redis, detector, worker, state } = deps;
  const knownCameras = new Set<string>();
  const allowLog = rateLimited(10_000);

  const notStarted = (): HttpError =>
    new HttpError(503, state.shuttingDown ? 'shutting_down' : 'starting', state.shuttingDown ? 'the backend is shutting down' : 'the backend is still starting');

  /** Best-effort camera upsert (once per camera and process); the worker upserts again in its transaction. */
  const ensureCamera = (cameraId: string): void => {
    if (knownCameras.has(cameraId)) return;
    db.query('INSERT cameras', UPSERT_CAMERA_SQL, [cameraId, cameraNameFromId(cameraId)])
      .then(() => knownCameras.add(cameraId))
      .catch((error: unknown) => {
        if (allowLog('camera-upsert')) log.warn('camera upsert failed (will retry on a later upload)', { camera_id: cameraId, error });
      });
  };

  async function upload({ req, params, span }: RouteRequest): Promise<JsonResponse> {
    const cameraId = params[0] ?? '';
    if (!CAMERA_ID_PATTERN.test(cameraId)) {
      throw new HttpError(400, 'invalid_camera_id', 'camera_id must match ^[a-z0-9_]{1,64}$');
    }
    span.setAttribute('camera.id', cameraId);
    if (!state.started || state.shuttingDown) throw notStarted();
    const contentType = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data\s*;/i.test(contentType)) {
      throw new HttpError(400, 'invalid_content_type', 'expected multipart/form-data with a file field "file"');
    }
    const body = await readBody(req, settings.maxUploadBytes);
    const file = await multipartFile(body, contentType, 'file');
    if (file === undefined) throw new HttpError(400, 'missing_file', 'multipart field "file" is missing or is not a file');
    span.setAttribute('upload.size_bytes', file.length);
    if (file.length < MIN_IMAGE_BYTES) {
      throw new HttpError(422, 'file_too_small', `image of ${file.length} bytes is under the minimum of ${MIN_IMAGE_BYTES} bytes`);
    }
    const type = sniffImageType(file);
    if (type === undefined) throw new HttpError(415, 'unsupported_media_type', 'the file is neither a JPEG nor a PNG');

    const id = randomUUID();
    const dir = join(settings.uploadDir, cameraId);
    const filePath = join(dir, `${id}.${FILE_EXTENSIONS[type]}`);
    await mkdir(dir, { recursive: true });
    await writeFile(filePath, file);
    const fileHash = createHash('sha256').update(file).digest('hex');
    span.setAttributes({ file_path: filePath, 'upload.id': id, 'file.hash': fileHash });

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
    try {
      await context.with(propagation.setBaggage(context.active(), baggage), () =>
        publish(tracer, redis.main, redis.address, DETECTION_QUEUE, message),
      );
    } catch (error) {
      recordException(span, error, 'enqueue failed');
      await unlink(filePath).catch(() => undefined);
      throw new HttpError(503, 'queue_unavailable', `could not enqueue the detection job: ${(error as Error).message}`);
    }
    ensureCamera(cameraId);
    return json(202, { id, camera_id: cameraId, file_path: filePath, status: 'queued', trace_id: activeTraceId() ?? span.spanContext().traceId });
  }

  async function ready(): Promise<JsonResponse> {
    const [database, redisProbe] = await Promise.all([probe(() => db.ping(PROBE_TIMEOUT_MS)), probe(() => pingRedis(redis.main, PROBE_TIMEOUT_MS))]);
    const isReady = state.started && !state.shuttingDown && database.status === 'healthy' && redisProbe.status === 'healthy';
    return json(isReady ? 200 : 503, {
      ready: isReady,
      status: isReady ? 'ready' : state.shuttingDown ? 'shutting_down' : state.started ? 'not_ready' : 'starting',
      services: { database, redis: redisProbe },
      workers: { detection: worker.status() },
      timestamp: new Date().toISOString(),
    });
  }

  async function health(): Promise<JsonResponse> {
    const [database, redisProbe, ai] = await Promise.all([
      probe(() => db.ping(PROBE_TIMEOUT_MS)),
      probe(() => pingRedis(redis.main, PROBE_TIMEOUT_MS)),
      detector.health(PROBE_TIMEOUT_MS + 1000).then(
        (h): ServiceProbe =>
          h.ok
            ? { status: 'healthy', message: 'ok', details: { yolo26: h.body } }
            : { status: 'unhealthy', message: h.error ?? `yolo26 answered HTTP ${h.status ?? '?'}`, details: { yolo26: h.body ?? null } },
      ),
    ]);
    const core = database.status === 'healthy' && redisProbe.status === 'healthy';
    const status = core && ai.status === 'healthy' ? 'healthy' : core ? 'degraded' : 'unhealthy';
    return json(status === 'healthy' ? 200 : 503, {
      status,
      services: { database, redis: redisProbe, ai },
      timestamp: new Date().toISOString(),
    });
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

  async function listDetections({ url }: RouteRequest): Promise<JsonResponse> {
    const limit = intParam(url, 'limit', 50, 1, 1000);
    const offset = intParam(url, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const cameraId = url.searchParams.get('camera_id');
    if (cameraId !== null && cameraId !== '' && !CAMERA_ID_PATTERN.test(cameraId)) {
      throw new HttpError(400, 'invalid_camera_id', 'camera_id must match ^[a-z0-9_]{1,64}$');
    }
    const filter = cameraId !== null && cameraId !== '' ? 'WHERE camera_id = $1' : '';
    const filterValues = filter === '' ? [] : [cameraId];
    const n = filterValues.length;
    try {
      const [rows, count] = await Promise.all([
        db.query<DetectionRow>(
          'SELECT detections',
          `SELECT ${DETECTION_COLUMNS} FROM detections ${filter} ORDER BY detected_at DESC, id DESC LIMIT $${n + 1} OFFSET $${n + 2}`,
          [...filterValues, limit, offset],
        ),
        db.query<{ total: string }>('SELECT detections', `SELECT count(*) AS total FROM detections ${filter}`, filterValues),
      ]);
      const total = Number(count.rows[0]?.total ?? 0);
      const items = rows.rows.map((r) => ({
        ...r,
        id: Number(r.id),
        detected_at: r.detected_at.toISOString(),
        created_at: r.created_at.toISOString(),
      }));
      return json(200, { items, pagination: { total, limit, offset, has_more: offset + items.length < total } });
    } catch (error) {
      throw new HttpError(503, 'database_unavailable', `database query failed: ${(error as Error).message}`);
    }
  }

  async function queueStatus(): Promise<JsonResponse> {
    let depth: number;
    let dlqDepth: number;
    try {
      [depth, dlqDepth] = await Promise.all([redis.main.llen(DETECTION_QUEUE), redis.main.llen(DETECTION_DLQ)]);
    } catch (error) {
      throw new HttpError(503, 'redis_unavailable', `could not read the queues: ${(error as Error).message}`);
    }
    const w = worker.status();
    const level = (value: number, warning: number, critical: number): string =>
      value >= critical ? 'critical' : value >= warning ? 'warning' : 'healthy';
    const queues = [
      { name: 'detection', key: DETECTION_QUEUE, depth, status: level(depth, 100, 500), running: w.busy ? 1 : 0, workers: w.running ? 1 : 0 },
      { name: 'dlq', key: DETECTION_DLQ, depth: dlqDepth, status: level(dlqDepth, 1, 100), running: 0, workers: 0 },
    ];
    const statuses = queues.map((q) => q.status);
    return json(200, {
      queues,
      summary: {
        total_queued: depth,
        total_running: w.busy ? 1 : 0,
        total_workers: w.running ? 1 : 0,
        overall_status: statuses.includes('critical') ? 'critical' : statuses.includes('warning') ? 'warning' : 'healthy',
      },
      lengths: { [DETECTION_QUEUE]: depth, [DETECTION_DLQ]: dlqDepth },
      worker: w,
      timestamp: new Date().toISOString(),
    });
  }

  return [
    { method: 'POST', pattern: /^\/api\/cameras\/([^/]+)\/uploads\/?$/, template: '/api/cameras/{camera_id}/uploads', handler: upload },
    { method: 'GET', pattern: /^\/api\/system\/health\/ready\/?$/, template: '/api/system/health/ready', handler: ready },
    { method: 'GET', pattern: /^\/api\/system\/health\/?$/, template: '/api/system/health', handler: health },
    { method: 'GET', pattern: /^\/api\/detections\/?$/, template: '/api/detections', handler: listDetections },
    { method: 'GET', pattern: /^\/api\/queues\/status\/?$/, template: '/api/queues/status', handler: queueStatus },
  ];
}
