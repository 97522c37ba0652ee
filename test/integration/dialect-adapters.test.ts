import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hsiOutcomeRules } from '../../assertions/hsi/expectations.ts';
import { readPipelineOutcome, waitForDrain } from '../../assertions/hsi/pipeline-adapters.ts';
import { checkNothingLost } from '../../assertions/lost/outcome.ts';
import { EMULATED } from '../../harness/config/real-ai-config.ts';
import { HSI_CURRENT_DIALECT, REFERENCE_DIALECT } from '../../harness/contract/dialects.ts';
import { nestedDlqEntry } from '../../harness/contract/dlq-entry.ts';
import { encodePayload } from '../../harness/contract/payload-codec.ts';
import { HsiHttpClient } from '../../harness/dialect/hsi-http.ts';
import { resolveStackDialect } from '../../harness/dialect/target-dialect.ts';
import { ownerLabels } from '../../harness/stack/cleanup.ts';
import { hsiLabels } from '../../harness/stack/containers/container-hardening.ts';
import { HsiPostgresContainer, type StartedPostgreSqlContainer } from '../../harness/stack/containers/postgres-container.ts';
import { HsiRedisContainer, type StartedRedisContainer } from '../../harness/stack/containers/redis-container.ts';
import { stackImages } from '../../harness/stack/images/image-refs.ts';
import { testConfig } from './stack-helpers.ts';

/**
 * The adapters against a real Redis and PostgreSQL holding what the real HSI leaves there: a
 * prefixed queue of zstd-compressed payloads, nested (compressed) dead letters, an overflow
 * DLQ. Two bare containers from the project's images (no backend): a few seconds.
 */
const RUN_ID = `dialect-adapters-${process.pid}`;
const zstd = { thresholdBytes: 1024 };
const path = (n: number) => `/export/foscam/front_door/${'evening-motion-'.repeat(80)}${n}.jpg`;
const job = (n: number) => ({ camera_id: 'front_door', file_path: path(n), timestamp: '2026-12-01T18:00:00Z', media_type: 'image', pipeline_start_time: '2026-12-01T18:00:00Z' });

let redisContainer: StartedRedisContainer | undefined;
let pgContainer: StartedPostgreSqlContainer | undefined;
let redisUrl = '';
let pgUrl = '';

async function seed(): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    await redis.rpush('hsi:queue:detection_queue', encodePayload(job(9), zstd), encodePayload(job(10), zstd), JSON.stringify({ camera_id: 'c', file_path: '/short.jpg' }));
    await redis.rpush('dlq:detection_queue', encodePayload(nestedDlqEntry(job(1), { error: 'Connection refused', attempts: 3, queue: 'detection_queue', firstFailedAt: '2026-12-01T18:00:01Z', errorType: 'ConnectionRefusedError', retryDelays: [1, 2] }), zstd));
    await redis.rpush('dlq:overflow:detection_queue', encodePayload(job(2), zstd));
    await redis.rpush('dlq:analysis_queue', encodePayload(nestedDlqEntry({ batch_id: 'b'.repeat(32), camera_id: 'front_door', detection_ids: [31], timestamp: 1764612000.5 }, { error: 'LLM service error', attempts: 3, queue: 'analysis_queue', firstFailedAt: 'x', errorType: 'LLMError', stackTrace: 'Traceback (most recent call last)\n'.repeat(60) }), zstd));
  } finally {
    redis.disconnect();
  }
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    await client.query('CREATE TABLE detections (id serial PRIMARY KEY, file_path text NOT NULL, camera_id text)');
    await client.query('CREATE TABLE events (id serial PRIMARY KEY, batch_id text, summary text, risk_score float8, is_fallback boolean)');
    await client.query('CREATE TABLE event_detections (event_id int, detection_id int)');
    await client.query('INSERT INTO detections (id, file_path, camera_id) VALUES (31, $1, $3), (40, $2, $3)', [path(3), path(4), 'front_door']);
    await client.query("INSERT INTO events (id, batch_id, summary, risk_score, is_fallback) VALUES (7, 'b7', 'person at the door', 72, false)");
    await client.query('INSERT INTO event_detections VALUES (7, 40)');
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  const images = stackImages(testConfig(), EMULATED);
  const labels = (role: string) => ({ ...hsiLabels(RUN_ID, role), ...ownerLabels(false) });
  [redisContainer, pgContainer] = await Promise.all([
    // As the stack starts it (hsi-stack.ts): a password, no persistence.
    new HsiRedisContainer(images.redis).withPassword('dialect-test').withCommand(['redis-server', '--save', '', '--appendonly', 'no']).withLabels(labels('redis')).start(),
    new HsiPostgresContainer(images.postgres).withLabels(labels('postgres')).start(),
  ]);
  redisUrl = redisContainer.getConnectionUrl();
  pgUrl = pgContainer.getConnectionUri();
  await seed();
}, 120_000);

