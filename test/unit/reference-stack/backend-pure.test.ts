import { DEFECTS } from '../../../harness/stack/defects.ts';
import { describe, expect, it } from 'vitest';
import {
  batchKeys,
  batchTtlSeconds,
  closeReason,
  isBatchId,
  linksFor,
  newBatchId,
} from '../../../reference-stack/backend/batch-aggregator.ts';
import { normalizeCameraId } from '../../../reference-stack/backend/db.ts';
import { activeDefects, DEFECT_VARIABLES, DefectSwitchError, loadDefects, NO_DEFECTS } from '../../../reference-stack/backend/defects.ts';
import { detectorErrorCode } from '../../../reference-stack/backend/detection-worker.ts';
import { DetectorError, DetectorUnavailableError } from '../../../reference-stack/backend/detector-client.ts';
import { cameraIdForPath, isFileReady, isWatchedFile, observeFile } from '../../../reference-stack/backend/file-watcher.ts';
import { retryDelayMs } from '../../../reference-stack/backend/retry.ts';
import { Semaphore } from '../../../reference-stack/backend/semaphore.ts';
import { AbortedError } from '../../../reference-stack/common/timing.ts';

describe('retry backoff', () => {
  it('waits 1 s, 2 s, 4 s ... capped at 30 s with ±10 % jitter', () => {
    const mid = (retry: number): number => retryDelayMs(retry, false, () => 0.5);
    expect([1, 2, 3, 4, 5, 6].map(mid)).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000]);
    expect(retryDelayMs(1, false, () => 0)).toBe(900);
    expect(retryDelayMs(2, false, () => 0.9999)).toBe(2200);
  });

  it('does not wait at all with HSI_DEFECT_RETRY_WITHOUT_BACKOFF', () => {
    expect([1, 2, 3, 10].map((r) => retryDelayMs(r, true))).toEqual([0, 0, 0, 0]);
  });

  it('dead-letters a rejected call as circuit_open', () => {
    expect(detectorErrorCode(new DetectorUnavailableError(3, new DetectorError('open', 'circuit_open', true)))).toBe('circuit_open');
    expect(detectorErrorCode(new DetectorUnavailableError(3, new DetectorError('x', 'ECONNREFUSED', true)))).toBe('detector_ECONNREFUSED');
  });
});

describe('batch close rules', () => {
  const settings = { windowMs: 90_000, idleMs: 30_000, maxDetections: 500 };
  const t0 = 1_700_000_000_000;

  it('keeps a young, active, small batch open', () => {
    expect(closeReason({ startedAt: t0, lastActivity: t0 + 10_000, size: 3 }, t0 + 20_000, settings)).toBeUndefined();
  });

  it('closes when idle, on the window, or at the size limit (size first, then window)', () => {
    expect(closeReason({ startedAt: t0, lastActivity: t0, size: 3 }, t0 + 30_000, settings)).toBe('idle');
    expect(closeReason({ startedAt: t0, lastActivity: t0 + 80_000, size: 3 }, t0 + 90_000, settings)).toBe('timeout');
    expect(closeReason({ startedAt: t0, lastActivity: t0, size: 3 }, t0 + 95_000, settings)).toBe('timeout');
    expect(closeReason({ startedAt: t0, lastActivity: t0, size: 500 }, t0 + 1, settings)).toBe('max_size');
    expect(closeReason({ startedAt: t0, lastActivity: t0, size: 600 }, t0 + 95_000, settings)).toBe('max_size');
  });

  it('uses contract key names and batch ids', () => {
    expect(batchKeys.current('front_door')).toBe('batch:front_door:current');
    expect(batchKeys.field('batch-0a1b2c3d', 'detections')).toBe('batch:batch-0a1b2c3d:detections');
    const id = newBatchId();
    expect(id).toMatch(/^batch-[0-9a-f]{8}$/);
    expect(isBatchId(id)).toBe(true);
    expect(newBatchId(() => Buffer.from([0xde, 0xad, 0xbe, 0xef]))).toBe('batch-deadbeef');
    expect(batchTtlSeconds({ windowMs: 90_000 })).toBe(3600);
    expect(batchTtlSeconds({ windowMs: 7_200_000 })).toBe(14_400);
  });

  it('links every other detection job once, never the opener', () => {
    const opener = { traceparent: '00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1111111111111111-01' };
    const other = { traceparent: '00-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-2222222222222222-01', file_path: '/x/2.jpg', detection_ids: [7, 8] };
    const links = linksFor(opener, [{ ...opener, file_path: '/x/1.jpg' }, other, other]);
    expect(links).toHaveLength(1);
    expect(links[0]?.carrier.traceparent).toBe(other.traceparent);
    expect(links[0]?.attributes).toEqual({ 'link.type': 'batched_detection', file_path: '/x/2.jpg', detection_ids: [7, 8] });
    expect(linksFor(undefined, [other])).toHaveLength(1);
  });
});

