import { HSI_CURRENT } from './profiles.ts';
import { DEFAULT_COMPRESSION_THRESHOLD_BYTES, type PayloadCompression } from './payload-codec.ts';

/**
 * The two dialects an HSI-compatible stack may speak (HSI-CONTRACT.md; the last section lists
 * where the real HSI differs from the reference stack). Everything that reads a stack's Redis
 * or API asks the dialect for key names and shapes instead of spelling them itself:
 *
 * - `reference`: the reference stack's profile `reference` (plain JSON queues `detection_queue`,
 *   flat dead letters `{...job, error, error_code, attempts, failed_at, queue}`, offset pagination);
 * - `hsi-current`: the real HSI as read from its current sources (queue keys
 *   `hsi:queue:detection_queue`, payloads over 1 KB as "Z:"+base64(zstd), queues capped at
 *   10,000 with overflow to `dlq:overflow:<queue>`, nested dead letters `{original_job, error, ...}`,
 *   queue status names `detection` / `ai_analysis` / `dlq`, cursor pagination of events,
 *   `X-API-Key`, 60 requests/min + burst 10 per client).
 *
 * This module imports nothing of the harness: the reference stack and the harness share it.
 */

export const DIALECT_NAMES = ['reference', 'hsi-current'] as const;
export type DialectName = (typeof DIALECT_NAMES)[number];
/** What a config or flag may say: a dialect, or `auto` (detected from the stack's Redis keys / queue status). */
export type DialectChoice = DialectName | 'auto';
export const DIALECT_CHOICES: readonly DialectChoice[] = [...DIALECT_NAMES, 'auto'];

/** The pipeline's two work queues, by role. */
export type HsiQueueRole = 'detection' | 'analysis';
export const HSI_QUEUE_ROLES: readonly HsiQueueRole[] = ['detection', 'analysis'];

/** Unprefixed queue names (the real HSI's `DETECTION_QUEUE`, `ANALYSIS_QUEUE`). */
export const HSI_QUEUE_NAMES: Readonly<Record<HsiQueueRole, string>> = Object.freeze({ detection: 'detection_queue', analysis: 'analysis_queue' });

export const DLQ_PREFIX = 'dlq:';
export const DLQ_OVERFLOW_PREFIX = 'dlq:overflow:';
/** `REDIS_KEY_PREFIX` default of the real HSI; queues are `<prefix>:queue:<name>`. */
export const DEFAULT_REDIS_KEY_PREFIX = 'hsi';
/** Open batches, one key per camera (`batch:{camera_id}:current`), in both dialects. */
export const OPEN_BATCH_KEY_PATTERN = 'batch:*:current';

/** `dlq:detection_queue` for `detection_queue` (and unchanged when already a DLQ name). */
export function dlqName(queue: string): string {
  return queue.startsWith(DLQ_PREFIX) ? queue : `${DLQ_PREFIX}${queue}`;
}

/** `dlq:overflow:detection_queue` for `detection_queue`, `dlq:detection_queue` or an overflow name. */
export function dlqOverflowName(queue: string): string {
  return `${DLQ_OVERFLOW_PREFIX}${queue.replace(/^dlq:/, '').replace(/^overflow:/, '')}`;
}

/** `hsi:queue:detection_queue` (the real HSI's `get_prefixed_queue_name`). */
export function prefixedQueueName(queue: string, keyPrefix = DEFAULT_REDIS_KEY_PREFIX): string {
  return `${keyPrefix}:queue:${queue}`;
}

/** Where dead letters of one queue may sit, and why they got there. */
export interface DlqKey {
  key: string;
  /** `failed`: retries exhausted (or invalid); `overflow`: the queue was full. */
  kind: 'failed' | 'overflow';
}

export type DlqEntryShape = 'flat' | 'nested';
export type EventsPagination = 'offset' | 'cursor';

export interface HsiDialect {
  readonly name: DialectName;
  /** The Redis list a queue's producer pushes to and its worker pops. */
  queueKey(role: HsiQueueRole): string;
  /** Every list holding the queue's dead letters, in reading order. */
  dlqKeys(role: HsiQueueRole): readonly DlqKey[];
  /** Length cap of a work queue (overflow goes to `dlq:overflow:<queue>`); undefined: none. */
  readonly queueCap: number | undefined;
  /** How producers store payloads; undefined: plain JSON. Readers decode both forms anyway. */
  readonly compression: PayloadCompression | undefined;
  /** How the retry handler writes a dead letter (readers accept both). */
  readonly dlqEntryShape: DlqEntryShape;
  /** `GET /api/queues/status` queue names by role. */
  readonly queueStatusNames: Readonly<{ detection: string; analysis: string; dlq: readonly string[] }>;
  /** Whether queue status entries carry `throughput {jobs_per_minute, avg_processing_seconds}` and `oldest_job`. */
  readonly queueStatusThroughput: boolean;
  readonly eventsPagination: EventsPagination;
  /** `GET /api/system/gpu` field names of the measured values. */
  readonly gpuFields: Readonly<{ utilization: string; memoryUsed: string; memoryTotal: string; temperature: string; power?: string; inferenceFps: string }>;
  /** Header carrying the API key when the stack wants one. */
  readonly apiKeyHeader: string;
  /** Per-client rate limit the stack enforces by default (429 beyond it); undefined: none. */
  readonly rateLimit: Readonly<{ requestsPerMinute: number; burst: number }> | undefined;
}

