import { dialectByName, dlqName, dlqOverflowName, HSI_QUEUE_NAMES, type HsiDialect, type HsiQueueRole } from '../../harness/contract/dialects.ts';
import { nestedDlqEntry } from '../../harness/contract/dlq-entry.ts';
import { encodePayload } from '../../harness/contract/payload-codec.ts';
import type { StackProfile } from '../../harness/contract/profiles.ts';
import type { QueueTarget } from './queue.ts';

/**
 * The Redis side of a profile: which keys the queues and dead letters use and how payloads and
 * dead-letter entries are written. Profile `reference`: `detection_queue`, plain JSON, flat dead
 * letters. Profile `hsi-current` (the real HSI): `hsi:queue:detection_queue`, payloads over 1 KB
 * as "Z:"+base64(zstd) (harness/contract/payload-codec.ts), queues capped at 10,000 with the
 * overflow in `dlq:overflow:<queue>`, nested dead letters `{original_job, error, attempt_count,
 * ...}` in `dlq:<queue>`. Readers decode both forms whatever the profile.
 */

export interface DeadLetterFailure {
  message: string;
  code: string;
  attempts: number;
  /** ISO time of the first failed attempt (nested entries); default now. */
  firstFailedAt?: string;
  httpStatus?: number;
  retryDelaysMs?: number[];
}

export class BackendQueues {
  readonly dialect: HsiDialect;

  constructor(profile: StackProfile) {
    this.dialect = dialectByName(profile);
  }

  /** The list a role's producer pushes to and its workers pop. */
  key(role: HsiQueueRole): string {
    return this.dialect.queueKey(role);
  }

  /** Where failed jobs of a role go (`dlq:detection_queue` in both profiles). */
  dlq(role: HsiQueueRole): string {
    return dlqName(HSI_QUEUE_NAMES[role]);
  }

  /** Where a full queue's new jobs go (hsi-current). */
  overflow(role: HsiQueueRole): string {
    return dlqOverflowName(HSI_QUEUE_NAMES[role]);
  }

  /** The contract's name of the queue (span names say `detection_queue publish` in both profiles). */
  logicalName(role: HsiQueueRole): string {
    return HSI_QUEUE_NAMES[role];
  }

  get cap(): number | undefined {
    return this.dialect.queueCap;
  }

  /** Where a producer of the role pushes: key, span name, stored form, cap and overflow (queue.ts `publish`). */
  target(role: HsiQueueRole): QueueTarget {
    const cap = this.cap;
    return { key: this.key(role), name: this.logicalName(role), encode: (m) => this.encode(m), ...(cap !== undefined ? { cap, overflowKey: this.overflow(role) } : {}) };
  }

  /** DLQ key → the queue key its entries are requeued to. */
  dlqSources(): Record<string, string> {
    return { [this.dlq('detection')]: this.key('detection'), [this.dlq('analysis')]: this.key('analysis') };
  }

  /** The stored form of a message. */
  encode(message: Record<string, unknown>): string {
    return encodePayload(message, this.dialect.compression);
  }

  /** A dead letter in the profile's shape: flat (job + error fields) or nested (the real retry handler's). */
  deadLetterEntry(role: HsiQueueRole, job: Record<string, unknown> | undefined, raw: string, failure: DeadLetterFailure): Record<string, unknown> {
    const now = new Date().toISOString();
    const original = job ?? { raw };
    if (this.dialect.dlqEntryShape === 'flat') {
      return { ...original, error: failure.message, error_code: failure.code, attempts: failure.attempts, failed_at: now, queue: this.logicalName(role) };
    }
    return {
      ...nestedDlqEntry(original, {
        error: failure.message,
        attempts: failure.attempts,
        queue: this.logicalName(role),
        firstFailedAt: failure.firstFailedAt ?? now,
        lastFailedAt: now,
        errorType: failure.code,
        ...(failure.httpStatus !== undefined ? { httpStatus: failure.httpStatus } : {}),
        ...(failure.retryDelaysMs !== undefined ? { retryDelays: failure.retryDelaysMs.map((ms) => ms / 1000) } : {}),
      }),
    };
  }
}
