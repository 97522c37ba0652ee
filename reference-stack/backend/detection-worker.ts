import { readFileSync } from 'node:fs';
import { SpanKind, context, trace, type Span, type Tracer } from '@opentelemetry/api';
import type { Logger } from '../common/log.ts';
import { MEDIA_TYPES, sniffImageType } from '../common/image.ts';
import { AbortedError } from '../common/timing.ts';
import { recordException } from '../telemetry/tracing.ts';
import type { BatchAggregator } from './batch-aggregator.ts';
import { cameraNameFromId, UPSERT_CAMERA_SQL, type Database } from './db.ts';
import { DetectorUnavailableError, type DetectorClient, type DetectResponse } from './detector-client.ts';
import { HSI_CURRENT } from '../../harness/contract/profiles.ts';
import { NestedDetectorFailure, type HsiRetryHandler } from './hsi-retry-handler.ts';
import { receiveJob, deadLetter, type DetectionJob, detectionJobSchema, type RedisConnections } from './queue.ts';
import type { BackendQueues, DeadLetterFailure } from './queue-dialect.ts';
import type { JobHandler, JobOutcome } from './queue-worker.ts';

/**
 * The detection worker, as HSI's DetectionQueueWorker: a detection_queue message → detector call
 * with retries (through the circuit breaker) → one `detections` row per detection → the
 * detections join the camera's batch. Failures go to dlq:detection_queue. Unlike the real HSI,
 * the message's `trace_context` is continued (unless HSI_DEFECT_QUEUE_NO_TRACE_CONTEXT), so the
 * whole pipeline is one trace. Runs inside a QueueWorkerPool (DETECTION_WORKERS loops).
 */

export const SPAN_DETECTION_PROCESSING = 'detection_processing';

export interface DetectionWorkerDeps {
  tracer: Tracer;
  log: Logger;
  db: Database;
  redis: RedisConnections;
  detector: DetectorClient;
  batches: BatchAggregator;
  /** HSI_DEFECT_PROCESSING_SPAN_ENDS_EARLY: detection_processing is ended before the work it covers. */
  spanEndsEarly?: boolean;
  /** HSI_DEFECT_WORKER_DROPS_ROWS: the last detection of each detector answer is not stored (an off-by-one). */
  dropsRows?: boolean;
  /** Keys, payload form and dead-letter shape of the profile. */
  queues: BackendQueues;
  /** Profile hsi-current: the real HSI's behaviour (nested detector retries, silent drops, fast path). */
  hsiCurrent?: HsiCurrentDetection;
}

/** What profile hsi-current changes in the detection worker. */
export interface HsiCurrentDetection {
  /** Detector calls through the RetryHandler × client retries (up to 9 calls). */
  retryHandler: HsiRetryHandler;
  /** A `person` at or above this confidence skips batching (FAST_PATH_CONFIDENCE_THRESHOLD). */
  fastPathConfidence: number;
}

export class JobFailure extends Error {
  override name = 'JobFailure';
  readonly code: string;
  readonly attempts: number;
  /** Extra fields of a nested dead letter (profile hsi-current). */
  readonly details: Partial<DeadLetterFailure>;
  constructor(code: string, message: string, attempts: number, options?: { cause?: unknown; details?: Partial<DeadLetterFailure> }) {
    super(message, options);
    this.code = code;
    this.attempts = attempts;
    this.details = options?.details ?? {};
  }

  /** The dead letter's failure fields. */
  toDeadLetter(): DeadLetterFailure {
    return { message: this.message, code: this.code, attempts: this.attempts, ...this.details };
  }
}

/** A detector give-up as the DLQ records it; nested retries record the RetryHandler's attempts and the call count. */
function detectorJobFailure(error: DetectorUnavailableError): JobFailure {
  if (!(error instanceof NestedDetectorFailure)) return new JobFailure(detectorErrorCode(error), error.message, error.attempts, { cause: error });
  const n = error.nested;
  return new JobFailure(detectorErrorCode(error), error.message, n.rounds, {
    cause: error,
    details: {
      firstFailedAt: n.firstFailedAt,
      retryDelaysMs: n.delaysMs,
      ...(error.last.status !== undefined ? { httpStatus: error.last.status } : {}),
    },
  });
}

