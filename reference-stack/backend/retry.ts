import { backoffDelayMs } from '../common/timing.ts';
import { HSI_CURRENT } from '../../harness/contract/profiles.ts';

/**
 * Waits between attempts of the AI clients, as HSI: 2^attempt seconds (1 s, 2 s, 4 s ...)
 * capped at 30 s, ±10 % jitter. HSI_DEFECT_RETRY_WITHOUT_BACKOFF turns every wait into 0.
 */
export const RETRY_BASE_MS = 1000;
export const RETRY_CAP_MS = 30_000;
export const RETRY_JITTER = 0.1;

/** Delay before retry number `retry` (1 = the wait after the first failed attempt). */
export function retryDelayMs(retry: number, withoutBackoff = false, random: () => number = Math.random): number {
  if (withoutBackoff) return 0;
  return backoffDelayMs(retry, { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS, jitter: RETRY_JITTER, random });
}

/**
 * Profile hsi-current: the wait of services/retry_handler.py's RetryHandler before its attempt
 * n+1 (n = 1, 2): 1 s · 2^(n-1), capped at 30 s, plus 0..25 % jitter (never less).
 */
export function retryHandlerDelayMs(attempt: number, withoutBackoff = false, random: () => number = Math.random): number {
  if (withoutBackoff) return 0;
  const { baseMs, capMs, jitterMax } = HSI_CURRENT.retryHandler;
  const delay = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(delay * (1 + jitterMax * random()));
}

/** Profile hsi-current: the detector client's own wait after its failed attempt n (1 s, 2 s, no jitter). */
export function detectorClientDelayMs(attempt: number, withoutBackoff = false): number {
  if (withoutBackoff) return 0;
  const delays = HSI_CURRENT.detectorClient.delaysMs;
  return delays[Math.min(attempt, delays.length) - 1] ?? 0;
}
