import { describe, expect, it } from 'vitest';
import { dialectByName, dlqName, dlqOverflowName, HSI_CURRENT_DIALECT, hsiCurrentDialect, prefixedQueueName, queueRoleOfKey, REFERENCE_DIALECT } from '../../../harness/contract/dialects.ts';
import { nestedDlqEntry, NestedDlqEntrySchema, parseStoredDlqEntry } from '../../../harness/contract/dlq-entry.ts';
import { ListPage, QueueStatusResponse, routePath, HSI_ROUTES } from '../../../harness/contract/hsi-api.ts';
import { decodePayload, decodePayloadText, encodePayload, encodePayloadText, isCompressedPayload } from '../../../harness/contract/payload-codec.ts';

const bigJob = { camera_id: 'front_door', file_path: `/export/foscam/front_door/${'x'.repeat(1200)}.jpg`, timestamp: '2026-12-01T18:00:00Z', media_type: 'image' };

describe('payload codec', () => {
  it('stores payloads over 1 KB as "Z:"+base64(zstd) and reads both forms back', () => {
    const packed = encodePayload(bigJob, { thresholdBytes: 1024 });
    expect(packed.startsWith('Z:')).toBe(true);
    expect(packed.length).toBeLessThan(JSON.stringify(bigJob).length);
    expect(decodePayload(packed)).toEqual({ ok: true, value: bigJob, compressed: true });
    const small = { camera_id: 'c', file_path: '/a.jpg' };
    expect(encodePayload(small, { thresholdBytes: 1024 })).toBe(JSON.stringify(small));
    expect(decodePayload(JSON.stringify(small))).toEqual({ ok: true, value: small, compressed: false });
  });

  it('leaves payloads alone without compression, at the threshold, or when zstd would not shrink them', () => {
    expect(isCompressedPayload(encodePayload(bigJob))).toBe(false);
    const exact = 'a'.repeat(1024);
    expect(encodePayloadText(exact, { thresholdBytes: 1024 })).toBe(exact);
    // Random base64 text does not compress below its own length once base64-encoded again.
    const noise = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919 + ((i * i) % 251)) % 256)).toString('base64');
    expect(encodePayloadText(noise, { thresholdBytes: 0 })).toBe(noise);
  });

  it('a zstd frame written by another encoder decodes (fixed bytes: a single raw block holding {"a":1})', () => {
    const packed = `Z:${Buffer.from('KLUv/SAHOQAAeyJhIjoxfQ==', 'base64').toString('base64')}`;
    expect(decodePayloadText(packed)).toBe('{"a":1}');
  });

  it('a broken compressed payload is one error, not a throw', () => {
    const r = decodePayload('Z:bm90IHpzdGQ=');
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error).toMatch(/not valid zstd/);
  });
});

describe('dialect descriptors', () => {
  it('names the queue and dead-letter keys of each dialect', () => {
    expect(REFERENCE_DIALECT.queueKey('detection')).toBe('detection_queue');
    expect(REFERENCE_DIALECT.dlqKeys('analysis').map((k) => k.key)).toEqual(['dlq:analysis_queue']);
    expect(HSI_CURRENT_DIALECT.queueKey('detection')).toBe('hsi:queue:detection_queue');
    expect(HSI_CURRENT_DIALECT.dlqKeys('detection')).toEqual([
      { key: 'dlq:detection_queue', kind: 'failed' },
      { key: 'hsi:queue:dlq:detection_queue', kind: 'failed' },
      { key: 'dlq:overflow:detection_queue', kind: 'overflow' },
    ]);
    expect(hsiCurrentDialect('blue').queueKey('analysis')).toBe('blue:queue:analysis_queue');
    expect(HSI_CURRENT_DIALECT.queueCap).toBe(10_000);
    expect(HSI_CURRENT_DIALECT.rateLimit).toEqual({ requestsPerMinute: 60, burst: 10 });
    expect(dialectByName('reference')).toBe(REFERENCE_DIALECT);
  });

  it('maps names the way the real HSI does', () => {
    expect(dlqName('detection_queue')).toBe('dlq:detection_queue');
    expect(dlqName('dlq:detection_queue')).toBe('dlq:detection_queue');
    expect(dlqOverflowName('dlq:detection_queue')).toBe('dlq:overflow:detection_queue');
    expect(dlqOverflowName('dlq:overflow:analysis_queue')).toBe('dlq:overflow:analysis_queue');
    expect(prefixedQueueName('dlq:detection_queue')).toBe('hsi:queue:dlq:detection_queue');
    expect(queueRoleOfKey('hsi:queue:analysis_queue')).toBe('analysis');
    expect(queueRoleOfKey('dlq:overflow:detection_queue')).toBe('detection');
    expect(queueRoleOfKey('batch:x:current')).toBeUndefined();
  });
});