describe('defect switches', () => {
  it('are all off by default', () => {
    expect(loadDefects({})).toEqual(NO_DEFECTS);
    expect(activeDefects(loadDefects({}))).toEqual([]);
  });

  it('turn on with 1/true and list the active variables', () => {
    const d = loadDefects({ HSI_DEFECT_ACK_BEFORE_STORE: '1', HSI_DEFECT_QUEUE_NO_TRACE_CONTEXT: 'true', HSI_DEFECT_BREAKER_NEVER_OPENS: '0' });
    expect(d).toMatchObject({ ackBeforeStore: true, queueNoTraceContext: true, breakerNeverOpens: false });
    expect(activeDefects(d)).toEqual(['HSI_DEFECT_ACK_BEFORE_STORE', 'HSI_DEFECT_QUEUE_NO_TRACE_CONTEXT']);
  });

  it('reject other values, naming the variable', () => {
    expect(() => loadDefects({ HSI_DEFECT_SAMPLER_IGNORES_PARENT: 'maybe' })).toThrow(DefectSwitchError);
    expect(() => loadDefects({ HSI_DEFECT_SAMPLER_IGNORES_PARENT: 'maybe' })).toThrow(/HSI_DEFECT_SAMPLER_IGNORES_PARENT/);
  });

  it('cover every backend switch of the harness', () => {
    const harness = Object.values(DEFECTS)
      .filter((d) => d.service === 'backend')
      .flatMap((d) => Object.keys(d.env))
      .sort();
    expect(Object.values(DEFECT_VARIABLES).sort()).toEqual(harness);
    expect(harness).toHaveLength(14);
  });
});

