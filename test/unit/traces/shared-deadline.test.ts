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
    expect(first.fired).toBe(false);
    expect(first.reason).toBeUndefined();
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
    expect(signal.fired).toBe(true);
    // never handed out again once fired
    expect(deadline.signal()).not.toBe(signal);
  });

  it('is taken by undici as a signal: a request in flight is aborted with the TimeoutError when the deadline passes', async () => {
    const { createServer } = await import('node:http');
    const { request } = await import('undici');
    const server = createServer((_req, res) => {
      res.writeHead(200);
      res.write('started');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const deadline = new SharedDeadline(60, 10);
      const started = performance.now();
      // the answer never ends: aborted while waiting for the headers or the body, whichever the deadline hits
      const error = await request(`http://127.0.0.1:${port}/`, { signal: deadline.signal() })
        .then((response) => response.body.text())
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(DOMException);
      expect((error as DOMException).name).toBe('TimeoutError');
      expect(performance.now() - started).toBeGreaterThanOrEqual(59);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses a timeout that is not positive', () => {
    expect(() => new SharedDeadline(0)).toThrow(/timeoutMs must be a positive number/);
    expect(() => new SharedDeadline(100, -1)).toThrow(/slotMs must be a positive number/);
  });
});
