import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { SharedDeadline } from '../../../harness/util/shared-deadline.ts';

describe('SharedDeadline: one timer per slot, every request bounded', () => {
  it('hands the same signal to requests started within one slot, a new one after it', async () => {
    const deadline = new SharedDeadline(10_000, 50);
    const first = deadline.signal();
    expect(deadline.signal()).toBe(first);
    await new Promise((resolve) => setTimeout(resolve, 60));
    const next = deadline.signal();
    expect(next).not.toBe(first);
    expect(first.aborted).toBe(false);
  });

  it('aborts with a TimeoutError no earlier than the timeout after the signal was handed out', async () => {
    const deadline = new SharedDeadline(40, 20);
    const started = performance.now();
    const signal = deadline.signal();
    // a request started later in the same slot gets the same signal: still at least 40 ms after the slot opened
    await once(signal, 'abort');
    expect(performance.now() - started).toBeGreaterThanOrEqual(39);
    expect(signal.reason).toBeInstanceOf(DOMException);
    expect((signal.reason as DOMException).name).toBe('TimeoutError');
  });

  it('refuses a timeout that is not positive', () => {
    expect(() => new SharedDeadline(0)).toThrow(/timeoutMs must be a positive number/);
    expect(() => new SharedDeadline(100, -1)).toThrow(/slotMs must be a positive number/);
  });
});