describe('drop folder', () => {
  it('normalizes camera folder names as HSI does', () => {
    expect(normalizeCameraId('Front Door')).toBe('front_door');
    expect(normalizeCameraId('  Back-Yard  Cam #2 ')).toBe('back_yard_cam_2');
    expect(normalizeCameraId('Garage')).toBe('garage');
    expect(normalizeCameraId('Entrée')).toBe('entree');
    expect(normalizeCameraId('---')).toBeUndefined();
    expect(normalizeCameraId('x'.repeat(80))).toHaveLength(64);
  });

  it('takes the camera from the first folder and ignores files at the top', () => {
    expect(cameraIdForPath('/cameras', '/cameras/Front Door/2024/01/img.jpg')).toEqual({ cameraId: 'front_door', folder: 'Front Door' });
    expect(cameraIdForPath('/cameras', '/cameras/img.jpg')).toBeUndefined();
    expect(cameraIdForPath('/cameras', '/elsewhere/Front Door/img.jpg')).toBeUndefined();
  });

  it('watches images only, not hidden or partial files', () => {
    expect(isWatchedFile('a.jpg')).toBe(true);
    expect(isWatchedFile('a.JPEG')).toBe(true);
    expect(isWatchedFile('a.png')).toBe(true);
    expect(isWatchedFile('.a.jpg')).toBe(false);
    expect(isWatchedFile('a.jpg.part')).toBe(false);
    expect(isWatchedFile('a.mp4')).toBe(false);
  });

  it('waits until the file stopped changing for debounce + stable time, seen twice', () => {
    const cfg = { debounceMs: 500, stableMs: 2000 };
    const t0 = 1_000_000;
    // A file being written: first seen with a fresh mtime.
    let f = observeFile(undefined, { size: 100, mtimeMs: t0 }, t0);
    expect(isFileReady(f, t0, cfg)).toBe(false);
    f = observeFile(f, { size: 5000, mtimeMs: t0 + 250 }, t0 + 250); // grew
    f = observeFile(f, { size: 5000, mtimeMs: t0 + 250 }, t0 + 500);
    expect(isFileReady(f, t0 + 500, cfg)).toBe(false);
    f = observeFile(f, { size: 5000, mtimeMs: t0 + 250 }, t0 + 2749);
    expect(isFileReady(f, t0 + 2749, cfg)).toBe(false);
    f = observeFile(f, { size: 5000, mtimeMs: t0 + 250 }, t0 + 2750);
    expect(isFileReady(f, t0 + 2750, cfg)).toBe(true);
    expect(isFileReady({ ...f, done: true }, t0 + 9999, cfg)).toBe(false);
    // A file found complete (old mtime) is ready on the second poll.
    let old = observeFile(undefined, { size: 20_000, mtimeMs: t0 - 60_000 }, t0);
    expect(isFileReady(old, t0, cfg)).toBe(false);
    old = observeFile(old, { size: 20_000, mtimeMs: t0 - 60_000 }, t0 + 250);
    expect(isFileReady(old, t0 + 250, cfg)).toBe(true);
    // A change restarts the wait.
    old = observeFile(old, { size: 20_001, mtimeMs: t0 + 300 }, t0 + 300);
    expect(isFileReady(old, t0 + 1000, cfg)).toBe(false);
  });
});

describe('AI semaphore', () => {
  it('admits `size` holders and hands slots over in FIFO order', async () => {
    const s = new Semaphore(2);
    const r1 = await s.acquire();
    const r2 = await s.acquire();
    const order: number[] = [];
    const w3 = s.acquire().then((r) => {
      order.push(3);
      return r;
    });
    const w4 = s.acquire().then((r) => {
      order.push(4);
      return r;
    });
    expect(s.inUse).toBe(2);
    expect(s.waiting).toBe(2);
    r1();
    r1(); // double release is harmless
    const r3 = await w3;
    r2();
    const r4 = await w4;
    expect(order).toEqual([3, 4]);
    r3();
    r4();
    expect(s.inUse).toBe(0);
  });

  it('gives up waiting when the signal aborts', async () => {
    const s = new Semaphore(1);
    const release = await s.acquire();
    const abort = new AbortController();
    const waiting = s.acquire(abort.signal);
    abort.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    expect(s.waiting).toBe(0);
    release();
    expect(s.inUse).toBe(0);
  });
});

describe('API helpers', () => {
  it('maps DLQ names with or without the dlq: prefix and refuses others', async () => {
    const { dlqKeyFor } = await import('../../../reference-stack/backend/api.ts');
    expect(dlqKeyFor('dlq:detection_queue')).toBe('dlq:detection_queue');
    expect(dlqKeyFor('analysis_queue')).toBe('dlq:analysis_queue');
    expect(() => dlqKeyFor('detection')).toThrow(/unknown dead-letter queue/);
  });

  it('answers events in the contract shape', async () => {
    const { eventToJson } = await import('../../../reference-stack/backend/db.ts');
    const at = new Date('2024-01-01T00:00:00Z');
    expect(
      eventToJson({
        id: '7',
        batch_id: 'batch-0000beef',
        camera_id: 'front_door',
        started_at: at,
        ended_at: null,
        risk_score: 50,
        risk_level: 'medium',
        summary: 'Analysis unavailable',
        reasoning: null,
        detection_ids: ['3', '4'],
        trace_id: 'a'.repeat(32),
        is_fallback: true,
        close_reason: 'idle',
        created_at: at,
      }),
    ).toMatchObject({ id: 7, detection_ids: [3, 4], detection_count: 2, ended_at: null, is_fallback: true, batch_id: 'batch-0000beef', trace_id: 'a'.repeat(32) });
  });
});
