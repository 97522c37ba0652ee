import { randomBytes, randomUUID } from 'node:crypto';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type Attributes, type Context, type Link, type Tracer } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import { rateLimited, type Logger } from '../common/log.ts';
import { sleep } from '../common/timing.ts';
import { extractTraceCarrier, inSpan, injectTraceCarrier, recordException, type TraceCarrier } from '../telemetry/tracing.ts';
import { ANALYSIS_QUEUE, ATTR_MESSAGING_MESSAGE_BODY_SIZE, producerAttributes, publish, pushBody, traceCarrierSchema, type QueueTarget } from './queue.ts';
import type { BackendQueues } from './queue-dialect.ts';
import type { BatchSettings } from './settings.ts';

/**
 * HSI's batch aggregator: detections of one camera are grouped into a batch until the batch is
 * closed by its window (BATCH_WINDOW_SECONDS after it opened: reason `timeout`), by idleness
 * (BATCH_IDLE_TIMEOUT_SECONDS after its last detection: `idle`) or by size
 * (BATCH_MAX_DETECTIONS: `max_size`). A closed batch becomes one analysis_queue message.
 *
 * Redis keys (contract): `batch:{camera_id}:current` → batch id `batch-<8 hex>`, and per batch
 * `batch:{batch_id}:detections` (list of ids), `:started_at`, `:last_activity` (epoch seconds),
 * `:camera_id`, `:pipeline_start_time`, `:trace_context` (the opening detection's span context),
 * `:links` (every detection job's span context), `:closed` (the close reason; the idempotency
 * marker) and `:close_lock`.
 *
 * Adding and closing are Lua scripts, so each is atomic: a detection lands either in the batch
 * before it closes or in the next one, and a batch is pushed to analysis_queue exactly once even
 * with several closers (several backend processes): the close script refuses a batch whose
 * `:closed` marker exists, and a `SET NX` lock keeps a second closer from even starting.
 */

export const SPAN_BATCH_AGGREGATION = 'batch_aggregation';
export const SPAN_ANALYSIS_PUBLISH = `${ANALYSIS_QUEUE} publish`;

export type CloseReason = 'timeout' | 'idle' | 'max_size' | 'fast_path';

/** Keys of the contract. */
export const batchKeys = {
  current: (cameraId: string): string => `batch:${cameraId}:current`,
  field: (batchId: string, field: string): string => `batch:${batchId}:${field}`,
  currentPattern: 'batch:*:current',
} as const;

const BATCH_ID_PATTERN = /^(batch-[0-9a-f]{8}|[0-9a-f]{32})$/;

/** `batch-<8 hex>` */
export function newBatchId(random: (n: number) => Buffer = randomBytes): string {
  return `batch-${random(4).toString('hex')}`;
}

/** Profile hsi-current: the real HSI's `uuid4().hex` (32 hex digits). */
export function newUuidHexBatchId(): string {
  return randomUUID().replace(/-/g, '');
}

export function isBatchId(value: string): boolean {
  return BATCH_ID_PATTERN.test(value);
}

export interface BatchState {
  /** epoch ms */
  startedAt: number;
  /** epoch ms */
  lastActivity: number;
  size: number;
}

/** Why a batch is due to close now, or undefined. Size first, then the window, then idleness. */
export function closeReason(state: BatchState, nowMs: number, settings: Pick<BatchSettings, 'windowMs' | 'idleMs' | 'maxDetections'>): CloseReason | undefined {
  if (state.size >= settings.maxDetections) return 'max_size';
  if (nowMs - state.startedAt >= settings.windowMs) return 'timeout';
  if (nowMs - state.lastActivity >= settings.idleMs) return 'idle';
  return undefined;
}

/** Keys expire this long after the last activity (far beyond any window: only orphans expire). */
export function batchTtlSeconds(settings: Pick<BatchSettings, 'windowMs'>): number {
  return Math.max(3600, Math.ceil((settings.windowMs * 2) / 1000));
}
/** A closed batch's keys stay this long for inspection. */
export const CLOSED_BATCH_TTL_SECONDS = 3600;

