import { describe, expect, it } from 'vitest';
import { loadSettings, SettingsError } from '../../../reference-stack/backend/settings.ts';
import { backoffDelayMs } from '../../../reference-stack/common/timing.ts';

const required = {
  DATABASE_URL: 'postgres://u:secret@db:5432/hsi',
  REDIS_URL: 'redis://:pw@redis:6379/0',
  YOLO26_URL: 'http://ai-yolo26:8095/',
};

describe('backend settings', () => {
  it('applies the HSI defaults', () => {
    const s = loadSettings(required);
    expect(s).toMatchObject({
      port: 8000,
      uploadDir: '/data/uploads',
      aiConnectTimeoutMs: 10_000,
      yolo26ReadTimeoutMs: 30_000,
      nemotronReadTimeoutMs: 120_000,
      detectorMaxRetries: 3,
      nemotronMaxRetries: 3,
      aiMaxConcurrentInferences: 4,
      detectionWorkers: 2,
      analysisWorkers: 1,
      startupTimeoutMs: 60_000,
      yolo26Url: 'http://ai-yolo26:8095',
      nemotronUrl: 'http://ai-llm:8091',
      detectorCircuitBreaker: { failureThreshold: 5, recoveryMs: 60_000, halfOpenMaxCalls: 3, successThreshold: 2 },
      batch: { windowMs: 90_000, idleMs: 30_000, maxDetections: 500, checkIntervalMs: 1000 },
      fileWatcher: { dropDir: undefined, pollMs: 250, debounceMs: 500, stableMs: 2000, dedupSeconds: 300 },
    });
  });

  it('takes overrides (seconds may be fractional)', () => {
    const s = loadSettings({
      ...required,
      NEMOTRON_URL: 'http://toxiproxy:8669/',
      BATCH_IDLE_TIMEOUT_SECONDS: '2',
      BATCH_CHECK_INTERVAL_SECONDS: '0.2',
      DETECTOR_CB_RECOVERY_SECONDS: '1.5',
      CAMERA_DROP_DIR: '/cameras/',
      DETECTION_WORKERS: '4',
    });
    expect(s.nemotronUrl).toBe('http://toxiproxy:8669');
    expect(s.batch).toMatchObject({ idleMs: 2000, checkIntervalMs: 200 });
    expect(s.detectorCircuitBreaker.recoveryMs).toBe(1500);
    expect(s.fileWatcher.dropDir).toBe('/cameras');
    expect(s.detectionWorkers).toBe(4);
  });

  it('accepts the asyncpg URL scheme of HSI', () => {
    expect(loadSettings({ ...required, DATABASE_URL: 'postgresql+asyncpg://u:p@db:5432/hsi' }).databaseUrl).toBe('postgresql://u:p@db:5432/hsi');
  });

  it('names missing and invalid variables without echoing secrets', () => {
    expect(() => loadSettings({ ...required, DATABASE_URL: undefined })).toThrow(/DATABASE_URL/);
    expect(() => loadSettings({ ...required, REDIS_URL: 'http://x' })).toThrow(/REDIS_URL/);
    expect(() => loadSettings({ ...required, PORT: 'abc' })).toThrow(/PORT/);
    expect(() => loadSettings({ ...required, YOLO26_READ_TIMEOUT: '-1' })).toThrow(/YOLO26_READ_TIMEOUT/);
    expect(() => loadSettings({ ...required, DETECTOR_MAX_RETRIES: '0' })).toThrow(SettingsError);
    expect(() => loadSettings({ ...required, NEMOTRON_URL: 'ftp://x' })).toThrow(/NEMOTRON_URL/);
    expect(() => loadSettings({ ...required, BATCH_MAX_DETECTIONS: '0' })).toThrow(/BATCH_MAX_DETECTIONS/);
    expect(() => loadSettings({ ...required, ANALYSIS_WORKERS: '1.5' })).toThrow(/ANALYSIS_WORKERS/);
    expect(() => loadSettings({ ...required, CAMERA_DROP_DIR: 'relative/dir' })).toThrow(/CAMERA_DROP_DIR/);
    expect(() => loadSettings({ ...required, DETECTOR_CB_SUCCESS_THRESHOLD: '4' })).toThrow(/DETECTOR_CB_SUCCESS_THRESHOLD/);
    try {
      loadSettings({ ...required, DATABASE_URL: 'mysql://u:secret@db/x' });
    } catch (error) {
      expect((error as Error).message).not.toContain('secret');
    }
  });
});

describe('backoffDelayMs', () => {
  it('doubles from 1 s, caps at 30 s, jitters within ±10 %', () => {
    const mid = (retry: number): number => backoffDelayMs(retry, { baseMs: 1000, capMs: 30_000, jitter: 0.1, random: () => 0.5 });
    expect([1, 2, 3, 4, 5, 6, 7].map(mid)).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    expect(backoffDelayMs(1, { baseMs: 1000, capMs: 30_000, jitter: 0.1, random: () => 0 })).toBe(900);
    expect(backoffDelayMs(1, { baseMs: 1000, capMs: 30_000, jitter: 0.1, random: () => 0.9999 })).toBe(1100);
    expect(backoffDelayMs(9, { baseMs: 1000, capMs: 30_000, jitter: 0.1, random: () => 0.9999 })).toBe(30_000);
  });
});
