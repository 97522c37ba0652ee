import { describe, expect, it } from 'vitest';
import { applyLiveSettings, LiveSettingsError, liveSettingsValues } from '../../../reference-stack/backend/live-settings.ts';
import { CircuitBreaker, CircuitOpenError } from '../../../reference-stack/backend/circuit-breaker.ts';
import { loadSettings } from '../../../reference-stack/backend/settings.ts';

const required = { DATABASE_URL: 'postgres://u:p@db:5432/hsi', REDIS_URL: 'redis://redis:6379/0', YOLO26_URL: 'http://ai-yolo26:8095' };

describe('backend settings changed at run time (POST /admin/settings)', () => {
  it('applies the live ones, answers their previous values, names the start-only and unknown ones', () => {
    const s = loadSettings(required);
    const answer = applyLiveSettings(s, { DETECTOR_CB_RECOVERY_SECONDS: '5', DETECTOR_MAX_RETRIES: '2', BATCH_CHECK_INTERVAL_SECONDS: '0.5', YOLO26_READ_TIMEOUT: '5', NO_SUCH: '1' });
    expect(answer.applied).toEqual({ DETECTOR_CB_RECOVERY_SECONDS: '5', DETECTOR_MAX_RETRIES: '2', BATCH_CHECK_INTERVAL_SECONDS: '0.5' });
    expect(answer.previous).toEqual({ DETECTOR_CB_RECOVERY_SECONDS: '60', DETECTOR_MAX_RETRIES: '3', BATCH_CHECK_INTERVAL_SECONDS: '1' });
    expect(answer.not_applied).toEqual([
      { name: 'YOLO26_READ_TIMEOUT', reason: expect.stringMatching(/read only at start/) },
      { name: 'NO_SUCH', reason: 'not a backend setting' },
    ]);
    expect(s.detectorCircuitBreaker.recoveryMs).toBe(5_000);
    expect(s.batch.checkIntervalMs).toBe(500);
    expect(s.yolo26ReadTimeoutMs).toBe(30_000);
    // posting `previous` back undoes it
    applyLiveSettings(s, answer.previous);
    expect(liveSettingsValues(s)).toEqual(liveSettingsValues(loadSettings(required)));
  });

  it('an invalid value changes nothing and names the variable', () => {
    const s = loadSettings(required);
    expect(() => applyLiveSettings(s, { DETECTOR_MAX_RETRIES: '2', DETECTOR_CB_RECOVERY_SECONDS: '-1' })).toThrow(/DETECTOR_CB_RECOVERY_SECONDS: expected a positive/);
    expect(() => applyLiveSettings(s, { DETECTOR_CB_SUCCESS_THRESHOLD: '4' })).toThrow(LiveSettingsError);
    expect(s.detectorMaxRetries).toBe(3);
    expect(s.detectorCircuitBreaker.successThreshold).toBe(2);
  });

  it('a running breaker sees a new recovery time at its next call', () => {
    const s = loadSettings({ ...required, DETECTOR_CB_FAILURE_THRESHOLD: '1' });
    let now = 0;
    const breaker = new CircuitBreaker({ name: 'yolo26', settings: s.detectorCircuitBreaker, now: () => now, activeSpan: () => undefined });
    breaker.acquire().release('failure');
    now = 5_000;
    expect(() => breaker.acquire()).toThrow(CircuitOpenError);
    applyLiveSettings(s, { DETECTOR_CB_RECOVERY_SECONDS: '5' });
    expect(breaker.snapshot().config.recovery_seconds).toBe(5);
    expect(breaker.acquire().state).toBe('half_open');
  });
});
