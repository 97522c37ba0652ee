import type { Redis } from 'ioredis';
import { dialectByName, HSI_QUEUE_ROLES, OPEN_BATCH_KEY_PATTERN, REFERENCE_DIALECT, type DialectChoice, type DialectName, type DlqKey, type HsiDialect, type HsiQueueRole } from '../contract/dialects.ts';
import { parseStoredDlqEntry, type DlqEntryFields } from '../contract/dlq-entry.ts';
import { QueueStatusResponse } from '../contract/hsi-api.ts';

/**
 * Reading an HSI stack's Redis in its dialect: queue lengths for the drain, dead letters for
 * nothing-lost (every DLQ key of the dialect, compressed or not, flat or nested), and the
 * detection of the dialect itself when the config says `auto`.
 */

export type RedisReader = Pick<Redis, 'llen' | 'lrange' | 'scan'>;

/** A dead letter as read: the entry's fields plus where it was. */
export interface StoredDlqEntry extends DlqEntryFields {
  raw: string;
  payload?: Record<string, unknown>;
  /** The Redis list it was in. */
  key: string;
  kind: DlqKey['kind'];
  role: HsiQueueRole;
}

export async function scanCount(redis: Pick<Redis, 'scan'>, pattern: string, limit = Number.POSITIVE_INFINITY): Promise<{ count: number; sample: string[] }> {
  let cursor = '0';
  let count = 0;
  const sample: string[] = [];
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    count += keys.length;
    for (const k of keys) if (sample.length < 3) sample.push(k);
  } while (cursor !== '0' && count < limit);
  return { count, sample };
}

/** Lengths of the dialect's work queues (by their keys) plus the number of open batches (by the pattern). */
export async function dialectQueueLengths(redis: RedisReader, dialect: HsiDialect = REFERENCE_DIALECT, batchPattern = OPEN_BATCH_KEY_PATTERN): Promise<Record<string, number>> {
  const keys = HSI_QUEUE_ROLES.map((role) => dialect.queueKey(role));
  const lens = await Promise.all(keys.map((k) => redis.llen(k)));
  const out: Record<string, number> = {};
  keys.forEach((k, i) => (out[k] = lens[i] ?? 0));
  out[batchPattern] = (await scanCount(redis, batchPattern)).count;
  return out;
}

/** Every dead letter of the dialect's DLQ keys, by queue role, decoded. */
export async function readDeadLetters(redis: RedisReader, dialect: HsiDialect = REFERENCE_DIALECT): Promise<Record<HsiQueueRole, StoredDlqEntry[]>> {
  const out: Record<HsiQueueRole, StoredDlqEntry[]> = { detection: [], analysis: [] };
  for (const role of HSI_QUEUE_ROLES) {
    const keys = dialect.dlqKeys(role);
    const lists = await Promise.all(keys.map((k) => redis.lrange(k.key, 0, -1)));
    keys.forEach((k, i) => {
      for (const raw of lists[i] ?? []) out[role].push({ ...parseStoredDlqEntry(raw), raw, key: k.key, kind: k.kind, role });
    });
  }
  return out;
}

export interface DialectEvidence {
  /** Undefined: the evidence says nothing either way. */
  dialect?: DialectName;
  evidence: string;
}

/** The queue-status answer's shape: hsi-current names its analysis queue `ai_analysis` and reports throughput. */
export function dialectFromQueueStatus(body: unknown): DialectEvidence {
  const parsed = QueueStatusResponse.safeParse(body);
  if (!parsed.success) return { evidence: 'queue status: not the contract\'s shape' };
  const names = parsed.data.queues.map((q) => q.name);
  if (names.includes('ai_analysis') || parsed.data.queues.some((q) => q.throughput !== undefined)) return { dialect: 'hsi-current', evidence: `queue status names ${names.join(', ')} with throughput` };
  if (names.includes('analysis')) return { dialect: 'reference', evidence: `queue status names ${names.join(', ')}` };
  return { evidence: `queue status names ${names.join(', ') || 'no queue'}` };
}

/** Redis keys: prefixed queues (`*:queue:*`) or overflow DLQs say hsi-current; bare `detection_queue`/`analysis_queue` say reference. Empty lists do not exist in Redis, so an idle stack says nothing. */
export async function dialectFromRedis(redis: RedisReader): Promise<DialectEvidence> {
  const prefixed = await scanCount(redis, '*:queue:*_queue', 1);
  if (prefixed.count > 0) return { dialect: 'hsi-current', evidence: `Redis holds prefixed queue keys (${prefixed.sample.join(', ')})` };
  const overflow = await scanCount(redis, 'dlq:overflow:*', 1);
  if (overflow.count > 0) return { dialect: 'hsi-current', evidence: `Redis holds overflow DLQs (${overflow.sample.join(', ')})` };
  const bare = await Promise.all(HSI_QUEUE_ROLES.map((r) => redis.llen(REFERENCE_DIALECT.queueKey(r))));
  if (bare.some((n) => n > 0)) return { dialect: 'reference', evidence: 'Redis holds unprefixed queue keys' };
  return { evidence: 'Redis holds no queue key (idle)' };
}

export interface ResolvedDialect {
  dialect: HsiDialect;
  /** `auto` was asked and this was found (or assumed). */
  detected: boolean;
  /** One line: why this dialect. */
  reason: string;
}

export interface DialectProbes {
  queueStatus?: () => Promise<unknown>;
  redis?: RedisReader;
}

/** The configured dialect, or (for `auto`) the first conclusive probe; `reference` when none is. Probe errors count as no evidence. */
export async function resolveDialect(choice: DialectChoice | undefined, probes: DialectProbes = {}): Promise<ResolvedDialect> {
  if (choice !== undefined && choice !== 'auto') return { dialect: dialectByName(choice), detected: false, reason: `dialect ${choice} (configured)` };
  const seen: string[] = [];
  const attempts: (() => Promise<DialectEvidence>)[] = [];
  const { queueStatus, redis } = probes;
  if (queueStatus) attempts.push(async () => dialectFromQueueStatus(await queueStatus()));
  if (redis) attempts.push(() => dialectFromRedis(redis));
  for (const attempt of attempts) {
    try {
      const found = await attempt();
      if (found.dialect) return { dialect: dialectByName(found.dialect), detected: true, reason: `dialect ${found.dialect} (detected: ${found.evidence})` };
      seen.push(found.evidence);
    } catch (error) {
      seen.push(`probe failed: ${(error as Error).message}`);
    }
  }
  return { dialect: REFERENCE_DIALECT, detected: true, reason: `dialect reference (assumed: ${seen.join('; ') || 'nothing to probe'})` };
}
