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
      detectorMaxRetries: 3,
      startupTimeoutMs: 60_000,
      yolo26Url: 'http://ai-yolo26:8095',
    });
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
