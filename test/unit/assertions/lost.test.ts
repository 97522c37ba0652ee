import { describe, expect, it } from 'vitest';
import { readPipelineOutcome, redisQueueProbe, waitForDrain, type QueueLengths } from '../../../assertions/hsi/pipeline-adapters.ts';
import { checkNothingLost, classifyUploads, filePathsWithoutDetections, parseDlqEntry, type PipelineOutcome, type UploadToFollow } from '../../../assertions/lost/outcome.ts';
import { setup } from '../../../assertions/vitest-matchers.ts';
import { ExitCode, HarnessError } from '../../../harness/errors.ts';
import { mkTree } from './helpers.ts';

setup();

const path = (n: number) => `/data/uploads/front_door/u${n}.jpg`;
const upload = (n: number, status = 202): UploadToFollow => ({ status, uploadId: `u${n}`, filePath: path(n), traceId: n.toString(16).padStart(32, '0') });

// u1: event; u2: fallback event; u3: detection DLQ; u4: analysis DLQ; u5: rows, no event (lost);
// u6: nothing at all (lost); u7: detector found nothing; u8: rejected with 503 (not followed).
const outcome: PipelineOutcome = {
  detections: [
    { id: '11', file_path: path(1) },
    { id: '12', file_path: path(1) },
    { id: 21, file_path: path(2) },
    { id: '41', file_path: path(4) },
    { id: '51', file_path: path(5) },
  ],
  eventDetections: [
    { event_id: '100', detection_id: '11' },
    { event_id: '100', detection_id: '12' },
    { event_id: 200, detection_id: 21 },
  ],
  events: [
    { id: '100', batch_id: 'batch-1', is_fallback: false },
    { id: '200', batch_id: 'batch-2', is_fallback: true },
  ],
  dlq: {
    detection: [parseDlqEntry(JSON.stringify({ file_path: path(3), error_code: 'detector_ECONNREFUSED' })), parseDlqEntry('not json')],
    analysis: [parseDlqEntry(JSON.stringify({ batch_id: 'batch-4', detection_ids: [41] }))],
  },
};
const uploads = [1, 2, 3, 4, 5, 6, 7].map((n) => upload(n)).concat(upload(8, 503));

describe('nothing lost', () => {
  it('classifies every accepted upload', () => {
    const fates = classifyUploads(uploads, outcome, { noDetectionFilePaths: new Set([path(7)]) });
    expect(fates.map((o) => [o.uploadId, o.fate])).toEqual([
      ['u1', 'event'],
      ['u2', 'event'],
      ['u3', 'dlq'],
      ['u4', 'dlq'],
      ['u5', 'lost'],
      ['u6', 'lost'],
      ['u7', 'no_detections'],
    ]);
    expect(fates[0]!.eventIds).toEqual(['100']);
    expect(fates[1]!.fallbackEvent).toBe(true);
    expect(fates[3]!.dlqQueue).toBe('dlq:analysis_queue');
    expect(fates[4]!.reason).toBe('detections 51 stored but in no event and not in dlq:analysis_queue');
  });

  it('fails naming the lost uploads by id and file path', () => {
    const r = checkNothingLost(uploads, outcome, { noDetectionFilePaths: new Set([path(7)]) });
    expect(r.passed).toBe(false);
    expect(r.family).toBe('nothing-lost');
    expect(r.measured.text).toBe('3/7 accepted uploads lost (2 event, 2 dlq, 1 no detections, 2 lost)');
    expect(r.message).toBe(
      `3/7 accepted uploads lost: upload u5 (${path(5)}): detections 51 stored but in no event and not in dlq:analysis_queue; upload u6 (${path(6)}): no detections row and not in dlq:detection_queue; upload u7 (${path(7)}): the detector found nothing: no detections row, so no event`,
    );
    expect(r.exampleTraceIds).toEqual([5, 6, 7].map((n) => n.toString(16).padStart(32, '0')));
    expect(r.details?.['notAccepted']).toBe(1);
    // Declared acceptable, no_detections passes; the two really lost ones still fail.
    expect(checkNothingLost(uploads, outcome, { noDetectionFilePaths: new Set([path(7)]), acceptNoDetections: true }).measured.value).toBe(2);
  });

  it('passes when everything is accounted for; a detection-only stack can stop at stored rows', () => {
    expect(checkNothingLost(uploads.slice(0, 4), outcome)).toPass();
    expect(checkNothingLost([upload(5)], outcome).passed).toBe(false);
    const stored = checkNothingLost([upload(5)], outcome, { endStage: 'detections' });
    expect(stored).toPass();
    expect(stored.message).toBe('all 1 accepted uploads accounted for: 0 event, 1 stored, 0 dlq, 0 no detections, 0 lost');
    expect(checkNothingLost([upload(8, 503)], outcome).passed).toBe(false);
  });

  it('knows from traces which uploads had no detections', () => {
    const t = mkTree('1', [
      { id: '1', name: 'detection_processing', start: 0, dur: 1, attrs: { file_path: path(7), detection_count: 0 } },
      { id: '2', name: 'detection_processing', start: 0, dur: 1, attrs: { file_path: path(1), detection_count: 2 } },
      { id: '3', name: 'detection_processing', start: 0, dur: 1, attrs: { file_path: path(9), detection_count: 0 }, status: { code: 'error' } },
    ]);
    expect([...filePathsWithoutDetections([t])]).toEqual([path(7)]);
  });

  it('parses DLQ entries without throwing', () => {
    expect(parseDlqEntry('{"file_path":"x"}').payload).toEqual({ file_path: 'x' });
    expect(parseDlqEntry('[1]').parseError).toBe('not a JSON object');
    expect(parseDlqEntry('{').parseError).toBeDefined();
  });
});

