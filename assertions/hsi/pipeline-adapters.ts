import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { EnvironmentError, errorMessage } from '../../harness/errors.ts';
import { dlqName, HSI_QUEUE_NAMES, HSI_QUEUE_ROLES, HSI_ROUTES, HsiHttpClient, OPEN_BATCH_KEY_PATTERN, readDeadLetters, REFERENCE_DIALECT, scanCount, type HsiDialect, type StoredDlqEntry } from './contract.ts';
import { parseDlqEntry, type DetectionRow, type DlqEntry, type EventDetectionRow, type EventRow, type PipelineOutcome } from '../lost/outcome.ts';

/**
 * I/O for the nothing-lost family: read what the pipeline holds (PostgreSQL + Redis) and wait
 * until the queues have drained. Connection strings carry passwords: they never appear in errors.
 */

export const DLQ_DETECTION = dlqName(HSI_QUEUE_NAMES.detection);
export const DLQ_ANALYSIS = dlqName(HSI_QUEUE_NAMES.analysis);

export interface ReadPipelineOutcomeOptions {
  pgConnectionString: string;
  redisUrl: string;
  /** Only rows for these file paths (and their links/events); default every row. */
  filePaths?: readonly string[];
  /** Connect and statement timeout; default 10 000 ms. */
  timeoutMs?: number;
  /** Which DLQ keys and entry shapes to read; default the reference dialect. */
  dialect?: HsiDialect;
}

function redactedHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** Columns present per table (so a schema without e.g. `trace_id` or `events` still reads). */
async function columns(client: pg.Client, tables: readonly string[]): Promise<Map<string, Set<string>>> {
  const res = await client.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ANY($1::text[])`,
    [tables],
  );
  const out = new Map<string, Set<string>>();
  for (const r of res.rows) {
    const set = out.get(r.table_name) ?? new Set<string>();
    set.add(r.column_name);
    out.set(r.table_name, set);
  }
  return out;
}

function selectList(present: Set<string>, wanted: readonly { name: string; cast?: string }[]): string {
  return wanted
    .filter((c) => present.has(c.name))
    .map((c) => (c.cast ? `${c.name}::${c.cast} AS ${c.name}` : c.name))
    .join(', ');
}

export async function readPipelineOutcome(options: ReadPipelineOutcomeOptions): Promise<PipelineOutcome> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const outcome: PipelineOutcome = { detections: [], eventDetections: [], events: [], dlq: { detection: [], analysis: [] }, missingTables: [] };
  const client = new pg.Client({ connectionString: options.pgConnectionString, connectionTimeoutMillis: timeoutMs, statement_timeout: timeoutMs, query_timeout: timeoutMs });
  try {
    await client.connect();
  } catch (error) {
    throw new EnvironmentError(`readPipelineOutcome: cannot connect to PostgreSQL at ${redactedHost(options.pgConnectionString)}: ${errorMessage(error)}`);
  }
  try {
    const cols = await columns(client, ['detections', 'event_detections', 'events']);
    for (const t of ['detections', 'event_detections', 'events']) if (!cols.has(t)) outcome.missingTables!.push(t);
    const filter = options.filePaths !== undefined;
    const detectionCols = cols.get('detections');
    if (detectionCols) {
      const list = selectList(detectionCols, [{ name: 'id', cast: 'text' }, { name: 'file_path' }, { name: 'camera_id' }, { name: 'trace_id' }]);
      const res = filter
        ? await client.query<DetectionRow>(`SELECT ${list} FROM detections WHERE file_path = ANY($1::text[])`, [options.filePaths])
        : await client.query<DetectionRow>(`SELECT ${list} FROM detections`);
      outcome.detections = res.rows;
    }
    const linkCols = cols.get('event_detections');
    if (linkCols) {
      const list = selectList(linkCols, [{ name: 'event_id', cast: 'text' }, { name: 'detection_id', cast: 'text' }]);
      const ids = outcome.detections.map((d) => String(d.id));
      const res = filter
        ? await client.query<EventDetectionRow>(`SELECT ${list} FROM event_detections WHERE detection_id::text = ANY($1::text[])`, [ids])
        : await client.query<EventDetectionRow>(`SELECT ${list} FROM event_detections`);
      outcome.eventDetections = res.rows;
    }
    const eventCols = cols.get('events');
    if (eventCols) {
      const list = selectList(eventCols, [{ name: 'id', cast: 'text' }, { name: 'batch_id' }, { name: 'trace_id' }, { name: 'is_fallback' }, { name: 'summary' }, { name: 'risk_score', cast: 'float8' }]);
      const ids = [...new Set(outcome.eventDetections.map((l) => String(l.event_id)))];
      const res = filter
        ? await client.query<EventRow>(`SELECT ${list} FROM events WHERE id::text = ANY($1::text[])`, [ids])
        : await client.query<EventRow>(`SELECT ${list} FROM events`);
      outcome.events = res.rows;
    }
  } catch (error) {
    throw new EnvironmentError(`readPipelineOutcome: PostgreSQL query failed: ${errorMessage(error)}`);
  } finally {
    await client.end().catch(() => undefined);
  }

  const redis = new Redis(options.redisUrl, { lazyConnect: true, connectTimeout: timeoutMs, commandTimeout: timeoutMs, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const letters = await readDeadLetters(redis, options.dialect ?? REFERENCE_DIALECT);
    const toEntry = (e: StoredDlqEntry): DlqEntry => parseDlqEntry(e.raw, e.key);
    outcome.dlq = { detection: letters.detection.map(toEntry), analysis: letters.analysis.map(toEntry) };
  } catch (error) {
    throw new EnvironmentError(`readPipelineOutcome: cannot read the dead-letter queues from Redis at ${redactedHost(options.redisUrl)}: ${errorMessage(error)}`);
  } finally {
    redis.disconnect();
  }
  return outcome;
}

// ------------------------------------------------------------------ drain

/** Work still queued, by name (queue lengths, open batches…). */
export type QueueLengths = Record<string, number>;

export interface QueueProbe {
  lengths(): Promise<QueueLengths>;
}

export interface RedisQueueProbeOptions {
  /** Lists whose length must reach 0; default the dialect's work queues. */
  queues?: readonly string[];
  /** Keys of open batches; default `batch:*:current` (counted with SCAN). */
  batchPattern?: string;
  /** Default the reference dialect (`detection_queue`, `analysis_queue`). */
  dialect?: HsiDialect;
}

/** LLEN of each queue plus the number of keys matching the open-batch pattern. */
export function redisQueueProbe(redis: Pick<Redis, 'llen' | 'scan'>, options: RedisQueueProbeOptions = {}): QueueProbe {
  const dialect = options.dialect ?? REFERENCE_DIALECT;
  const queues = options.queues ?? HSI_QUEUE_ROLES.map((role) => dialect.queueKey(role));
  const pattern = options.batchPattern ?? OPEN_BATCH_KEY_PATTERN;
  return {
    async lengths() {
      const out: QueueLengths = {};
      const lens = await Promise.all(queues.map((q) => redis.llen(q)));
      queues.forEach((q, i) => (out[q] = lens[i] ?? 0));
      out[pattern] = (await scanCount(redis, pattern)).count;
      return out;
    },
  };
}

/**
 * `alsoIdle` for the HSI backend: `GET /api/queues/status` says no worker holds a job
 * (`summary.total_running` 0). Empty queues are not enough: an analysis worker that popped the
 * last batch may still be waiting for the LLM, and its event and spans come seconds later. A
 * backend without the field (or not answering) does not hold the drain up. `client` carries the
 * API key and waits out 429s (the real HSI rate-limits this polling).
 */
export function backendWorkersIdle(backendUrl: string, client: HsiHttpClient = new HsiHttpClient()): () => Promise<boolean> {
  const url = new URL(HSI_ROUTES.queueStatus, backendUrl);
  return async () => {
    try {
      const res = await client.getJson(url, 5_000);
      if (res.status !== 200) return true;
      const body = res.body as { summary?: { total_running?: unknown } } | undefined;
      const running = body?.summary?.total_running;
      return typeof running !== 'number' || running === 0;
    } catch {
      return true;
    }
  };
}

export interface WaitForDrainOptions {
  /** Overall bound; default 180 000 ms (open batches close after 30 s idle, 90 s at most). */
  timeoutMs?: number;
  /** Default 1000 ms. */
  pollMs?: number;
  /** Consecutive empty polls needed (a worker may still hold a popped job); default 3. */
  stablePolls?: number;
  /** An extra idleness test, e.g. the backend's `/api/queues/status` saying no worker is busy. */
  alsoIdle?: () => Promise<boolean>;
  signal?: AbortSignal;
}

export interface DrainResult {
  drained: boolean;
  waitedMs: number;
  polls: number;
  last: QueueLengths;
  /** Why it did not drain (timeout, abort, last probe error). */
  reason?: string;
}

/**
 * Polls until every length is 0 on `stablePolls` consecutive polls (and `alsoIdle` agrees), or
 * the bound passes. Never throws for a failed probe: it is retried; the last error is reported.
 */
export async function waitForDrain(source: QueueProbe | { redisUrl: string; dialect?: HsiDialect }, options: WaitForDrainOptions = {}): Promise<DrainResult> {
  const timeoutMs = options.timeoutMs ?? 180_000;
  const pollMs = options.pollMs ?? 1000;
  const stablePolls = Math.max(1, options.stablePolls ?? 3);
  let redis: Redis | undefined;
  let probe: QueueProbe;
  if ('lengths' in source) probe = source;
  else {
    redis = new Redis(source.redisUrl, { lazyConnect: true, connectTimeout: 5000, commandTimeout: 5000, maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    probe = redisQueueProbe(redis, { dialect: source.dialect ?? REFERENCE_DIALECT });
  }
  const started = Date.now();
  let polls = 0;
  let stable = 0;
  let last: QueueLengths = {};
  let lastError: string | undefined;
  try {
    if (redis) await redis.connect().catch((error: unknown) => (lastError = errorMessage(error)));
    for (;;) {
      if (options.signal?.aborted) return { drained: false, waitedMs: Date.now() - started, polls, last, reason: 'aborted' };
      polls += 1;
      try {
        last = await probe.lengths();
        lastError = undefined;
        const empty = Object.values(last).every((n) => n === 0) && (options.alsoIdle ? await options.alsoIdle() : true);
        stable = empty ? stable + 1 : 0;
        if (stable >= stablePolls) return { drained: true, waitedMs: Date.now() - started, polls, last };
      } catch (error) {
        stable = 0;
        lastError = errorMessage(error);
      }
      const remaining = started + timeoutMs - Date.now();
      if (remaining <= 0) {
        const pending = Object.entries(last)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${k}=${n}`)
          .join(', ');
        return { drained: false, waitedMs: Date.now() - started, polls, last, reason: lastError ? `probe failed: ${lastError}` : `not drained after ${timeoutMs} ms${pending ? ` (${pending})` : ' (not yet stable)'}` };
      }
      await sleep(Math.min(pollMs, remaining));
    }
  } finally {
    redis?.disconnect();
  }
}
