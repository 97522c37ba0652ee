/** Sleep, deadlines and backoff shared by the reference services. */

export class AbortedError extends Error {
  override name = 'AbortError';
}

/** Resolves after ms; rejects with AbortedError as soon as the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError('aborted'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError('aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** Rejects with TimeoutError when the promise takes longer than ms (the promise itself keeps running). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  /** Relative jitter: 0.1 spreads each delay over ±10 %. */
  jitter: number;
  random?: () => number;
}

/**
 * Delay before retry number `retry` (1 = first retry): min(cap, base * 2^(retry-1)), spread by
 * the jitter and kept under the cap. HSI: 2^attempt seconds capped at 30 s.
 */
export function backoffDelayMs(retry: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const exponential = Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, retry - 1));
  const spread = exponential * (1 + options.jitter * (2 * random() - 1));
  return Math.max(0, Math.min(options.capMs, Math.round(spread)));
}

export interface WaitForOptions {
  deadline: number;
  intervalMs?: number;
  signal?: AbortSignal;
  onFailure?: (error: unknown, attempt: number) => void;
}

/** Calls probe until it resolves or the deadline (epoch ms) passes; then rethrows the last error. */
export async function retryUntil<T>(probe: () => Promise<T>, options: WaitForOptions): Promise<T> {
  const interval = options.intervalMs ?? 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await probe();
    } catch (error) {
      options.onFailure?.(error, attempt);
      const remaining = options.deadline - Date.now();
      if (remaining <= 0) throw error;
      await sleep(Math.min(interval, remaining), options.signal);
    }
  }
}
