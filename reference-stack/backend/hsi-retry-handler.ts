import { SpanKind, trace, type Tracer } from '@opentelemetry/api';
import { HSI_CURRENT } from '../../harness/contract/profiles.ts';
import { AbortedError, sleep } from '../common/timing.ts';
import { inSpan } from '../telemetry/tracing.ts';
import { CircuitOpenError } from './circuit-breaker.ts';
import { classifyTransportError, DetectorError, DetectorUnavailableError, SPAN_DETECTION_REQUEST, type DetectorClient, type DetectOutcome } from './detector-client.ts';
import { detectorClientDelayMs, retryHandlerDelayMs } from './retry.ts';

/**
 * Profile hsi-current: the real HSI's detector retries. The detector client makes up to 3
 * attempts (waits 1 s, 2 s, no jitter; 4xx not retried) inside one `yolo26_detection_request`
 * span, and services/retry_handler.py's RetryHandler(max_retries=3) calls the client up to 3
 * times (waits 1 s, 2 s, +0..25 % jitter; every failure retried): up to 9 detector calls before
 * the dead letter, which records the RetryHandler's 3 attempts.
 */

export interface NestedFailure {
  calls: number;
  rounds: number;
  delaysMs: number[];
  firstFailedAt: string;
}

export class NestedDetectorFailure extends DetectorUnavailableError {
  readonly nested: NestedFailure;
  constructor(last: DetectorError, nested: NestedFailure) {
    super(nested.calls, last);
    this.nested = nested;
  }
}

export interface HsiRetryHandlerOptions {
  tracer: Tracer;
  client: DetectorClient;
  /** HSI_DEFECT_RETRY_WITHOUT_BACKOFF */
  withoutBackoff?: boolean;
  random?: () => number;
}

interface RunState {
  calls: number;
  delaysMs: number[];
  firstFailedAt: string | undefined;
}

export class HsiRetryHandler {
  private readonly o: HsiRetryHandlerOptions;

  constructor(options: HsiRetryHandlerOptions) {
    this.o = options;
  }

  /** Detects with the nested retries; throws NestedDetectorFailure, or AbortedError when the signal aborts. */
  async detect(image: Buffer, job: { filePath: string; cameraId: string }, mediaType: string, signal?: AbortSignal): Promise<DetectOutcome> {
    const rounds = HSI_CURRENT.retryHandler.maxRetries;
    const state: RunState = { calls: 0, delaysMs: [], firstFailedAt: undefined };
    for (let round = 1; ; round++) {
      try {
        const response = await this.clientCall(image, job, mediaType, round, state, signal);
        return { response, attempts: state.calls };
      } catch (error) {
        if (signal?.aborted || error instanceof AbortedError) throw new AbortedError('detection aborted');
        const last = error instanceof DetectorError ? error : classifyTransportError(error);
        state.firstFailedAt ??= new Date().toISOString();
        if (round >= rounds) throw new NestedDetectorFailure(last, { calls: state.calls, rounds: round, delaysMs: state.delaysMs, firstFailedAt: state.firstFailedAt });
        const delay = retryHandlerDelayMs(round, this.o.withoutBackoff, this.o.random);
        state.delaysMs.push(delay);
        trace.getActiveSpan()?.addEvent('retry_scheduled', { retry_attempt: round, 'retry.delay_ms': delay, 'error.type': last.code, 'retry.layer': 'retry_handler' });
        await sleep(delay, signal);
      }
    }
  }

  /** One call of the detector client: up to 3 attempts in one CLIENT span. */
  private clientCall(image: Buffer, job: { filePath: string; cameraId: string }, mediaType: string, round: number, state: RunState, signal?: AbortSignal) {
    const { client, tracer } = this.o;
    const attributes = { ...client.requestAttributes(), retry_attempt: round - 1, camera_id: job.cameraId, image_path: job.filePath, pipeline_stage: 'detection', 'ai.inference.image_bytes': image.length };
    return inSpan(tracer, SPAN_DETECTION_REQUEST, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      const attempts = HSI_CURRENT.detectorClient.attempts;
      for (let attempt = 1; ; attempt++) {
        state.calls++;
        span.setAttributes({ attempt, detector_attempts: attempt });
        try {
          return await client.guardedPost(image, job.filePath, mediaType, span, signal);
        } catch (error) {
          if (signal?.aborted || error instanceof AbortedError) throw new AbortedError('detection aborted');
          const failure = error instanceof CircuitOpenError ? new DetectorError(error.message, 'circuit_open', true, undefined, { cause: error }) : classifyTransportError(error);
          state.firstFailedAt ??= new Date().toISOString();
          if (!failure.retryable || attempt >= attempts) throw failure;
          const delay = detectorClientDelayMs(attempt, this.o.withoutBackoff);
          state.delaysMs.push(delay);
          span.addEvent('retry_scheduled', { retry_attempt: attempt, 'retry.delay_ms': delay, 'error.type': failure.code, 'retry.layer': 'detector_client' });
          await sleep(delay, signal);
        }
      }
    });
  }
}
