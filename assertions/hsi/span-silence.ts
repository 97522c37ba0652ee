import { setTimeout as sleep } from 'node:timers/promises';
import { EnvironmentError } from '../../harness/errors.ts';
import type { LoadRequestRecord } from '../../harness/load/load-result.ts';
import { firstSpanDeadlineEpochMs, UNKNOWN_EXPORT_DELAY_MS } from '../../harness/traces/settle.ts';
import type { ScenarioExpectation } from '../expectations.ts';
import { HSI_OTEL_ENABLED_VARIABLE, HSI_OTLP_VARIABLES } from './contract.ts';

/**
 * A stack that exports no span at all (the real HSI's default OTEL_ENABLED=false): knowable
 * once the first sampled upload's spans are overdue (harness/traces/settle.ts
 * firstSpanDeadlineEpochMs), said in one line, exit 3, when the scenario checks spans.
 */

/** Whether any expected family reads spans (only nothing-lost reads none). */
export function needsSpans(expectations: readonly ScenarioExpectation[]): boolean {
  return expectations.some((e) => e.family !== 'nothing-lost');
}

/** epoch ms when the first traced upload was answered. */
function firstAnswerEpochMs(sampled: readonly LoadRequestRecord[]): number {
  return sampled.reduce((first, r) => Math.min(first, r.intendedEpochMs + r.latencyMs), Number.POSITIVE_INFINITY);
}

/** ms after `nowEpochMs` when no span at all says the stack exports none; undefined without sampled uploads. */
export function absentAfterMs(sampled: readonly LoadRequestRecord[], exportDelayMs: number | undefined, nowEpochMs: number): number | undefined {
  if (sampled.length === 0) return undefined;
  return Math.max(0, firstSpanDeadlineEpochMs(firstAnswerEpochMs(sampled), exportDelayMs) - nowEpochMs);
}

/** "none of the backend's pipeline spans nor of the N sampled uploads' traces 15.5 s after the first was answered (…)", as of `atEpochMs`. */
export function absenceText(sampled: readonly LoadRequestRecord[], exportDelayMs: number | undefined, atEpochMs: number): string {
  const after = (atEpochMs - firstAnswerEpochMs(sampled)) / 1000;
  const delay = exportDelayMs !== undefined ? `the stack exports every ${exportDelayMs} ms` : `export delay not known, ${UNKNOWN_EXPORT_DELAY_MS} ms assumed`;
  return `none of the backend's pipeline spans nor of the ${sampled.length} sampled uploads' traces ${after.toFixed(1)} s after the first was answered (${delay})`;
}

/** The one line (exit 3) for a stack that exports no span. */
export function noSpanError(jaegerUrl: string, absence: string): EnvironmentError {
  return new EnvironmentError(`no span reached Jaeger at ${jaegerUrl}: ${absence}: the stack exports no spans, so its traces cannot be checked; point its ${HSI_OTLP_VARIABLES[0]} at this Jaeger's OTLP port (the real HSI exports only with ${HSI_OTEL_ENABLED_VARIABLE}=true)`);
}

/**
 * Beside the drain: waits until the first sampled upload's spans are overdue, then counts the
 * run's spans once. `silent`: none; `heard`: some; `stopped`: stopped first, or the count
 * failed (the trace collection after the drain says what is wrong with Jaeger).
 */
export class SilenceWatch {
  private readonly abort = new AbortController();
  private readonly waitMs: number;
  private readonly count: () => Promise<number>;

  constructor(waitMs: number, count: () => Promise<number>) {
    this.waitMs = waitMs;
    this.count = count;
  }

  /** A watch for a run's sampled uploads; undefined without any. */
  static forRun(sampled: readonly LoadRequestRecord[], exportDelayMs: number | undefined, count: () => Promise<number>): SilenceWatch | undefined {
    const waitMs = absentAfterMs(sampled, exportDelayMs, Date.now());
    return waitMs === undefined ? undefined : new SilenceWatch(waitMs, count);
  }

  async watch(): Promise<'silent' | 'heard' | 'stopped'> {
    try {
      await sleep(this.waitMs, undefined, { signal: this.abort.signal });
      return (await this.count()) === 0 ? 'silent' : 'heard';
    } catch {
      return 'stopped';
    }
  }

  stop(): void {
    this.abort.abort();
  }
}
