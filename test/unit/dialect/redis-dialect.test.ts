import { describe, expect, it } from 'vitest';
import { hsiOutcomeRules } from '../../../assertions/hsi/expectations.ts';
import { redisQueueProbe } from '../../../assertions/hsi/pipeline-adapters.ts';
import { checkNothingLost, parseDlqEntry, type PipelineOutcome } from '../../../assertions/lost/outcome.ts';
import { HSI_CURRENT_DIALECT, REFERENCE_DIALECT } from '../../../harness/contract/dialects.ts';
import { nestedDlqEntry } from '../../../harness/contract/dlq-entry.ts';
import { encodePayload } from '../../../harness/contract/payload-codec.ts';
import { dialectFromQueueStatus, readDeadLetters, resolveDialect, type RedisReader } from '../../../harness/dialect/redis-dialect.ts';

/** Lists by key; SCAN with a glob, one page. */
class FakeRedis implements RedisReader {
  private readonly lists: Record<string, string[]>;
  constructor(lists: Record<string, string[]>) {
    this.lists = lists;
  }
  llen = async (key: string) => this.lists[key]?.length ?? 0;
  lrange = async (key: string) => [...(this.lists[key] ?? [])];
  scan = (async (_cursor: string, _match: 'MATCH', pattern: string) => {
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    return ['0', Object.keys(this.lists).filter((k) => re.test(k) && (this.lists[k]?.length ?? 0) > 0)];
  }) as unknown as RedisReader['scan'];
}

const path = (n: number) => `/export/foscam/front_door/${'long-name-'.repeat(110)}${n}.jpg`;
const job = (n: number) => ({ camera_id: 'front_door', file_path: path(n), timestamp: '2026-12-01T18:00:00Z', media_type: 'image' });
const zstd = { thresholdBytes: 1024 };

/** What the real HSI leaves in Redis: a prefixed, compressed queue; nested, compressed dead letters; an overflow DLQ. */
function hsiCurrentRedis(): FakeRedis {
  return new FakeRedis({
    'hsi:queue:detection_queue': [encodePayload(job(9), zstd), encodePayload(job(10), zstd)],
    'dlq:detection_queue': [encodePayload(nestedDlqEntry(job(1), { error: 'Connection refused', attempts: 3, queue: 'detection_queue', firstFailedAt: '2026-12-01T18:00:01Z', errorType: 'ConnectionRefusedError' }), zstd)],
    'dlq:overflow:detection_queue': [encodePayload(job(2), zstd)],
    'dlq:analysis_queue': [encodePayload(nestedDlqEntry({ batch_id: 'a'.repeat(32), camera_id: 'front_door', detection_ids: [31], timestamp: 1764612000.5 }, { error: 'LLM service error', attempts: 3, queue: 'analysis_queue', firstFailedAt: 'x', errorType: 'LLMError', stackTrace: 'Traceback…\n'.repeat(120) }), zstd)],
  });
}

describe('Redis in the hsi-current dialect', () => {
  it('the queue probe sees the prefixed queue; the reference probe would call it drained', async () => {
    const redis = hsiCurrentRedis();
    expect(await redisQueueProbe(redis, { dialect: HSI_CURRENT_DIALECT }).lengths()).toEqual({ 'hsi:queue:detection_queue': 2, 'hsi:queue:analysis_queue': 0, 'batch:*:current': 0 });
    expect(await redisQueueProbe(redis, { dialect: REFERENCE_DIALECT }).lengths()).toEqual({ detection_queue: 0, analysis_queue: 0, 'batch:*:current': 0 });
  });

  it('reads nested, compressed and overflow dead letters into the failed jobs', async () => {
    const letters = await readDeadLetters(hsiCurrentRedis(), HSI_CURRENT_DIALECT);
    expect(letters.detection.map((e) => [e.key, e.kind, e.shape, e.compressed, e.job?.['file_path']])).toEqual([
      ['dlq:detection_queue', 'failed', 'nested', true, path(1)],
      ['dlq:overflow:detection_queue', 'overflow', 'flat', true, path(2)],
    ]);
    expect(letters.analysis[0]).toMatchObject({ shape: 'nested', errorCode: 'LLMError', job: { detection_ids: [31] } });
  });

  it('nothing-lost accounts for nested and overflow dead letters, and still refuses an LLM failure dead-lettered', async () => {
    const letters = await readDeadLetters(hsiCurrentRedis(), HSI_CURRENT_DIALECT);
    const outcome: PipelineOutcome = {
      detections: [{ id: 31, file_path: path(3) }],
      eventDetections: [],
      events: [],
      dlq: { detection: letters.detection.map((e) => parseDlqEntry(e.raw, e.key)), analysis: letters.analysis.map((e) => parseDlqEntry(e.raw, e.key)) },
    };
    const uploads = [1, 2, 3].map((n) => ({ status: 202, uploadId: `u${n}`, filePath: path(n) }));
    const r = checkNothingLost(uploads, outcome, hsiOutcomeRules());
    expect(r.details?.['counts']).toMatchObject({ dlq: 2, wrong: 1, lost: 0 });
    expect(r.message).toContain('detections in dlq:analysis_queue, which the contract does not allow here: it failed on the LLM (error_code LLMError)');
    // Read in the reference dialect, the overflow entry is not seen: that upload is lost.
    const reference = await readDeadLetters(hsiCurrentRedis(), REFERENCE_DIALECT);
    const misread = checkNothingLost(uploads, { ...outcome, dlq: { detection: reference.detection.map((e) => parseDlqEntry(e.raw, e.key)), analysis: [] } });
    expect(misread.message).toContain(`upload u2 (${path(2)}): no detections row and not in dlq:detection_queue`);
  });
});

describe('dialect detection', () => {
  it('from the queue status shape (recorded answers of both stacks)', () => {
    expect(dialectFromQueueStatus({ queues: [{ name: 'detection', depth: 0, running: 0 }, { name: 'analysis', depth: 0 }, { name: 'dlq', depth: 0 }, { name: 'dlq_analysis', depth: 0 }], summary: { total_running: 0 } }).dialect).toBe('reference');
    expect(dialectFromQueueStatus({ queues: [{ name: 'ai_analysis', status: 'healthy', depth: 0, running: 0, workers: 1, throughput: { jobs_per_minute: 0, avg_processing_seconds: 0 } }] }).dialect).toBe('hsi-current');
    expect(dialectFromQueueStatus({ detail: 'Not Found' }).dialect).toBeUndefined();
  });

  it('auto: queue status first, then Redis keys; reference (assumed) when nothing tells; configured wins', async () => {
    const failing = async () => {
      throw new Error('HTTP 404');
    };
    expect(await resolveDialect('auto', { queueStatus: failing, redis: hsiCurrentRedis() })).toMatchObject({ dialect: { name: 'hsi-current' }, detected: true, reason: 'dialect hsi-current (detected: Redis holds prefixed queue keys (hsi:queue:detection_queue))' });
    const idle = await resolveDialect('auto', { queueStatus: failing, redis: new FakeRedis({}) });
    expect(idle).toMatchObject({ dialect: { name: 'reference' }, reason: 'dialect reference (assumed: probe failed: HTTP 404; Redis holds no queue key (idle))' });
    expect(await resolveDialect('auto', { queueStatus: async () => ({ queues: [{ name: 'ai_analysis', depth: 0 }] }) })).toMatchObject({ dialect: { name: 'hsi-current' } });
    expect(await resolveDialect('hsi-current', { redis: new FakeRedis({}) })).toMatchObject({ dialect: { name: 'hsi-current' }, detected: false });
  });
});