export const HSI_API_KEY_HEADER = 'X-API-Key';
/** The real HSI's default queue cap (`QUEUE_MAX_SIZE`). */
export const HSI_QUEUE_MAX_SIZE = 10_000;
export const HSI_RATE_LIMIT = Object.freeze({ requestsPerMinute: HSI_CURRENT.rateLimit.perMinute, burst: HSI_CURRENT.rateLimit.burst });

export const REFERENCE_DIALECT: HsiDialect = Object.freeze({
  name: 'reference',
  queueKey: (role: HsiQueueRole) => HSI_QUEUE_NAMES[role],
  dlqKeys: (role: HsiQueueRole): readonly DlqKey[] => [{ key: dlqName(HSI_QUEUE_NAMES[role]), kind: 'failed' }],
  queueCap: undefined,
  compression: undefined,
  dlqEntryShape: 'flat',
  queueStatusNames: Object.freeze({ detection: 'detection', analysis: 'analysis', dlq: Object.freeze(['dlq', 'dlq_analysis']) }),
  queueStatusThroughput: false,
  eventsPagination: 'offset',
  gpuFields: Object.freeze({ utilization: 'gpu_utilization', memoryUsed: 'memory_used', memoryTotal: 'memory_total', temperature: 'temperature', inferenceFps: 'inference_fps' }),
  apiKeyHeader: HSI_API_KEY_HEADER,
  rateLimit: undefined,
} satisfies HsiDialect);

/**
 * The real HSI's DLQ keys: its retry handler writes `dlq:<queue>` unprefixed; the overflow of a
 * full queue goes to `dlq:overflow:<queue>`. A prefixed `hsi:queue:dlq:<queue>` is read as well
 * (the prefix function maps any name, and a deployment may route its DLQ through it).
 */
export function hsiCurrentDialect(keyPrefix = DEFAULT_REDIS_KEY_PREFIX): HsiDialect {
  return Object.freeze({
    name: 'hsi-current',
    queueKey: (role: HsiQueueRole) => prefixedQueueName(HSI_QUEUE_NAMES[role], keyPrefix),
    dlqKeys: (role: HsiQueueRole): readonly DlqKey[] => [
      { key: dlqName(HSI_QUEUE_NAMES[role]), kind: 'failed' },
      { key: prefixedQueueName(dlqName(HSI_QUEUE_NAMES[role]), keyPrefix), kind: 'failed' },
      { key: dlqOverflowName(HSI_QUEUE_NAMES[role]), kind: 'overflow' },
    ],
    queueCap: HSI_QUEUE_MAX_SIZE,
    compression: Object.freeze({ thresholdBytes: DEFAULT_COMPRESSION_THRESHOLD_BYTES }),
    dlqEntryShape: 'nested',
    queueStatusNames: Object.freeze({ detection: 'detection', analysis: 'ai_analysis', dlq: Object.freeze(['dlq']) }),
    queueStatusThroughput: true,
    eventsPagination: 'cursor',
    gpuFields: Object.freeze({ utilization: 'utilization', memoryUsed: 'memory_used', memoryTotal: 'memory_total', temperature: 'temperature', power: 'power_usage', inferenceFps: 'inference_fps' }),
    apiKeyHeader: HSI_API_KEY_HEADER,
    rateLimit: HSI_RATE_LIMIT,
  } satisfies HsiDialect);
}

export const HSI_CURRENT_DIALECT: HsiDialect = hsiCurrentDialect();

export function dialectByName(name: DialectName): HsiDialect {
  return name === 'hsi-current' ? HSI_CURRENT_DIALECT : REFERENCE_DIALECT;
}

export function isDialectChoice(value: string): value is DialectChoice {
  return (DIALECT_CHOICES as readonly string[]).includes(value);
}

/** The queue role a key belongs to in any dialect (`hsi:queue:analysis_queue` → analysis), or undefined. */
export function queueRoleOfKey(key: string): HsiQueueRole | undefined {
  const bare = key.replace(/^.*:queue:/, '').replace(/^dlq:(overflow:)?/, '');
  return HSI_QUEUE_ROLES.find((role) => HSI_QUEUE_NAMES[role] === bare);
}
