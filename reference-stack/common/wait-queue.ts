import { AbortedError } from './timing.ts';

/**
 * First come, first served waiters for something a holder hands on (a slot, a permit): a waiter
 * whose signal aborts leaves the queue and rejects with AbortedError. The backend's semaphore and
 * the LLM emulator's slots queue their callers with it.
 */
export class WaitQueue<T> {
  private readonly waiters: ((value: T) => void)[] = [];

  get length(): number {
    return this.waiters.length;
  }

  /** Resolves with what `grantNext` hands this waiter; rejects with AbortedError if the signal aborts first. */
  wait(signal?: AbortSignal): Promise<T> {
    return new Promise((resolve, reject) => {
      const grant = (value: T): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onAbort = (): void => {
        const at = this.waiters.indexOf(grant);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(new AbortedError('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(grant);
    });
  }

  /** Hands `value` to the first waiter; false when nobody waits. */
  grantNext(value: T): boolean {
    const next = this.waiters.shift();
    if (next === undefined) return false;
    next(value);
    return true;
  }
}