/** What each detection job leaves in `batch:{id}:links`. */
export interface BatchLinkEntry extends TraceCarrier {
  file_path?: string;
  detection_ids?: number[];
}

/**
 * Span links of the producer span: every job's span context except the opener's (which is the
 * parent), each span context once.
 */
export function linksFor(opener: TraceCarrier | undefined, entries: readonly BatchLinkEntry[]): { carrier: BatchLinkEntry; attributes: Attributes }[] {
  const seen = new Set<string>();
  if (opener !== undefined) seen.add(opener.traceparent);
  const out: { carrier: BatchLinkEntry; attributes: Attributes }[] = [];
  for (const entry of entries) {
    if (seen.has(entry.traceparent)) continue;
    seen.add(entry.traceparent);
    const attributes: Attributes = { 'link.type': 'batched_detection' };
    if (entry.file_path !== undefined) attributes['file_path'] = entry.file_path;
    if (entry.detection_ids !== undefined) attributes['detection_ids'] = entry.detection_ids;
    out.push({ carrier: entry, attributes });
  }
  return out;
}

function parseLinkEntry(raw: string): BatchLinkEntry | undefined {
  try {
    const value = JSON.parse(raw) as Record<string, unknown>;
    const carrier = traceCarrierSchema.safeParse(value);
    if (!carrier.success) return undefined;
    const entry: BatchLinkEntry = { ...carrier.data };
    if (typeof value['file_path'] === 'string') entry.file_path = value['file_path'];
    if (Array.isArray(value['detection_ids'])) entry.detection_ids = value['detection_ids'].filter((v): v is number => typeof v === 'number');
    return entry;
  } catch {
    return undefined;
  }
}

/** Link to a serialized span context; undefined if it is not valid. */
function toLink(carrier: TraceCarrier, attributes: Attributes): Link | undefined {
  const spanContext = trace.getSpanContext(extractTraceCarrier(carrier));
  if (spanContext === undefined || !trace.isSpanContextValid(spanContext)) return undefined;
  return { context: spanContext, attributes };
}

// KEYS[1] batch:{camera}:current
// ARGV camera_id, new_batch_id, now_seconds, pipeline_start_time, trace_context ('' = none), link ('' = none), ttl, ids...
const ADD_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current then
  local p = 'batch:' .. current .. ':'
  if redis.call('EXISTS', p .. 'closed') == 1 or redis.call('EXISTS', p .. 'started_at') == 0 then current = false end
end
local opened = 0
local ttl = tonumber(ARGV[7])
if not current then
  current = ARGV[2]
  opened = 1
  local p = 'batch:' .. current .. ':'
  redis.call('SET', p .. 'started_at', ARGV[3], 'EX', ttl)
  redis.call('SET', p .. 'camera_id', ARGV[1], 'EX', ttl)
  redis.call('SET', p .. 'pipeline_start_time', ARGV[4], 'EX', ttl)
  if ARGV[5] ~= '' then redis.call('SET', p .. 'trace_context', ARGV[5], 'EX', ttl) end
end
local p = 'batch:' .. current .. ':'
redis.call('SET', KEYS[1], current, 'EX', ttl)
for i = 8, #ARGV do redis.call('RPUSH', p .. 'detections', ARGV[i]) end
redis.call('SET', p .. 'last_activity', ARGV[3], 'EX', ttl)
if ARGV[6] ~= '' then redis.call('RPUSH', p .. 'links', ARGV[6]) end
for _, f in ipairs({'started_at', 'camera_id', 'pipeline_start_time', 'trace_context', 'detections', 'links'}) do
  redis.call('EXPIRE', p .. f, ttl)