/** DLQ error code of a detector failure: `circuit_open` when the breaker rejected the last attempt, else `detector_<code>`. */
export function detectorErrorCode(error: DetectorUnavailableError): string {
  return error.last.code === 'circuit_open' ? 'circuit_open' : `detector_${error.last.code}`;
}

/** A stored detections row: its id and what the detector said. */
interface StoredDetection {
  id: number;
  class: string;
  confidence: number;
}

export class DetectionJobHandler implements JobHandler {
  private readonly deps: DetectionWorkerDeps;
  batchFailures = 0;
  /** Profile hsi-current: invalid messages logged and dropped. */
  dropped = 0;

  constructor(deps: DetectionWorkerDeps) {
    this.deps = deps;
  }

  async handle(raw: string, signal: AbortSignal): Promise<JobOutcome> {
    const { tracer, log } = this.deps;
    const { job, parseError, parent, attributes } = receiveJob(detectionJobSchema, this.deps.queues.key('detection'), raw);
    if (job !== undefined) {
      attributes['camera_id'] = job.camera_id;
      attributes['file_path'] = job.file_path;
      attributes['media_type'] = job.media_type;
      if (job.file_hash !== undefined) attributes['file.hash'] = job.file_hash;
    }
    const span = tracer.startSpan(SPAN_DETECTION_PROCESSING, { kind: SpanKind.CONSUMER, attributes }, parent);
    return context.with(trace.setSpan(parent, span), async (): Promise<JobOutcome> => {
      // The defect: the span is ended where the work is started, not where it is done.
      if (this.deps.spanEndsEarly) span.end();
      try {
        if (job === undefined) {
          if (this.deps.hsiCurrent !== undefined) return this.drop(span, `invalid detection_queue message: ${parseError ?? 'unknown'}`);
          throw new JobFailure('invalid_message', `invalid detection_queue message: ${parseError ?? 'unknown'}`, 0);
        }
        const stored = await this.detectAndStore(job, span, signal);
        const ids = stored.map((d) => d.id);
        span.setAttribute('detection_count', ids.length);
        if (ids.length > 0) {
          span.setAttribute('detection_ids', ids);
          await this.route(job, stored, span);
        }
        log.info('detection job done', { camera_id: job.camera_id, file_path: job.file_path, detections: ids.length });
        return 'processed';
      } catch (error) {
        if (error instanceof AbortedError) {
          // Shutdown while the detector was still being tried: give the job back.
          span.addEvent('requeued_on_shutdown');
          log.info('detection job requeued on shutdown', { file_path: job?.file_path });
          try {
            await this.deps.redis.main.lpush(this.deps.queues.key('detection'), raw);
            return 'requeued';
          } catch (e) {
            recordException(span, e);
            log.error('could not requeue the job on shutdown; it is lost', { error: e, file_path: job?.file_path });
            return 'lost';
          }
        }
        const failure =
          error instanceof JobFailure ? error : new JobFailure('processing_error', (error as Error).message ?? String(error), 0, { cause: error });
        recordException(span, failure);
        span.setAttribute('error_code', failure.code);
        return (await this.deadLetter(raw, job, failure, span)) ? 'dead_lettered' : 'lost';
      } finally {
        span.end();
      }
    });
  }

  /** Profile hsi-current: a message the worker cannot use is logged and dropped (no dead letter), as the real HSI does. */
  private drop(span: Span, reason: string): JobOutcome {
    this.dropped++;
    span.addEvent('message_dropped', { reason: reason.slice(0, 300) });
    span.setAttribute('error_code', 'invalid_message');
    this.deps.log.warn('invalid detection_queue message dropped', { reason: reason.slice(0, 300) });
    return 'dropped';
  }

  /** The stored detections join the camera's batch; confident persons go straight to analysis (hsi-current's fast path). */
  private async route(job: DetectionJob, stored: StoredDetection[], span: Span): Promise<void> {
    const threshold = this.deps.hsiCurrent?.fastPathConfidence;
    const fast = threshold === undefined ? [] : stored.filter((d) => d.class === HSI_CURRENT.fastPath.objectClass && d.confidence >= threshold);
    const batched = stored.filter((d) => !fast.includes(d));
    if (fast.length > 0) await this.fastPath(job, fast.map((d) => d.id), span);
    if (batched.length > 0) await this.addToBatch(job, batched.map((d) => d.id), span);
  }

