import { SpanKind, context, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { Logger } from '../common/log.ts';
import { AbortedError, sleep } from '../common/timing.ts';
import { inSpan, recordException } from '../telemetry/tracing.ts';
import { cameraNameFromId, UPSERT_CAMERA_SQL, type Database } from './db.ts';
import { JobFailure } from './detection-worker.ts';
import { LlmUnavailableError, type LlmClient } from './llm-client.ts';
import { HSI_CURRENT } from '../../harness/contract/profiles.ts';
import { type AnalysisJob, analysisJobSchema, receiveJob, deadLetter, type RedisConnections } from './queue.ts';
import type { BackendQueues } from './queue-dialect.ts';
import type { JobHandler, JobOutcome } from './queue-worker.ts';
import { buildPrompt, FALLBACK_ASSESSMENT, parseRiskAssessment, type PromptDetection, type RiskAssessment } from './risk-analysis.ts';
import { retryDelayMs } from './retry.ts';

/**
 * The analysis worker, as HSI's AnalysisQueueWorker: an analysis_queue message (one closed batch)
 * → the batch's detections from PostgreSQL → Nemotron prompt → risk JSON (or the fallback: risk
 * 50, "Analysis unavailable", when the LLM fails) → one `events` row plus `event_detections`
 * links in one transaction. `SET batch_event:{batch_id} NX EX 3600` and the unique
 * `events.batch_id` keep a batch from becoming two events. Database failures are retried, then
 * the message goes to dlq:analysis_queue.
 */

export const SPAN_ANALYSIS_PROCESSING = 'analysis_processing';
export const SPAN_EVENT_CREATION = 'event_creation';
export const BATCH_EVENT_TTL_SECONDS = 3600;
/** Attempts of each database step (load, event insert). */
export const ANALYSIS_DB_ATTEMPTS = 3;

export const batchEventKey = (batchId: string): string => `batch_event:${batchId}`;

export interface AnalysisWorkerDeps {
  tracer: Tracer;
  log: Logger;
  db: Database;
  redis: RedisConnections;
  llm: LlmClient;
  retryWithoutBackoff?: boolean;
  /** called with each created event (the /ws/events broadcast) */
  onEvent?: (event: Record<string, unknown>) => void;
  /** HSI_DEFECT_LLM_FAILURE_DEAD_LETTERS: an LLM failure dead-letters the batch instead of creating the fallback event. */
  llmFailureDeadLetters?: boolean;
  /**
   * HSI_DEFECT_ANALYSIS_RAISES: the analysis raises after loading the detections (an unexpected
   * exception); with HSI_DEFECT_ANALYSIS_RAISES_CAMERA only for that camera's batches.
   */
  analysisRaises?: boolean | { cameraId: string };
  /** Keys, payload form and dead-letter shape of the profile. */
  queues: BackendQueues;
  /** Profile hsi-current: invalid messages and analysis exceptions are logged and dropped (no dead letter); the real fallback summary. */
  hsiCurrent?: boolean;
}

/** The defect's exception: what an unexpected bug in the analysis looks like. */
export class AnalysisDefectError extends Error {
  override name = 'AnalysisDefectError';
}

interface LoadedDetection extends PromptDetection {
  camera_id: string;
}

export class AnalysisJobHandler implements JobHandler {
  private readonly deps: AnalysisWorkerDeps;
  counters = { events: 0, fallbacks: 0, duplicates: 0, dropped: 0 };

  constructor(deps: AnalysisWorkerDeps) {
    this.deps = deps;
  }

  async handle(raw: string, signal: AbortSignal): Promise<JobOutcome> {
    const { tracer, log, redis } = this.deps;
    const { job, parseError, parent, attributes } = receiveJob(analysisJobSchema, this.deps.queues.key('analysis'), raw);
    if (job !== undefined) {
      attributes['batch_id'] = job.batch_id;
      attributes['camera_id'] = job.camera_id;
      attributes['detection_count'] = job.detection_ids.length;
      attributes['detection_ids'] = job.detection_ids;
      if (job.close_reason !== undefined) attributes['close_reason'] = job.close_reason;
    }
    const span = tracer.startSpan(SPAN_ANALYSIS_PROCESSING, { kind: SpanKind.CONSUMER, attributes }, parent);
    return context.with(trace.setSpan(parent, span), async (): Promise<JobOutcome> => {
      let guarded = false;
      try {
        if (job === undefined) {
          const reason = `invalid analysis_queue message: ${parseError ?? 'unknown'}`;
          if (this.deps.hsiCurrent) return this.drop(span, 'invalid_message', reason, undefined);
          throw new JobFailure('invalid_message', reason, 0);
        }
        // Duplicate guard (HSI): the first worker to set the key owns the batch.
        try {
          const set = await redis.main.set(batchEventKey(job.batch_id), String(Date.now()), 'EX', BATCH_EVENT_TTL_SECONDS, 'NX');
          if (set === null) {
            span.addEvent('duplicate_skipped', { batch_id: job.batch_id, reason: 'batch_event key exists' });
            span.setAttribute('analysis.duplicate', true);
            this.counters.duplicates++;
            log.info('analysis job skipped: the batch already has an event', { batch_id: job.batch_id });
            return 'skipped';
          }
          guarded = true;
        } catch (error) {
          // Redis trouble: go on; the unique events.batch_id still refuses a second event.
          span.addEvent('duplicate_guard_unavailable', { 'error.type': (error as Error).name, 'exception.message': (error as Error).message });
        }
        const outcome = await this.analyze(job, span, signal);
        return outcome;
      } catch (error) {
        if (error instanceof AbortedError) {
          span.addEvent('requeued_on_shutdown');
          if (job !== undefined && guarded) await redis.main.del(batchEventKey(job.batch_id)).catch(() => undefined);
          try {
            await redis.main.lpush(this.deps.queues.key('analysis'), raw);
            log.info('analysis job requeued on shutdown', { batch_id: job?.batch_id });
            return 'requeued';
          } catch (e) {
            recordException(span, e);
            log.error('could not requeue the analysis job on shutdown; it is lost', { error: e, batch_id: job?.batch_id });
            return 'lost';
          }
        }
        const failure = error instanceof JobFailure ? error : new JobFailure('processing_error', (error as Error).message ?? String(error), 0, { cause: error });
        // The real HSI's analysis worker logs the exception and goes on: the batch is gone.
        if (this.deps.hsiCurrent) return this.drop(span, failure.code, failure.message, job);
        recordException(span, failure);
        span.setAttribute('error_code', failure.code);
        // Release the guard so that a requeue from the DLQ can create the event.
        if (job !== undefined && guarded) await redis.main.del(batchEventKey(job.batch_id)).catch(() => undefined);
        return (await this.deadLetter(raw, job, failure, span)) ? 'dead_lettered' : 'lost';
      } finally {
        span.end();
      }
    });
  }

  /** Profile hsi-current: logged and dropped, no dead letter (the span records the error). */
  private drop(span: Span, code: string, reason: string, job: AnalysisJob | undefined): JobOutcome {
    this.counters.dropped++;
    recordException(span, new Error(reason));
    span.setAttribute('error_code', code);
    span.addEvent('message_dropped', { reason: reason.slice(0, 300), error_code: code });
    this.deps.log.error('analysis failed; batch dropped (no dead letter)', { error_code: code, error: reason.slice(0, 300), batch_id: job?.batch_id, detection_ids: job?.detection_ids });
    return 'dropped';
  }

  private async analyze(job: AnalysisJob, span: Span, signal: AbortSignal): Promise<JobOutcome> {
    const { log } = this.deps;
    const detections = await this.withDbRetries('load detections', signal, () => this.loadDetections(job.detection_ids));
    if (detections.length === 0) throw new JobFailure('detections_not_found', `none of the ${job.detection_ids.length} detections of ${job.batch_id} exist`, 1);
    const raises = this.deps.analysisRaises;
    if (raises === true || (typeof raises === 'object' && raises.cameraId === job.camera_id)) throw new AnalysisDefectError(`analysis of batch ${job.batch_id} raised (defect HSI_DEFECT_ANALYSIS_RAISES)`);
    if (detections.length < job.detection_ids.length) span.setAttribute('analysis.missing_detections', job.detection_ids.length - detections.length);

    const prompt = buildPrompt({ batchId: job.batch_id, cameraId: job.camera_id, detections });
    let assessment: RiskAssessment;
    let isFallback = false;
    try {
      const outcome = await this.deps.llm.complete(prompt, parseRiskAssessment, signal);
      assessment = outcome.value;
      span.setAttribute('llm_attempts', outcome.attempts);
    } catch (error) {
      if (error instanceof AbortedError) throw error;
      if (!(error instanceof LlmUnavailableError)) throw error;
      if (this.deps.llmFailureDeadLetters) throw new JobFailure(`llm_${error.last.code}`, error.message, error.attempts, { cause: error });
      // HSI: the event is still created, with the default risk. The step succeeded; llm_inference spans carry the errors.
      assessment = { ...FALLBACK_ASSESSMENT, ...(this.deps.hsiCurrent ? { summary: HSI_CURRENT.fallbackSummary } : {}) };
      isFallback = true;
      this.counters.fallbacks++;
      span.setAttribute('llm_attempts', error.attempts);
      span.addEvent('llm.fallback', {
        'error.type': error.last.code,
        'exception.message': error.message.slice(0, 500),
        llm_attempts: error.attempts,
        risk_score: assessment.risk_score,
      });
      log.warn('LLM unavailable; event created with the fallback risk', { batch_id: job.batch_id, error_code: error.last.code, attempts: error.attempts });
    }
    span.setAttributes({ risk_score: assessment.risk_score, risk_level: assessment.risk_level, is_fallback: isFallback });

    const startedAt = detections.reduce((min, d) => (d.detected_at < min ? d.detected_at : min), detections[0]!.detected_at);
    const endedAt = detections.reduce((max, d) => (d.detected_at > max ? d.detected_at : max), detections[0]!.detected_at);
    const created = await this.withDbRetries('create event', signal, () =>
      this.createEvent({
        job,
        assessment,
        isFallback,
        startedAt,
        endedAt,
        detectionIds: detections.map((d) => d.id),
        traceId: span.spanContext().traceId,
      }),
    );
    if (created === undefined) {
      span.addEvent('duplicate_skipped', { batch_id: job.batch_id, reason: 'events.batch_id exists' });
      this.counters.duplicates++;
      return 'skipped';
    }
    span.setAttribute('event_id', created);
    this.counters.events++;
    this.deps.onEvent?.({
      id: created,
      event_id: created,
      camera_id: job.camera_id,
      batch_id: job.batch_id,
      risk_score: assessment.risk_score,
      risk_level: assessment.risk_level,
      summary: assessment.summary,
      started_at: startedAt.toISOString(),
      is_fallback: isFallback,
      detection_count: detections.length,
      detection_ids: detections.map((d) => d.id),
    });
    log.info('event created', { batch_id: job.batch_id, event_id: created, risk_score: assessment.risk_score, is_fallback: isFallback, detections: detections.length });
    return 'processed';
  }

  private async loadDetections(ids: readonly number[]): Promise<LoadedDetection[]> {
    const result = await this.deps.db.query<LoadedDetection & { id: string }>(
      'SELECT detections',
      `SELECT id, camera_id, file_path, detected_at, object_type, confidence, bbox_x, bbox_y, bbox_width, bbox_height
       FROM detections WHERE id = ANY($1::bigint[]) ORDER BY detected_at, id`,
      [ids],
    );
    return result.rows.map((r) => ({ ...r, id: Number(r.id) }));
  }

  /** Inserts the event and its links in one transaction, in a span `event_creation`; undefined if the batch already has an event. */
  private async createEvent(e: {
    job: AnalysisJob;
    assessment: RiskAssessment;
    isFallback: boolean;
    startedAt: Date;
    endedAt: Date;
    detectionIds: number[];
    traceId: string;
  }): Promise<number | undefined> {
    const { db, tracer } = this.deps;
    const attributes: Attributes = {
      batch_id: e.job.batch_id,
      camera_id: e.job.camera_id,
      detection_count: e.detectionIds.length,
      risk_score: e.assessment.risk_score,
      risk_level: e.assessment.risk_level,
      is_fallback: e.isFallback,
    };
    return inSpan(tracer, SPAN_EVENT_CREATION, { kind: SpanKind.INTERNAL, attributes }, async (span) => {
      const id = await db.transaction(async (client) => {
        await db.query('INSERT cameras', UPSERT_CAMERA_SQL, [e.job.camera_id, cameraNameFromId(e.job.camera_id)], client);
        const inserted = await db.query<{ id: string }>(
          'INSERT events',
          `INSERT INTO events (batch_id, camera_id, started_at, ended_at, risk_score, risk_level, summary, reasoning, detection_ids, trace_id, is_fallback, close_reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::bigint[], $10, $11, $12)
           ON CONFLICT (batch_id) DO NOTHING RETURNING id`,
          [
            e.job.batch_id,
            e.job.camera_id,
            e.startedAt,
            e.endedAt,
            e.assessment.risk_score,
            e.assessment.risk_level,
            e.assessment.summary,
            e.assessment.reasoning,
            e.detectionIds,
            e.traceId,
            e.isFallback,
            e.job.close_reason ?? null,
          ],
          client,
        );
        const row = inserted.rows[0];
        if (row === undefined) return undefined;
        await db.query(
          'INSERT event_detections',
          `INSERT INTO event_detections (event_id, detection_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`,
          [row.id, e.detectionIds],
          client,
        );
        return Number(row.id);
      });
      if (id === undefined) span.setAttribute('event.duplicate', true);
      else span.setAttribute('event_id', id);
      return id;
    });
  }

  /** Runs a database step up to ANALYSIS_DB_ATTEMPTS times with backoff; then a JobFailure `database_error`. */
  private async withDbRetries<T>(what: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (error instanceof JobFailure || error instanceof AbortedError) throw error;
        if (attempt >= ANALYSIS_DB_ATTEMPTS) {
          throw new JobFailure('database_error', `${what} failed: ${(error as Error).message}`, attempt, { cause: error });
        }
        const delay = retryDelayMs(attempt, this.deps.retryWithoutBackoff ?? false);
        trace.getActiveSpan()?.addEvent('retry_scheduled', { retry_attempt: attempt, 'retry.delay_ms': delay, step: what });
        await sleep(delay, signal);
      }
    }
  }

  private deadLetter(raw: string, job: AnalysisJob | undefined, failure: JobFailure, span: Span): Promise<boolean> {
    return deadLetter(this.deps, 'analysis', raw, job, failure.toDeadLetter(), span, job === undefined ? {} : { batch_id: job.batch_id, camera_id: job.camera_id });
  }
}
