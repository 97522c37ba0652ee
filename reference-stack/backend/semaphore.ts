import { AbortedError } from '../common/timing.ts';
import { WaitQueue } from '../common/wait-queue.ts';

/**
 * A FIFO counting semaphore: HSI bounds concurrent AI inferences per process
 * (AI_MAX_CONCURRENT_INFERENCES); the detector and LLM clients share one.
 */
export class Semaphore {
  readonly size: number;
  private used = 0;
  private readonly waiters = new WaitQueue<void>();

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`semaphore size must be a positive integer, got ${size}`);
    this.size = size;
  }

  get inUse(): number {
    return this.used;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves with a release function once a slot is free; rejects with AbortedError if the signal aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new AbortedError('aborted'));
    const release = this.releaser();
    if (this.used < this.size) {
      this.used++;
      return Promise.resolve(release);
    }
    return this.waiters.wait(signal).then(() => release);
  }

  /** Runs fn while holding a slot. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      // The slot passes straight to the next waiter; `used` stays the same.
      if (!this.waiters.grantNext()) this.used--;
    };
  }
}