afterAll(async () => {
  await Promise.all([redisContainer?.stop(), pgContainer?.stop()]);
});

describe('adapters on a real Redis in the hsi-current dialect', () => {
  it('detects the dialect from the Redis keys when the backend gives no queue status', async () => {
    const resolved = await resolveStackDialect('auto', { backendUrl: 'http://127.0.0.1:9', redisUrl }, new HsiHttpClient());
    expect(resolved.dialect.name).toBe('hsi-current');
    expect(resolved.reason).toMatch(/detected: Redis holds prefixed queue keys \(hsi:queue:detection_queue\)/);
  });

  it('the drain sees the prefixed, compressed queue (the reference dialect would call it empty)', async () => {
    const current = await waitForDrain({ redisUrl, dialect: HSI_CURRENT_DIALECT }, { timeoutMs: 300, pollMs: 100 });
    expect(current.drained).toBe(false);
    expect(current.reason).toBe('not drained after 300 ms (hsi:queue:detection_queue=3)');
    const misread = await waitForDrain({ redisUrl, dialect: REFERENCE_DIALECT }, { timeoutMs: 2_000, pollMs: 50, stablePolls: 2 });
    expect(misread.drained).toBe(true);
  });

  it('nothing-lost reads nested, compressed and overflow dead letters and refuses an LLM failure dead-lettered', async () => {
    const uploads = [1, 2, 3, 4].map((n) => ({ status: 202, uploadId: `u${n}`, filePath: path(n) }));
    const filePaths = uploads.map((u) => u.filePath);
    const outcome = await readPipelineOutcome({ pgConnectionString: pgUrl, redisUrl, filePaths, dialect: HSI_CURRENT_DIALECT });
    expect(outcome.dlq.detection.map((e) => [e.key, e.compressed, e.job?.['file_path']])).toEqual([
      ['dlq:detection_queue', true, path(1)],
      ['dlq:overflow:detection_queue', true, path(2)],
    ]);
    const result = checkNothingLost(uploads, outcome, hsiOutcomeRules());
    expect(result.details?.['counts']).toMatchObject({ event: 1, dlq: 2, wrong: 1, lost: 0 });
    expect(result.message).toContain('upload u3');
    expect(result.message).toContain('in dlq:analysis_queue, which the contract does not allow here: it failed on the LLM (error_code LLMError)');
    // The same stack read in the reference dialect misses the overflow DLQ: u2 counts as lost.
    const misread = checkNothingLost(uploads, await readPipelineOutcome({ pgConnectionString: pgUrl, redisUrl, filePaths, dialect: REFERENCE_DIALECT }), hsiOutcomeRules());
    expect(misread.details?.['counts']).toMatchObject({ lost: 1 });
    expect(misread.message).toContain(`upload u2 (${path(2)}): no detections row and not in dlq:detection_queue`);
  });
});