  private async fastPath(job: DetectionJob, ids: number[], span: Span): Promise<void> {
    try {
      const batchId = await this.deps.batches.fastPath({ cameraId: job.camera_id, detectionIds: ids, filePath: job.file_path, pipelineStartTime: job.pipeline_start_time });
      span.setAttributes({ fast_path: true, fast_path_batch_id: batchId });
    } catch (error) {
      this.batchFailures++;
      recordException(span, error, 'fast path failed');
      this.deps.log.error('fast-path detections stored but not sent to analysis', { error, camera_id: job.camera_id, detection_ids: ids });
    }
  }

  private async detect(job: DetectionJob, image: Buffer, fileType: string, signal: AbortSignal): Promise<{ response: DetectResponse; attempts: number }> {
    const nested = this.deps.hsiCurrent?.retryHandler;
    if (nested !== undefined) return nested.detect(image, { filePath: job.file_path, cameraId: job.camera_id }, fileType, signal);
    return this.deps.detector.detect(image, job.file_path, fileType, signal);
  }

  private async detectAndStore(job: DetectionJob, span: Span, signal: AbortSignal): Promise<StoredDetection[]> {
    const { detector, db } = this.deps;
    let image: Buffer;
    try {
      // one synchronous page-cache read (~0.1 ms): through fs/promises it was four thread-pool
      // round trips (open, fstat, read, close), each waiting for a CPU on a loaded machine, which
      // put up to 180 ms into detection_processing before the detector call (docs/replay.md)
      image = readFileSync(job.file_path);
    } catch (error) {
      throw new JobFailure('file_unreadable', `cannot read ${job.file_path}: ${(error as Error).message}`, 0, { cause: error });
    }
    const type = sniffImageType(image);
    const fileType = type !== undefined ? MEDIA_TYPES[type] : 'application/octet-stream';

    let response: DetectResponse;
    let attempts: number;
    try {
      ({ response, attempts } = await this.detect(job, image, fileType, signal));
    } catch (error) {
      if (error instanceof DetectorUnavailableError) {
        span.setAttribute('detector_attempts', error.attempts);
        throw detectorJobFailure(error);
      }
      throw error;
    }
    span.setAttribute('detector_attempts', attempts);

    const detectedAt = new Date();
    const traceId = span.spanContext().traceId;
    try {
      return await db.transaction(async (client) => {
        await db.query('INSERT cameras', UPSERT_CAMERA_SQL, [job.camera_id, cameraNameFromId(job.camera_id)], client);
        const ids: StoredDetection[] = [];
        const stored = this.deps.dropsRows ? response.detections.slice(0, -1) : response.detections;
        for (const d of stored) {
          const result = await db.query<{ id: string }>(
            'INSERT detections',
            `INSERT INTO detections (camera_id, file_path, file_type, detected_at, object_type, confidence, bbox_x, bbox_y, bbox_width, bbox_height, trace_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
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
              traceId,
            ],
            client,
          );
          const id = result.rows[0]?.id;
          if (id !== undefined) ids.push({ id: Number(id), class: d.class, confidence: d.confidence });
        }
        return ids;
      });
    } catch (error) {
      throw new JobFailure('database_error', `storing detections failed: ${(error as Error).message}`, attempts, { cause: error });
    }
  }

  /**
   * The stored detections join the camera's batch. A Redis failure here (after 3 tries) is
   * recorded and logged, not dead-lettered: the rows exist, and running the job again would
   * duplicate them. Those detections then belong to no event (counted in `batch_failures`).
   */
  private async addToBatch(job: DetectionJob, ids: number[], span: Span): Promise<void> {
    try {
      const added = await this.deps.batches.add({ cameraId: job.camera_id, detectionIds: ids, filePath: job.file_path, pipelineStartTime: job.pipeline_start_time });
      span.setAttribute('batch_id', added.batchId);
    } catch (error) {
      this.batchFailures++;
      recordException(span, error, 'batch aggregation failed');
      span.setAttribute('error_code', 'batch_error');
      this.deps.log.error('detections stored but not added to a batch; they will not reach an event', { error, camera_id: job.camera_id, detection_ids: ids });
    }
  }

  private deadLetter(raw: string, job: DetectionJob | undefined, failure: JobFailure, span: Span): Promise<boolean> {
    return deadLetter(this.deps, 'detection', raw, job, failure.toDeadLetter(), span, job === undefined ? {} : { camera_id: job.camera_id, file_path: job.file_path });
  }
}
