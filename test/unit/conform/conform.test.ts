import { describe, expect, it } from 'vitest';
import { hsiUploadTree } from '../../../assertions/hsi/expectations.ts';
import { evaluateSpanTree } from '../../../assertions/span-tree/evaluate.ts';
import { apiChecks, type ApiAnswer } from '../../../harness/conform/api-checks.ts';
import { spanTreeDifferences } from '../../../assertions/hsi/conform/trace-differences.ts';
import { formatDifference, schemaDifferences } from '../../../harness/conform/differences.ts';
import { dlqChecks, queuePayloadChecks } from '../../../harness/conform/payload-checks.ts';
import { HSI_CURRENT_DIALECT, REFERENCE_DIALECT } from '../../../harness/contract/dialects.ts';
import { nestedDlqEntry } from '../../../harness/contract/dlq-entry.ts';
import { EventsResponse } from '../../../harness/contract/hsi-contract.ts';
import { encodePayload } from '../../../harness/contract/payload-codec.ts';
import { hsiUploadTraces, mkTree } from '../assertions/helpers.ts';

const detectionJob = { camera_id: 'front_door', file_path: '/data/a.jpg', timestamp: '2026-12-01T10:00:00Z', media_type: 'image', pipeline_start_time: '2026-12-01T10:00:00Z' };
const analysisJob = { batch_id: 'f'.repeat(32), camera_id: 'front_door', detection_ids: [1, 2], timestamp: 1_796_000_000.25, pipeline_start_time: 1_796_000_000.1 };
const event = { id: 7, camera_id: 'front_door', started_at: 'x', ended_at: null, risk_score: 20, risk_level: 'low', summary: 's', detection_count: 1, detection_ids: [1] };

describe('differences: one line each, expected vs seen', () => {
  it('names every field a schema refuses, with what it held', () => {
    const body = { items: [{ ...event, risk_score: undefined, score: 20 }, { ...event, risk_score: undefined }, { ...event, risk_score: undefined }], pagination: { total: 1, limit: 5, offset: 0, has_more: 'no' } };
    const lines = schemaDifferences('api', 'GET /api/events', EventsResponse, body).map(formatDifference);
    expect(lines).toEqual([
      'api       GET /api/events: field items[0].risk_score (and 2 more items): expected number, seen missing',
      'api       GET /api/events: field pagination.has_more: expected boolean, seen string "no"',
    ]);
  });

  it('turns a span-tree failure into the span, the attribute and what it held (counter-example: a missing attribute)', () => {
    const good = hsiUploadTraces({ n: 1, opener: true })[0]!;
    expect(spanTreeDifferences(evaluateSpanTree(good, hsiUploadTree({ analysisRequired: true })), 'trace t')).toEqual([]);
    const stripped = mkTree(
      good.traceId.replace(/^0+/, ''),
      good.spans.map((s) => ({
        id: s.spanId.replace(/^0+/, ''),
        parent: s.parentSpanId?.replace(/^0+/, ''),
        service: s.service,
        name: s.name,
        kind: s.kind,
        start: s.startTimeMs - good.spans[0]!.startTimeMs,
        dur: s.durationMs,
        attrs: s.name === 'detection_processing' ? { ...s.attributes, media_type: undefined as unknown as string } : s.attributes,
      })),
    );
    const lines = spanTreeDifferences(evaluateSpanTree(stripped, hsiUploadTree({ analysisRequired: true })), 'trace t').map(formatDifference);
    expect(lines).toEqual(['spans     trace t nemotron-backend "detection_processing": attribute media_type: expected media_type exists, seen no such attribute']);
  });
});

describe('queue payloads per dialect', () => {
  it('reads plain JSON on the reference keys and Z:+zstd on the prefixed keys', () => {
    const ref = queuePayloadChecks([{ key: 'detection_queue', raw: JSON.stringify(detectionJob), atEpochMs: 1 }, { key: 'analysis_queue', raw: JSON.stringify(analysisJob), atEpochMs: 2 }], REFERENCE_DIALECT);
    expect(ref.flatMap((p) => p.differences)).toEqual([]);
    const big = { ...analysisJob, detection_ids: Array.from({ length: 400 }, (_, i) => i + 1) };
    const packed = encodePayload(big, { thresholdBytes: 1024 });
    expect(packed.startsWith('Z:')).toBe(true);
    const cur = queuePayloadChecks([{ key: 'hsi:queue:detection_queue', raw: JSON.stringify(detectionJob), atEpochMs: 1 }, { key: 'hsi:queue:analysis_queue', raw: packed, atEpochMs: 2 }], HSI_CURRENT_DIALECT);
    expect(cur.flatMap((p) => p.differences)).toEqual([]);
  });

  it('says which key was used instead, which field is wrong, and when nothing was pushed', () => {
    const lines = queuePayloadChecks([{ key: 'detection_queue', raw: JSON.stringify({ ...detectionJob, file_path: undefined }), atEpochMs: 1 }], HSI_CURRENT_DIALECT).flatMap((p) => p.differences).map(formatDifference);
    expect(lines).toEqual([
      'queue     Redis hsi:queue:detection_queue: detection queue key (dialect hsi-current): expected hsi:queue:detection_queue, seen detection_queue',
      'queue     Redis hsi:queue:detection_queue: field file_path: expected string, seen missing',
      'queue     Redis hsi:queue:analysis_queue: a analysis payload pushed during the traced upload: expected one push, seen none',
    ]);
  });
});

