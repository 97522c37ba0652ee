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
  /**
   * A count still below `minCount` this long (ms) after the first poll ends the wait with
   * `absent: true`: what was expected would have arrived by then (see firstSpanDeadlineEpochMs).
   * Default: never; only the timeout ends the wait.
   */
  absentAfterMs?: number;
  /** Injected in tests. */
  sleep?: (ms: number) => Promise<unknown>;
  now?: () => number;
}

export interface Settled<T> {
  value: T;
  polls: number;
  /** False when the timeout came first: `value` is the last poll's. */
  settled: boolean;
  /** True when the count was still below `minCount` at `absentAfterMs` (the wait ended there). */
  absent: boolean;
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
  const absentAfterMs = options.absentAfterMs ?? Number.POSITIVE_INFINITY;
  const started = now();
  const counts: number[] = [];
  let value = await poll();
  counts.push(count(value));
  const end = (settled: boolean, absent = false): Settled<T> => ({ value, polls: counts.length, settled, absent, counts, waitedMs: now() - started });
  for (;;) {
    if (counts.at(-1)! < minCount && now() - started >= absentAfterMs) return end(false, true);
    if (now() - started + intervalMs > timeoutMs) return end(false);
    await wait(intervalMs);
    value = await poll();
    counts.push(count(value));
    if (counts.at(-1) === counts.at(-2) && counts.at(-1)! >= minCount) return end(true);
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

/** The export delay assumed when the services' is not known: the OTel SDK's default OTEL_BSP_SCHEDULE_DELAY. */
export const UNKNOWN_EXPORT_DELAY_MS = 5_000;
/**
 * How long after its export delay a stack that exports at all has the first answered request's
 * span in Jaeger, at the most: the export and the store take about a second
 * (EXPORT_MARGIN_MS); ten more absorb a loaded machine.
 */
export const FIRST_SPAN_GRACE_MS = 10_000;

/**
 * When a stack's silence in Jaeger says it exports no span (epoch ms): the first traced
 * request's answer, plus one export delay (unknown: UNKNOWN_EXPORT_DELAY_MS), plus
 * FIRST_SPAN_GRACE_MS. A stack that exports spans has the first one stored by then.
 */
export function firstSpanDeadlineEpochMs(firstAnswerEpochMs: number, exportDelayMs: number | undefined): number {
  return firstAnswerEpochMs + (exportDelayMs ?? UNKNOWN_EXPORT_DELAY_MS) + FIRST_SPAN_GRACE_MS;
}

/** Spans in a set of traces (the count the rule watches). */
export function spanCount(traces: readonly { spans: readonly unknown[] }[]): number {
  return traces.reduce((n, t) => n + t.spans.length, 0);
}