end
return {current, opened, redis.call('LLEN', p .. 'detections')}
`;

// ARGV batch_id, reason, trace_context ('' = none), timestamp, queue ('' = do not push: the caller encodes and pushes), closed_ttl, epoch ('1': timestamp is a number)
const CLOSE_SCRIPT = `
local p = 'batch:' .. ARGV[1] .. ':'
if redis.call('EXISTS', p .. 'closed') == 1 then return false end
local camera = redis.call('GET', p .. 'camera_id')
if not camera then return false end
local ttl = tonumber(ARGV[6])
local ids = redis.call('LRANGE', p .. 'detections', 0, -1)
local length = 0
local body = ''
if #ids > 0 then
  local nums = {}
  for i, v in ipairs(ids) do nums[i] = tonumber(v) end
  local ts = ARGV[4]
  if ARGV[7] == '1' then ts = tonumber(ARGV[4]) end
  local payload = {batch_id = ARGV[1], camera_id = camera, detection_ids = nums, timestamp = ts, close_reason = ARGV[2]}
  local pst = redis.call('GET', p .. 'pipeline_start_time')
  if pst and pst ~= '' then payload['pipeline_start_time'] = pst end
  if ARGV[3] ~= '' then payload['trace_context'] = cjson.decode(ARGV[3]) end
  body = cjson.encode(payload)
  if ARGV[5] ~= '' then length = redis.call('RPUSH', ARGV[5], body) end
end
redis.call('SET', p .. 'closed', ARGV[2], 'EX', ttl)
local current = 'batch:' .. camera .. ':current'
if redis.call('GET', current) == ARGV[1] then redis.call('DEL', current) end
for _, f in ipairs({'started_at', 'last_activity', 'camera_id', 'pipeline_start_time', 'trace_context', 'detections', 'links', 'close_lock'}) do
  redis.call('EXPIRE', p .. f, ttl)