describe('dead letters per dialect', () => {
  const nested = JSON.stringify(nestedDlqEntry(detectionJob, { error: 'detector down', attempts: 9, queue: 'detection_queue', firstFailedAt: '2026-12-01T10:00:00Z' }));
  const flat = JSON.stringify({ ...detectionJob, error: 'detector down', error_code: 'detector_unavailable', attempts: 3, failed_at: 'x', queue: 'detection_queue' });

  it('accepts each dialect its own shape, and the job inside', () => {
    expect(dlqChecks([{ key: 'dlq:detection_queue', entries: [flat] }], REFERENCE_DIALECT).flatMap((p) => p.differences)).toEqual([]);
    expect(dlqChecks([{ key: 'dlq:detection_queue', entries: [nested] }], HSI_CURRENT_DIALECT).flatMap((p) => p.differences)).toEqual([]);
    expect(dlqChecks([{ key: 'dlq:overflow:detection_queue', entries: [encodePayload(detectionJob)] }], HSI_CURRENT_DIALECT).flatMap((p) => p.differences)).toEqual([]);
  });

  it('reports the other shape, a broken job and an unparsable entry', () => {
    const lines = dlqChecks([{ key: 'dlq:detection_queue', entries: [flat, JSON.stringify({ original_job: { camera_id: 'x' }, error: 'e', attempt_count: 1, first_failed_at: 'a', last_failed_at: 'a', queue_name: 'q' }), 'Z:notzstd'] }], HSI_CURRENT_DIALECT)
      .flatMap((p) => p.differences)
      .map(formatDifference);
    expect(lines[0]).toBe('dlq       Redis dlq:detection_queue[0]: entry shape (dialect hsi-current): expected nested, seen flat');
    expect(lines).toContain('dlq       Redis dlq:detection_queue[1] (the failed job): field file_path: expected string, seen missing');
    expect(lines.at(-1)).toMatch(/^dlq {7}Redis dlq:detection_queue\[2\]: entry: expected a JSON object, seen unparsable: /);
  });
});

describe('API shapes per dialect', () => {
  const answers = (over: Record<string, ApiAnswer> = {}) => async (path: string): Promise<ApiAnswer> =>
    over[path] ??
    ({
      '/api/events?limit=5': { status: 200, body: { items: [event], pagination: { total: 1, limit: 5, offset: 0, has_more: false } } },
      '/api/detections?limit=5': { status: 200, body: { items: [{ id: 1, camera_id: 'front_door' }], pagination: { total: 1, limit: 5, offset: 0, has_more: false } } },
      '/api/system/health': { status: 503, body: { status: 'degraded', services: { database: 'ok', redis: 'ok', ai: 'down' } } },
      '/api/queues/status': { status: 200, body: { queues: ['detection', 'analysis', 'dlq', 'dlq_analysis'].map((name) => ({ name, depth: 0 })) } },
      '/api/system/gpu': { status: 200, body: { gpu_utilization: null, memory_used: null, memory_total: null, temperature: null, inference_fps: null } },
    }[path] ?? { status: 404, body: { detail: 'Not Found' } });

  it('passes the reference answers; a route the stack does not serve is skipped', async () => {
    const parts = await apiChecks(answers(), REFERENCE_DIALECT);
    expect(parts.flatMap((p) => p.differences)).toEqual([]);
    expect(parts.find((p) => p.where === 'GET /api/cameras')).toMatchObject({ skipped: true, note: 'not served (404)' });
  });

  it('reports a renamed field, a wrong status and the dialect names (counter-examples)', async () => {
    const renamed = { status: 200, body: { items: [{ ...event, risk_score: undefined, riskScore: 20 }], pagination: { total: 1, limit: 5, offset: 0, has_more: false } } };
    const lines = (await apiChecks(answers({ '/api/events?limit=5': renamed, '/api/detections?limit=5': { status: 500, body: {} } }), HSI_CURRENT_DIALECT)).flatMap((p) => p.differences).map(formatDifference);
    expect(lines).toEqual([
      'api       GET /api/events?limit=5: field items[0].risk_score: expected number, seen missing',
      'api       GET /api/events?limit=5: field pagination.next_cursor: expected string, seen missing',
      'api       GET /api/detections?limit=5: status: expected 200, seen 500',
      'api       GET /api/queues/status: queue "ai_analysis" (dialect hsi-current): expected listed, seen queues detection, analysis, dlq, dlq_analysis',
      'api       GET /api/queues/status: queue "detection" throughput: expected {jobs_per_minute, avg_processing_seconds}, seen missing',
      'api       GET /api/queues/status: queue "analysis" throughput: expected {jobs_per_minute, avg_processing_seconds}, seen missing',
      'api       GET /api/queues/status: queue "dlq" throughput: expected {jobs_per_minute, avg_processing_seconds}, seen missing',
      'api       GET /api/queues/status: queue "dlq_analysis" throughput: expected {jobs_per_minute, avg_processing_seconds}, seen missing',
      'api       GET /api/system/gpu: field utilization: expected number, seen missing',
      'api       GET /api/system/gpu: field power_usage: expected number, seen missing',
    ]);
  });
});