describe('adapters', () => {
  it('waitForDrain waits until every length is 0 on consecutive polls', async () => {
    const script: QueueLengths[] = [
      { detection_queue: 3, analysis_queue: 0, 'batch:*:current': 1 },
      { detection_queue: 0, analysis_queue: 0, 'batch:*:current': 1 },
      { detection_queue: 0, analysis_queue: 0, 'batch:*:current': 0 },
      { detection_queue: 1, analysis_queue: 0, 'batch:*:current': 0 },
      { detection_queue: 0, analysis_queue: 0, 'batch:*:current': 0 },
      { detection_queue: 0, analysis_queue: 0, 'batch:*:current': 0 },
    ];
    let i = 0;
    const probe = { lengths: async () => script[Math.min(i++, script.length - 1)]! };
    const r = await waitForDrain(probe, { pollMs: 1, stablePolls: 2, timeoutMs: 5000 });
    expect(r).toMatchObject({ drained: true, polls: 6 });
  });

  it('waitForDrain is bounded and says what is still queued; probe errors are retried', async () => {
    let calls = 0;
    const probe = {
      lengths: async () => {
        calls += 1;
        if (calls === 1) throw new Error('ECONNRESET');
        return { detection_queue: 4, analysis_queue: 0 };
      },
    };
    const r = await waitForDrain(probe, { pollMs: 5, timeoutMs: 40 });
    expect(r.drained).toBe(false);
    expect(r.reason).toBe('not drained after 40 ms (detection_queue=4)');
    const idle = await waitForDrain({ lengths: async () => ({ q: 0 }) }, { pollMs: 1, stablePolls: 1, alsoIdle: async () => false, timeoutMs: 20 });
    expect(idle.drained).toBe(false);
  });

  it('redisQueueProbe counts queue lengths and open batch keys with SCAN', async () => {
    const pages: Record<string, [string, string[]]> = { '0': ['7', ['batch:front_door:current']], '7': ['0', ['batch:back_yard:current']] };
    const fake = {
      llen: async (key: string) => (key === 'detection_queue' ? 2 : 0),
      scan: async (cursor: string) => pages[cursor]!,
    };
    const probe = redisQueueProbe(fake as unknown as Parameters<typeof redisQueueProbe>[0]);
    expect(await probe.lengths()).toEqual({ detection_queue: 2, analysis_queue: 0, 'batch:*:current': 2 });
  });

  it('readPipelineOutcome fails with one line that does not leak the password', async () => {
    const error = await readPipelineOutcome({ pgConnectionString: 'postgres://hsi:s3cret@127.0.0.1:1/hsi', redisUrl: 'redis://:s3cret@127.0.0.1:1/0', timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HarnessError);
    // PostgreSQL gone mid-run is the environment (exit 3), never a usage error (issue 15).
    expect((error as HarnessError).exitCode).toBe(ExitCode.environment);
    expect((error as Error).message).toMatch(/^readPipelineOutcome: cannot connect to PostgreSQL at postgres:\/\/127\.0\.0\.1:1: /);
    expect((error as Error).message).not.toContain('s3cret');
  });
});
