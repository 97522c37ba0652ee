import type { Redis } from 'ioredis';
import { parseStoredDlqEntry } from '../../harness/contract/dlq-entry.ts';
import { decodePayload } from '../../harness/contract/payload-codec.ts';
import { HttpError, json, type JsonResponse } from '../common/http.ts';
import type { BackendQueues } from './queue-dialect.ts';
import type { ThroughputWindow, WorkerPoolStatus } from './queue-worker.ts';

/**
 * Profile hsi-current's API shapes where the real HSI differs from the reference stack:
 * cursor pagination of events, queue status (`detection`, `ai_analysis`, `dlq` with throughput
 * and the oldest job), the DLQ listing `{queue_name, items, pagination}` of nested entries, and
 * the requeue `{success, message, job}` (200 even when the DLQ is empty).
 */

const DEPRECATION_WARNING = 'Offset pagination is deprecated; use the cursor parameter (pagination.next_cursor).';

export function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64url');
}

/** The offset a `cursor` stands for; 400 for a cursor this server did not issue. */
export function decodeCursor(cursor: string): number {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { offset?: unknown };
    if (typeof value.offset === 'number' && Number.isSafeInteger(value.offset) && value.offset >= 0) return value.offset;
  } catch {
    // fall through
  }
  throw new HttpError(400, 'invalid_cursor', 'cursor is not valid (pass pagination.next_cursor of the previous page)');
}

/** Adds `cursor`, `next_cursor` and, when the caller paged by offset, `deprecation_warning` to a page answer. */
export function withCursorPagination(response: JsonResponse, cursor: string | undefined, usedOffset: boolean): JsonResponse {
  const body = response.body as { items: unknown[]; pagination: { total: number; limit: number; offset: number; has_more: boolean } };
  const p = body.pagination;
  const pagination = { ...p, cursor: cursor ?? null, next_cursor: p.has_more ? encodeCursor(p.offset + body.items.length) : null };
  return { ...response, body: { ...body, pagination, ...(usedOffset ? { deprecation_warning: DEPRECATION_WARNING } : {}) } };
}

/** The oldest job of a queue: its age from the payload's `timestamp` (ISO or epoch seconds). */
async function oldestJob(redis: Redis, key: string): Promise<{ queued_at: string; wait_seconds: number } | null> {
  const raw = await redis.lindex(key, 0);
  if (raw === null) return null;
  const decoded = decodePayload(raw);
  if (!decoded.ok || typeof decoded.value !== 'object' || decoded.value === null) return null;
  const ts = (decoded.value as { timestamp?: unknown }).timestamp;
  const at = typeof ts === 'number' ? ts * 1000 : typeof ts === 'string' ? Date.parse(ts) : Number.NaN;
  if (!Number.isFinite(at)) return null;
  return { queued_at: new Date(at).toISOString(), wait_seconds: Math.max(0, Math.round(Date.now() - at) / 1000) };
}

export interface HsiQueueStatusInput {
  redis: Redis;
  queues: BackendQueues;
  workers: { detection: WorkerPoolStatus; analysis: WorkerPoolStatus };
  throughput: { detection: ThroughputWindow; analysis: ThroughputWindow };
}

/** `GET /api/queues/status` as the real HSI answers it. */
export async function hsiQueueStatus(input: HsiQueueStatusInput): Promise<JsonResponse> {
  const { redis, queues, workers, throughput } = input;
  const names = queues.dialect.queueStatusNames;
  const dlqKeys = [queues.dlq('detection'), queues.dlq('analysis'), queues.overflow('detection'), queues.overflow('analysis')];
  const [detection, analysis, ...dlqDepths] = await Promise.all([queues.key('detection'), queues.key('analysis'), ...dlqKeys].map((k) => redis.llen(k)));
  const [oldestDetection, oldestAnalysis] = await Promise.all([oldestJob(redis, queues.key('detection')), oldestJob(redis, queues.key('analysis'))]);
  const dlqDepth = dlqDepths.reduce((a, b) => a + b, 0);
  const entry = (name: string, depth: number, w: WorkerPoolStatus | undefined, t: ThroughputWindow | undefined, oldest: unknown) => ({
    name,
    status: depth >= 500 ? 'critical' : depth >= 100 ? 'warning' : 'healthy',
    depth,
    running: w?.busy_workers ?? 0,
    workers: w?.running ? w.workers : 0,
    throughput: t?.snapshot() ?? { jobs_per_minute: 0, avg_processing_seconds: 0 },
    oldest_job: oldest,
    // Not an HSI field: jobs the worker logged and dropped (the real HSI only logs them).
    ...(w !== undefined ? { dropped: w.dropped } : {}),
  });
  const list = [
    entry(names.detection, detection ?? 0, workers.detection, throughput.detection, oldestDetection),
    entry(names.analysis, analysis ?? 0, workers.analysis, throughput.analysis, oldestAnalysis),
    entry(names.dlq[0] ?? 'dlq', dlqDepth, undefined, undefined, null),
  ];
  const statuses = list.map((q) => q.status);
  return json(200, {
    queues: list,
    summary: {
      total_queued: (detection ?? 0) + (analysis ?? 0),
      total_running: workers.detection.busy_workers + workers.analysis.busy_workers,
      total_workers: list.reduce((n, q) => n + q.workers, 0),
      overall_status: statuses.includes('critical') ? 'critical' : statuses.includes('warning') ? 'warning' : 'healthy',
    },
    dlq_keys: Object.fromEntries(dlqKeys.map((k, i) => [k, dlqDepths[i] ?? 0])),
  });
}

/** `GET /api/dlq/jobs/{queue}`: the stored entries (nested, decoded), offset pagination. */
export async function hsiDlqJobs(redis: Redis, key: string, offset: number, limit: number): Promise<JsonResponse> {
  const [raws, total] = await Promise.all([redis.lrange(key, offset, offset + limit - 1), redis.llen(key)]);
  const items = raws.map((raw) => {
    const entry = parseStoredDlqEntry(raw);
    return entry.payload ?? { original_job: { raw }, error: `unparseable DLQ entry: ${entry.parseError ?? 'unknown'}` };
  });
  return json(200, { queue_name: key, items, pagination: { total, limit, offset, has_more: offset + items.length < total } });
}

/** `POST /api/dlq/requeue/{queue}`: the oldest entry's `original_job` back on its queue (in the queue's stored form). */
export async function hsiRequeue(redis: Redis, queues: BackendQueues, key: string): Promise<JsonResponse> {
  const target = queues.dlqSources()[key];
  const raw = await redis.lpop(key);
  if (raw === null || target === undefined) return json(200, { success: false, message: `${key} is empty`, job: null });
  const entry = parseStoredDlqEntry(raw);
  const job = entry.job;
  if (job === undefined) {
    await redis.lpush(key, raw);
    throw new HttpError(409, 'unparseable_entry', `the oldest entry of ${key} is not a dead letter (${entry.parseError ?? 'no job'})`);
  }
  await redis.rpush(target, queues.encode(job));
  return json(200, { success: true, message: `requeued 1 job from ${key} to ${target}`, job });
}
