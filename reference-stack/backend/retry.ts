import { backoffDelayMs } from '../common/timing.ts';

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
