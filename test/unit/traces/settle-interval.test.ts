import { describe, expect, it } from 'vitest';
import { pollUntilSettled, settleIntervalMs } from '../../../harness/traces/settle.ts';

/**
 * The trace wait's interval follows the services' span export delay: a stack whose services
 * export every 500 ms (the ones the harness starts) is read 1.5 s apart, one of unknown settings
 * 2.5 s apart. Simulated: a store that receives one export of new spans every `delayMs` until
 * the last one; the wait must see the last export's spans.
 */
class ExportingStore {
  now = 0;
  private readonly delayMs: number;
  private readonly exports: number;
  constructor(delayMs: number, exports: number) {
    this.delayMs = delayMs;
    this.exports = exports;
  }
  /** Spans in the store at the current time: one per export so far (an export every delayMs, plus jitter). */
  count(): number {
    return Math.min(this.exports, Math.floor(this.now / (this.delayMs + 100)));
  }
  clock() {
    return { now: () => this.now, sleep: async (ms: number) => void (this.now += ms) };
  }
}

async function seen(delayMs: number, intervalMs: number, exports = 6): Promise<number> {
  const store = new ExportingStore(delayMs, exports);
  const { now, sleep } = store.clock();
  const settled = await pollUntilSettled(async () => store.count(), (n) => n, { intervalMs, timeoutMs: 60_000, now, sleep });
  return settled.value;
}

describe('the trace wait interval', () => {
  it('is the export delay plus a margin when known, 2.5 s when not', () => {
    expect(settleIntervalMs(500)).toBe(1_500);
    expect(settleIntervalMs(2_000)).toBe(3_000);
    expect(settleIntervalMs(undefined)).toBe(2_500);
  });

  it('sees every export of services that export every 500 ms and of ones that export every 2 s', async () => {
    expect(await seen(500, settleIntervalMs(500))).toBe(6);
    expect(await seen(2_000, settleIntervalMs(2_000))).toBe(6);
  });

  it('counter-example: an interval shorter than the export delay settles before the last export', async () => {
    expect(await seen(2_000, settleIntervalMs(500))).toBeLessThan(6);
  });
});
