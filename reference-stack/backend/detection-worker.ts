import { readFile } from 'node:fs/promises';
import { SpanKind, context, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import { rateLimited, type Logger } from '../common/log.ts';
import { MEDIA_TYPES, sniffImageType } from '../common/image.ts';
import { AbortedError, sleep } from '../common/timing.ts';
import { baggageAttributes, extractTraceCarrier, recordException } from '../telemetry/tracing.ts';
import { cameraNameFromId, UPSERT_CAMERA_SQL, type Database } from './db.ts';
import { DetectorUnavailableError, type DetectorClient, type DetectResponse } from './detector-client.ts';
import {
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  BLOCKING_POP_SECONDS,
  DETECTION_DLQ,
  DETECTION_QUEUE,
  detectionJobSchema,
  publish,
  type DeadLetter,
  type DetectionJob,
  type RedisConnections,
} from './queue.ts';

/**
 * The detection worker, as HSI's DetectionQueueWorker: BLPOP detection_queue (5 s), detector
 * call with retries, one `detections` row per detection, DLQ on failure. Unlike the real HSI,
 * the message's `trace_context` is continued, so the whole pipeline is one trace.
 */

export const SPAN_DETECTION_PROCESSING = 'detection_processing';

export interface DetectionWorkerDeps {
  tracer: Tracer;
  log: Logger;
  db: Database;
  redis: RedisConnections;
  detector: DetectorClient;
}

export interface WorkerStatus {
  running: boolean;
  processed: number;
  failed: number;
  dead_lettered: number;
  busy: boolean;
  last_error: string | undefined;
}

class JobFailure extends Error {
  override name = 'JobFailure';
  readonly code: string;
  readonly attempts: number;
  constructor(code: string, message: string, attempts: number, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.attempts = attempts;
  }
}

export class DetectionWorker {
  private readonly deps: DetectionWorkerDeps;
  private readonly allowLog = rateLimited(10_000);
  private stopping = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private busy = false;
  private blockingClientId: number | undefined;
  private counters = { processed: 0, failed: 0, deadLettered: 0 };
  private lastError: string | undefined;

  constructor(deps: DetectionWorkerDeps) {
    this.deps = deps;
    const { blocking } = deps.redis;
    // Remember the id of the blocking connection: CLIENT UNBLOCK ends its BLPOP at shutdown.
    const rememberId = (): void => {
      blocking
        .call('CLIENT', 'ID')
        .then((id) => {
          this.blockingClientId = Number(id);
        })
        .catch(() => undefined);
    };
    blocking.on('ready', rememberId);
    if (blocking.status === 'ready') rememberId();
  }

  start(): void {
    if (this.loop !== undefined) return;
    this.loop = this.run();
  }

  status(): WorkerStatus {
    return {
      running: this.loop !== undefined && !this.stopping,
      processed: this.counters.processed,
      failed: this.counters.failed,
      dead_lettered: this.counters.deadLettered,
      busy: this.busy,
      last_error: this.lastError,
    };
  }

  /**
   * Stops popping and lets the current job finish within graceMs; a job still waiting on the
   * detector after that is aborted and pushed back to the head of the queue.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.loop === undefined) return;
    this.stopping = true;
    if (!this.busy && this.blockingClientId !== undefined) {
      await this.deps.redis.main.call('CLIENT', 'UNBLOCK', String(this.blockingClientId)).catch(() => undefined);
    }
    const finished = this.loop.then(() => true);
    if (!(await Promise.race([finished, sleep(graceMs).then(() => false)]))) {
      this.abort.abort();
      if (!(await Promise.race([finished, sleep(1000).then(() => false)]))) {
        // Still blocked (e.g. BLPOP queued while Redis is unreachable): drop the connection.
        this.deps.redis.blocking.disconnect();
      }
    }
  }

  private async run(): Promise<void> {
    const { redis, log } = this.deps;
    log.info('detection worker started', { queue: DETECTION_QUEUE });
    while (!this.stopping) {
      let popped: [string, string] | null;
      try {
        popped = await redis.blocking.blpop(DETECTION_QUEUE, BLOCKING_POP_SECONDS);
      } catch (error) {
        if (this.stopping) break;
        this.lastError = (error as Error).message;
        if (this.allowLog(`blpop:${this.lastError}`)) log.warn('detection queue pop failed', { error });
        await sleep(1000, this.abort.signal).catch(() => undefined);
        continue;
      }
      if (popped === null) continue;
      this.busy = true;
      try {
        await this.process(popped[1]);
      } catch (error) {
        log.error('unexpected worker error', { error });
      } finally {
        this.busy = false;
      }
    }
    log.info('detection worker stopped', this.status() as unknown as Record<string, unknown>);
  }

  /** Handles one raw message; never throws. */
  private async process(raw: string): Promise<void> {
    const { tracer, log } = this.deps;
    let job: DetectionJob | undefined;
    let parseError: string | undefined;
    try {
      job = detectionJobSchema.parse(JSON.parse(raw));
    } catch (error) {
      parseError = (error as Error).message.slice(0, 300);
    }
    const parent = extractTraceCarrier(job?.trace_context);
    const attributes: Attributes = {
      ...baggageAttributes(parent),
      [ATTR_MESSAGING_SYSTEM]: 'redis',
      [ATTR_MESSAGING_DESTINATION_NAME]: DETECTION_QUEUE,
      [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
      [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: Buffer.byteLength(raw),
    };
    if (job !== undefined) {
      attributes['camera_id'] = job.camera_id;
      attributes['file_path'] = job.file_path;
      attributes['media_type'] = job.media_type;
      const queuedAt = Date.parse(job.timestamp);
      if (Number.isFinite(queuedAt)) attributes['queue_wait_ms'] = Math.max(0, Date.now() - queuedAt);
    }
    const span = tracer.startSpan(SPAN_DETECTION_PROCESSING, { kind: SpanKind.CONSUMER, attributes }, parent);
    await context.with(trace.setSpan(parent, span), async () => {
      try {
        if (job === undefined) throw new JobFailure('invalid_message', `invalid detection_queue message: ${parseError ?? 'unknown'}`, 0);
        const ids = await this.detectAndStore(job, span);
        span.setAttribute('detection_count', ids.length);
        if (ids.length > 0) span.setAttribute('detection_ids', ids);
        this.counters.processed++;
        log.info('detection job done', { camera_id: job.camera_id, file_path: job.file_path, detections: ids.length });
      } catch (error) {
        if (error instanceof AbortedError) {
          // Shutdown while the detector was still being tried: give the job back.
          span.addEvent('requeued_on_shutdown');
          log.info('detection job requeued on shutdown', { file_path: job?.file_path });
          await this.deps.redis.main.lpush(DETECTION_QUEUE, raw).catch((e: unknown) => {
            recordException(span, e);
            log.error('could not requeue the job on shutdown; it is lost', { error: e, file_path: job?.file_path });
          });
          return;
        }
        this.counters.failed++;
        const failure =
          error instanceof JobFailure ? error : new JobFailure('processing_error', (error as Error).message ?? String(error), 0, { cause: error });
        this.lastError = failure.message;
        recordException(span, failure);
        await this.deadLetter(raw, job, failure, span);
      } finally {
        span.end();
      }
    });
  }

  private async detectAndStore(job: DetectionJob, span: Span): Promise<number[]> {
    const { detector, db } = this.deps;
    let image: Buffer;
    try {
      image = await readFile(job.file_path);
    } catch (error) {
      throw new JobFailure('file_unreadable', `cannot read ${job.file_path}: ${(error as Error).message}`, 0, { cause: error });
    }
    const type = sniffImageType(image);
    const fileType = type !== undefined ? MEDIA_TYPES[type] : 'application/octet-stream';

    let response: DetectResponse;
    let attempts: number;
    try {
      ({ response, attempts } = await detector.detect(image, job.file_path, fileType, this.abort.signal));
    } catch (error) {
      if (error instanceof DetectorUnavailableError) {
        throw new JobFailure(`detector_${error.last.code}`, error.message, error.attempts, { cause: error });
      }
      throw error;
    }
    span.setAttribute('detector_attempts', attempts);

    const detectedAt = new Date();
    try {
      return await db.transaction(async (client) => {
        await db.query('INSERT cameras', UPSERT_CAMERA_SQL, [job.camera_id, cameraNameFromId(job.camera_id)], client);
        const ids: number[] = [];
        for (const d of response.detections) {
          const result = await db.query<{ id: string }>(
            'INSERT detections',
            `INSERT INTO detections (camera_id, file_path, file_type, detected_at, object_type, confidence, bbox_x, bbox_y, bbox_width, bbox_height)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
            [
              job.camera_id,
              job.file_path,
              fileType,
              detectedAt,
              d.class,
              d.confidence,
              Math.round(d.bbox.x),
              Math.round(d.bbox.y),
              Math.round(d.bbox.width),
              Math.round(d.bbox.height),
            ],
            client,
          );
          const id = result.rows[0]?.id;
          if (id !== undefined) ids.push(Number(id));
        }
        return ids;
      });
    } catch (error) {
      throw new JobFailure('database_error', `storing detections failed: ${(error as Error).message}`, attempts, { cause: error });
    }
  }

  private async deadLetter(raw: string, job: DetectionJob | undefined, failure: JobFailure, span: Span): Promise<void> {
    const { tracer, redis, log } = this.deps;
    const entry: DeadLetter = {
      ...(job ?? { raw }),
      error: failure.message,
      error_code: failure.code,
      attempts: failure.attempts,
      failed_at: new Date().toISOString(),
      queue: DETECTION_QUEUE,
    };
    try {
      // The DLQ entry keeps the original trace_context; the push is a PRODUCER span of this trace.
      await publish(tracer, redis.main, redis.address, DETECTION_DLQ, entry, false);
      this.counters.deadLettered++;
      log.warn('detection job dead-lettered', { error_code: failure.code, error: failure.message, attempts: failure.attempts, file_path: job?.file_path });
    } catch (error) {
      recordException(span, error, 'dead-lettering failed');
      log.error('dead-lettering failed; the job is lost', { error, file_path: job?.file_path, original_error: failure.message });
    }
  }
}