describe('dead-letter entries of both shapes', () => {
  it('reads a flat reference entry and a nested, compressed hsi-current entry into one shape', () => {
    const flat = parseStoredDlqEntry(JSON.stringify({ camera_id: 'c', file_path: '/a.jpg', error: 'detector 503', error_code: 'detector_http_503', attempts: 3, failed_at: 'now', queue: 'detection_queue' }));
    expect(flat).toMatchObject({ shape: 'flat', compressed: false, job: { camera_id: 'c', file_path: '/a.jpg' }, errorCode: 'detector_http_503', attempts: 3 });
    expect(flat.job).not.toHaveProperty('error');
    const entry = nestedDlqEntry(bigJob, { error: 'Connection refused', attempts: 3, queue: 'detection_queue', firstFailedAt: '2026-12-01T18:00:01Z', errorType: 'ConnectionRefusedError', retryDelays: [1, 2], stackTrace: 'Traceback\n'.repeat(50) });
    expect(NestedDlqEntrySchema.safeParse(entry).success).toBe(true);
    const nested = parseStoredDlqEntry(encodePayload(entry, { thresholdBytes: 1024 }));
    expect(nested).toMatchObject({ shape: 'nested', compressed: true, job: bigJob, error: 'Connection refused', errorCode: 'ConnectionRefusedError', attempts: 3 });
  });

  it('keeps what it cannot parse as an unparsed entry', () => {
    expect(parseStoredDlqEntry('not json')).toMatchObject({ shape: 'unparsed', compressed: false });
    expect(parseStoredDlqEntry('[1]')).toMatchObject({ shape: 'unparsed', parseError: 'not a JSON object' });
  });
});

describe('API shapes of both dialects', () => {
  it('queue status: reference names and hsi-current names with throughput', () => {
    expect(QueueStatusResponse.safeParse({ queues: [{ name: 'detection', depth: 0, running: 1 }, { name: 'dlq_analysis', depth: 2 }] }).success).toBe(true);
    const real = { queues: [{ name: 'ai_analysis', status: 'healthy', depth: 15, running: 2, workers: 4, throughput: { jobs_per_minute: 12.5, avg_processing_seconds: 4.8 }, oldest_job: { id: 'job_1', queued_at: '2025-12-23T10:30:00.000000', wait_seconds: 45.2 } }], summary: { total_queued: 15, total_running: 2, total_workers: 4, overall_status: 'healthy' } };
    expect(QueueStatusResponse.safeParse(real).success).toBe(true);
    expect(QueueStatusResponse.safeParse({ queues: [{ name: 'x', depth: -1 }] }).success).toBe(false);
  });

  it('events pages: offset and cursor pagination', () => {
    expect(ListPage.safeParse({ items: [], pagination: { total: 0, limit: 50, offset: 0, has_more: false } }).success).toBe(true);
    expect(ListPage.safeParse({ items: [{ id: 1 }], pagination: { total: 150, limit: 50, offset: null, cursor: null, next_cursor: 'eyJpZCI6IDUwfQ', has_more: true }, deprecation_warning: null }).success).toBe(true);
  });

  it('fills route templates', () => {
    expect(routePath(HSI_ROUTES.upload, { camera_id: 'front door' })).toBe('/api/cameras/front%20door/uploads');
    expect(() => routePath(HSI_ROUTES.dlqJobs)).toThrow(/queue_name/);
  });
});
