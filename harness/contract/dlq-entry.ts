import { z } from 'zod';
import { decodePayload } from './payload-codec.ts';

/**
 * Dead-letter entries in both dialects, read into one shape.
 *
 * - flat (reference stack): the failed job's own fields plus `error`, `error_code`, `attempts`,
 *   `failed_at`, `queue`;
 * - nested (real HSI, `services/retry_handler.py`): `{original_job, error, attempt_count,
 *   first_failed_at, last_failed_at, queue_name, error_type, stack_trace, http_status,
 *   response_body, retry_delays, context}`;
 * - an overflow entry (`dlq:overflow:<queue>`) is the job itself, as the full queue held it.
 *
 * Any of them may be stored compressed ("Z:"+base64(zstd)).
 */

export const NestedDlqEntrySchema = z
  .object({
    original_job: z.record(z.string(), z.unknown()),
    error: z.string(),
    attempt_count: z.number().int().nonnegative(),
    first_failed_at: z.string(),
    last_failed_at: z.string(),
    queue_name: z.string(),
    error_type: z.string().nullable().optional(),
    stack_trace: z.string().nullable().optional(),
    http_status: z.number().int().nullable().optional(),
    response_body: z.string().nullable().optional(),
    retry_delays: z.array(z.number()).nullable().optional(),
    context: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .loose();
export type NestedDlqEntry = z.infer<typeof NestedDlqEntrySchema>;

/** Fields the reference stack's flat dead letter adds to the job (stripped again on requeue). */
export const FLAT_DLQ_FIELDS = ['error', 'error_code', 'attempts', 'failed_at', 'queue'] as const;

export interface DlqEntryFields {
  /** How the entry was written. */
  shape: 'flat' | 'nested' | 'unparsed';
  /** Stored as "Z:"+base64(zstd). */
  compressed: boolean;
  /** The failed job's payload (`original_job`, or the flat entry without the dead-letter fields). */
  job?: Record<string, unknown>;
  error?: string;
  /** `error_code` (reference) or `error_type` (real HSI). */
  errorCode?: string;
  attempts?: number;
  httpStatus?: number;
  parseError?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** The fields of a parsed entry object, either shape. */
export function dlqEntryFieldsOf(payload: Record<string, unknown>, compressed = false): DlqEntryFields {
  if (isRecord(payload['original_job'])) {
    return withoutUndefined({
      shape: 'nested' as const,
      compressed,
      job: payload['original_job'],
      error: text(payload['error']),
      errorCode: text(payload['error_type']) ?? text(payload['error_code']),
      attempts: count(payload['attempt_count']),
      httpStatus: count(payload['http_status']),
    });
  }
  const job = Object.fromEntries(Object.entries(payload).filter(([k]) => !(FLAT_DLQ_FIELDS as readonly string[]).includes(k)));
  return withoutUndefined({
    shape: 'flat' as const,
    compressed,
    job,
    error: text(payload['error']),
    errorCode: text(payload['error_code']) ?? text(payload['error_type']),
    attempts: count(payload['attempts']),
  });
}

/** A stored entry (plain or compressed JSON) read into `DlqEntryFields` plus the parsed object. */
export function parseStoredDlqEntry(raw: string): DlqEntryFields & { payload?: Record<string, unknown> } {
  const decoded = decodePayload(raw);
  if (!decoded.ok) return { shape: 'unparsed', compressed: decoded.compressed, parseError: decoded.error };
  if (!isRecord(decoded.value)) return { shape: 'unparsed', compressed: decoded.compressed, parseError: 'not a JSON object' };
  return { ...dlqEntryFieldsOf(decoded.value, decoded.compressed), payload: decoded.value };
}

/** A nested entry as the real HSI's retry handler writes it (for the hsi-current profile and tests). */
export function nestedDlqEntry(job: Record<string, unknown>, failure: { error: string; attempts: number; queue: string; firstFailedAt: string; lastFailedAt?: string; errorType?: string; httpStatus?: number; responseBody?: string; retryDelays?: number[]; stackTrace?: string; context?: Record<string, unknown> }): NestedDlqEntry {
  return {
    original_job: job,
    error: failure.error,
    attempt_count: failure.attempts,
    first_failed_at: failure.firstFailedAt,
    last_failed_at: failure.lastFailedAt ?? failure.firstFailedAt,
    queue_name: failure.queue,
    error_type: failure.errorType ?? null,
    stack_trace: failure.stackTrace ?? null,
    http_status: failure.httpStatus ?? null,
    response_body: failure.responseBody ?? null,
    retry_delays: failure.retryDelays ?? null,
    context: failure.context ?? null,
  };
}