end
return {body, length, #ids}
`;

export interface AddResult {
  batchId: string;
  opened: boolean;
  size: number;
}

export interface CloseResult {
  batchId: string;
  outcome: 'closed' | 'already_closed' | 'locked' | 'empty';
  reason: CloseReason;
  detectionCount?: number;
  queueLength?: number;
}

export interface BatchAggregatorOptions {
  tracer: Tracer;
  log: Logger;
  redis: Redis;
  address: { host: string; port: number };
  settings: BatchSettings;
  /** HSI_DEFECT_QUEUE_NO_TRACE_CONTEXT: no trace context in batches or analysis_queue messages. */
  noTraceContext?: boolean;
  /** HSI_DEFECT_ANALYSIS_QUEUE_NO_TRACE_CONTEXT: only the analysis_queue message loses its trace context. */
  analysisNoTraceContext?: boolean;
  now?: () => number;
  /** Keys, payload form and cap of the profile. */
  queues: BackendQueues;
  /** Profile hsi-current: uuid4().hex batch ids, epoch-seconds timestamps, compressed and capped analysis_queue. */
  hsiCurrent?: boolean;
}

export interface AggregatorStatus {
  running: boolean;
  batches_opened: number;
  batches_closed: number;
  close_reasons: Record<CloseReason, number>;
  add_failures: number;
  close_failures: number;
  last_error: string | undefined;
}

export class BatchAggregator {
  private readonly o: BatchAggregatorOptions;
  private readonly now: () => number;
  private readonly allowLog = rateLimited(10_000);
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private stopped = false;
  private counters = { opened: 0, closed: 0, addFailures: 0, closeFailures: 0 };
  private reasons: Record<CloseReason, number> = { timeout: 0, idle: 0, max_size: 0, fast_path: 0 };
  private lastError: string | undefined;

  constructor(options: BatchAggregatorOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  status(): AggregatorStatus {
    return {
      running: this.timer !== undefined && !this.stopped,
      batches_opened: this.counters.opened,
      batches_closed: this.counters.closed,
      close_reasons: { ...this.reasons },
      add_failures: this.counters.addFailures,
      close_failures: this.counters.closeFailures,
      last_error: this.lastError,
    };
  }

  /**
   * Adds a job's detection ids to the camera's current batch (opening one if needed) in a span
   * `batch_aggregation`, child of the active span (detection_processing). Retries Redis errors
   * 3 times; a batch that reaches BATCH_MAX_DETECTIONS is closed at once (`max_size`).
   */
  async add(job: { cameraId: string; detectionIds: readonly number[]; filePath: string; pipelineStartTime: string | undefined }): Promise<AddResult> {
    const { tracer, settings } = this.o;
    const attributes: Attributes = { camera_id: job.cameraId, file_path: job.filePath, 'batch.added': job.detectionIds.length };
    const result = await inSpan(tracer, SPAN_BATCH_AGGREGATION, { kind: SpanKind.INTERNAL, attributes }, async (span) => {
      const carrier = this.o.noTraceContext ? undefined : injectTraceCarrier();
      const link: BatchLinkEntry | undefined = carrier === undefined ? undefined : { ...carrier, file_path: job.filePath, detection_ids: [...job.detectionIds] };
      let lastError: unknown;
      for (let attempt = 1; attempt <= 3; attempt++) {
        try {
          const reply = (await this.o.redis.eval(
            ADD_SCRIPT,
            1,
            batchKeys.current(job.cameraId),
            job.cameraId,
            this.o.hsiCurrent ? newUuidHexBatchId() : newBatchId(),
            String(this.now() / 1000),
            job.pipelineStartTime ?? new Date(this.now()).toISOString(),
            carrier === undefined ? '' : JSON.stringify(carrier),
            link === undefined ? '' : JSON.stringify(link),
            String(batchTtlSeconds(settings)),
            ...job.detectionIds.map(String),
          )) as [string, number, number];
          const added: AddResult = { batchId: reply[0], opened: Number(reply[1]) === 1, size: Number(reply[2]) };
          span.setAttributes({ batch_id: added.batchId, 'batch.id': added.batchId, 'batch.size': added.size, 'batch.opened': added.opened });
          if (attempt > 1) span.setAttribute('batch.attempts', attempt);
          if (added.opened) this.counters.opened++;
          return added;
        } catch (error) {
          lastError = error;
          if (attempt < 3) await sleep(200 * attempt);
        }
      }
      this.counters.addFailures++;
      this.lastError = (lastError as Error).message;
      throw lastError;
    });
    if (result.size >= settings.maxDetections) {
      await this.close(result.batchId, 'max_size').catch((error: unknown) => {
        // The closer loop retries: the size rule still holds.
        this.o.log.warn('closing a full batch failed; the closer retries', { batch_id: result.batchId, error });
      });
    }
    return result;
  }

  /**
   * Closes one batch: pushes the analysis_queue message in a PRODUCER span `analysis_queue publish`
   * whose parent is the batch's opening detection and which links every other detection job.
   */
  async close(batchId: string, reason: CloseReason): Promise<CloseResult> {
    const { redis, tracer, log } = this.o;
    const lockKey = batchKeys.field(batchId, 'close_lock');
    const locked = await redis.set(lockKey, randomUUID(), 'PX', 10_000, 'NX');
    if (locked === null) return { batchId, outcome: 'locked', reason };
    const stored = await this.readForClose(batchId, lockKey);
    const { cameraId } = stored;
    const { parent, links } = this.publishContext(batchId, stored);
    const attributes: Attributes = {
      ...producerAttributes(this.o.queues.key('analysis'), this.o.address),
      batch_id: batchId,
      'batch.id': batchId,
      close_reason: reason,
      'batch.size': stored.size,
      'batch.links': links.length,
    };
    if (cameraId !== null) attributes['camera_id'] = cameraId;
    const span = tracer.startSpan(SPAN_ANALYSIS_PUBLISH, { kind: SpanKind.PRODUCER, attributes, links }, parent);
    const ctx = trace.setSpan(parent, span);
    try {
      const pushed = await this.closeAndPush(batchId, reason, ctx);
      if (pushed === null) {
        span.setAttribute('batch.already_closed', true);
        return { batchId, outcome: 'already_closed', reason };
      }
      const { body, queueLength, count } = pushed;
      span.setAttributes({ 'batch.size': count, [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: Buffer.byteLength(body), 'messaging.redis.queue_length': queueLength });
      this.counters.closed++;
      this.reasons[reason]++;
      if (count === 0) return { batchId, outcome: 'empty', reason, detectionCount: 0 };
      context.with(ctx, () => log.info('batch closed', { batch_id: batchId, camera_id: cameraId, reason, detections: count, links: links.length }));
      return { batchId, outcome: 'closed', reason, detectionCount: count, queueLength };
    } catch (error) {
      this.counters.closeFailures++;
      this.lastError = (error as Error).message;
      recordException(span, error);
      // Let the next check try again at once.
      await redis.del(lockKey).catch(() => undefined);
      throw error;
    } finally {
      span.end();
    }
  }

  /** What a close needs from the batch's keys; on a Redis failure the lock is let go at once. */
  private async readForClose(batchId: string, lockKey: string): Promise<{ openerRaw: string | null; linkRaws: string[]; cameraId: string | null; size: number }> {
    const { redis } = this.o;
    try {
      const [openerRaw, linkRaws, cameraId, size] = await Promise.all([
        redis.get(batchKeys.field(batchId, 'trace_context')),
        redis.lrange(batchKeys.field(batchId, 'links'), 0, -1),
        redis.get(batchKeys.field(batchId, 'camera_id')),
        redis.llen(batchKeys.field(batchId, 'detections')),
      ]);
      return { openerRaw, linkRaws, cameraId, size };
    } catch (error) {
      this.counters.closeFailures++;
      await redis.del(lockKey).catch(() => undefined);
      throw error;
    }
  }

  /** The producer span's parent (the opening detection, with batch.id baggage) and its links to the other detections. */
  private publishContext(batchId: string, stored: { openerRaw: string | null; linkRaws: string[] }): { parent: Context; links: Link[] } {
    let opener: TraceCarrier | undefined;
    if (stored.openerRaw !== null && !this.o.noTraceContext) {
      try {
        const parsed = traceCarrierSchema.safeParse(JSON.parse(stored.openerRaw));
        if (parsed.success) opener = parsed.data;
      } catch {
        // a broken stored context: the producer span becomes a root
      }
    }
    const entries = this.o.noTraceContext ? [] : stored.linkRaws.map(parseLinkEntry).filter((e): e is BatchLinkEntry => e !== undefined);
    const links = linksFor(opener, entries)
      .map(({ carrier, attributes }) => toLink(carrier, attributes))
      .filter((l): l is Link => l !== undefined);
    let parent: Context = opener === undefined ? ROOT_CONTEXT : extractTraceCarrier(opener);
    // The contract's batch.id baggage travels on with the analysis job.
    const baggage = (propagation.getBaggage(parent) ?? propagation.createBaggage()).setEntry('batch.id', { value: batchId });
    parent = propagation.setBaggage(parent, baggage);
    return { parent, links };
  }

  /** The close script (atomic: mark closed, build the message, push it) and, for hsi-current, the separate encoded push. Null: already closed. */
  private async closeAndPush(batchId: string, reason: CloseReason, ctx: Context): Promise<{ body: string; queueLength: number; count: number } | null> {
    const { redis } = this.o;
    const carrier = this.o.noTraceContext || this.o.analysisNoTraceContext ? undefined : injectTraceCarrier(ctx);
    const reply = (await context.with(ctx, () =>
      redis.eval(
        CLOSE_SCRIPT,
        0,
        batchId,
        reason,
        carrier === undefined ? '' : JSON.stringify(carrier),
        this.o.hsiCurrent ? String(this.now() / 1000) : new Date(this.now()).toISOString(),
        this.o.hsiCurrent ? '' : this.o.queues.key('analysis'),
        String(CLOSED_BATCH_TTL_SECONDS),
        this.o.hsiCurrent ? '1' : '0',
      ),
    )) as [string, number, number] | null;
    if (reply === null) return null;
    let [body, queueLength, count] = [reply[0], Number(reply[1]), Number(reply[2])];
    if (this.o.hsiCurrent && count > 0) {
      // The real HSI encodes (compresses) in Python before the push: the close and the push are two steps.
      body = this.o.queues.encode(JSON.parse(body) as Record<string, unknown>);
      queueLength = await pushBody(redis, this.analysisTarget(), body);
    }
    return { body, queueLength, count };
  }

  private analysisTarget(): QueueTarget {
    return this.o.queues.target('analysis');
  }

  /**
   * Profile hsi-current's fast path: detections that skip batching go to analysis_queue at once,
   * as a batch of their own (uuid id, close reason `fast_path`), in a PRODUCER span child of the
   * active span (detection_processing).
   */
  async fastPath(job: { cameraId: string; detectionIds: readonly number[]; filePath: string; pipelineStartTime: string | undefined }): Promise<string> {
    const batchId = newUuidHexBatchId();
    const message: Record<string, unknown> = {
      batch_id: batchId,
      camera_id: job.cameraId,
      detection_ids: [...job.detectionIds],
      timestamp: this.now() / 1000,
      close_reason: 'fast_path',
      ...(job.pipelineStartTime !== undefined ? { pipeline_start_time: job.pipelineStartTime } : {}),
    };
    const withContext = !this.o.noTraceContext && !this.o.analysisNoTraceContext;
    const ctx = propagation.setBaggage(context.active(), (propagation.getBaggage(context.active()) ?? propagation.createBaggage()).setEntry('batch.id', { value: batchId }));
    await context.with(ctx, () =>
      publish(this.o.tracer, this.o.redis, this.o.address, this.analysisTarget(), message, withContext, { batch_id: batchId, 'batch.id': batchId, camera_id: job.cameraId, close_reason: 'fast_path', 'batch.size': job.detectionIds.length, file_path: job.filePath }),
    );
    this.counters.opened++;
    this.counters.closed++;
    this.reasons.fast_path++;
    return batchId;
  }

  /** One pass of the closer: every current batch that is due is closed. */
  async checkOnce(): Promise<CloseResult[]> {
    const { redis, settings } = this.o;
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', batchKeys.currentPattern, 'COUNT', 500);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const ids = (await redis.mget(...keys)).filter((id): id is string => id !== null);
    const results: CloseResult[] = [];
    for (const batchId of ids) {
      const [started, last, size] = await Promise.all([
        redis.get(batchKeys.field(batchId, 'started_at')),
        redis.get(batchKeys.field(batchId, 'last_activity')),
        redis.llen(batchKeys.field(batchId, 'detections')),
      ]);
      if (started === null) continue;
      const startedAt = Number(started) * 1000;
      const state: BatchState = { startedAt, lastActivity: last === null ? startedAt : Number(last) * 1000, size };
      const reason = closeReason(state, this.now(), settings);
      if (reason === undefined) continue;
      try {
        results.push(await this.close(batchId, reason));
      } catch (error) {
        if (this.allowLog(`close:${(error as Error).message}`)) this.o.log.warn('closing a batch failed; retrying on the next check', { batch_id: batchId, error });
      }
    }
    return results;
  }

  /** Starts the closer loop (every BATCH_CHECK_INTERVAL_SECONDS). */
  start(): void {
    if (this.timer !== undefined) return;
    const tick = (): void => {
      if (this.stopped) return;
      this.checking = context
        .with(ROOT_CONTEXT, () => this.checkOnce())
        .then(() => undefined)
        .catch((error: unknown) => {
          this.lastError = (error as Error).message;
          if (this.allowLog(`check:${this.lastError}`)) this.o.log.warn('batch check failed', { error });
        })
        .finally(() => {
          this.checking = undefined;
          if (!this.stopped) this.timer = setTimeout(tick, this.o.settings.checkIntervalMs);
        });
    };
    this.timer = setTimeout(tick, this.o.settings.checkIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.checking;
  }
}
