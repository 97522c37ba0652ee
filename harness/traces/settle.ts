import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waiting for traces without guessing how long: poll until the number of spans is unchanged
 * across two consecutive polls (Tracetest's rule), bounded by a timeout. The interval must be
 * longer than the services' span export delay (the reference stack's batch processor sends
 * every 2 s), so that an unchanged count means no export was pending between the polls.
 */
export interface SettleOptions {
  intervalMs?: number;
  timeoutMs?: number;
  /**
   * A count below this never settles: what the caller expects has not arrived yet (Tracetest
   * also waits for the trace to exist before it watches its span count). Default 0.
   */
  minCount?: number;
  /** Injected in tests. */
  sleep?: (ms: number) => Promise<unknown>;
  now?: () => number;
}

export interface Settled<T> {
  value: T;
  polls: number;
  /** False when the timeout came first: `value` is the last poll's. */
  settled: boolean;
  /** The count at every poll. */
  counts: number[];
  waitedMs: number;
}

export async function pollUntilSettled<T>(poll: () => Promise<T>, count: (value: T) => number, options: SettleOptions = {}): Promise<Settled<T>> {
  const intervalMs = options.intervalMs ?? UNKNOWN_EXPORT_POLL_MS;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const wait = options.sleep ?? ((ms: number) => sleep(ms));
  const now = options.now ?? (() => performance.now());
  const minCount = options.minCount ?? 0;
  const started = now();
  const counts: number[] = [];
  let value = await poll();
  counts.push(count(value));
  for (;;) {
    if (now() - started + intervalMs > timeoutMs) return { value, polls: counts.length, settled: false, counts, waitedMs: now() - started };
    await wait(intervalMs);
    value = await poll();
    counts.push(count(value));
    if (counts.at(-1) === counts.at(-2) && counts.at(-1)! >= minCount) return { value, polls: counts.length, settled: true, counts, waitedMs: now() - started };
  }
}

/** The poll interval when the services' export delay is not known (the reference stack's default is 2 s). */
export const UNKNOWN_EXPORT_POLL_MS = 2_500;
/** How much longer than the export delay the interval is: the export itself and the store's ingestion. */
export const EXPORT_MARGIN_MS = 1_000;

/**
 * The settle rule's interval for services that export spans every `exportDelayMs` (their
 * OTEL_BSP_SCHEDULE_DELAY): one export period plus a margin for the export and the store, so an
 * unchanged count means no export was pending between the polls. Unknown: 2.5 s.
 */
export function settleIntervalMs(exportDelayMs: number | undefined): number {
  return exportDelayMs === undefined ? UNKNOWN_EXPORT_POLL_MS : exportDelayMs + EXPORT_MARGIN_MS;
}

/** Spans in a set of traces (the count the rule watches). */
export function spanCount(traces: readonly { spans: readonly unknown[] }[]): number {
  return traces.reduce((n, t) => n + t.spans.length, 0);
}
