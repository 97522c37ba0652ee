import type { FaultExecutor } from './fault-executor.ts';
import type { PlannedFault } from './fault-schema.ts';

/** What actually happened to one planned fault, in ms from the load's start. */
export interface FaultWindowRecord {
  index: number;
  name: string;
  target: string;
  faultType: string;
  plannedStartMs: number;
  plannedEndMs: number;
  /**
   * When the apply call was sent. The fault can take effect anywhere between this and
   * `appliedAtMs` (a disabled proxy closes in-flight connections before Toxiproxy answers), so
   * attribution of errors to the fault starts here.
   */
  applyRequestedAtMs?: number;
  /** When the apply call was confirmed by the target (Toxiproxy / emulator answered). */
  appliedAtMs?: number;
  /** When the remove call was sent; the fault is surely in effect until here. */
  removeRequestedAtMs?: number;
  removedAtMs?: number;
  /** Actual minus planned; what the "within 50 ms" promise is measured on. */
  applyLagMs?: number;
  removeLagMs?: number;
  applyError?: string;
  removeError?: string;
  /** The run ended (or was interrupted) before the planned removal; rollback removed it. */
  rolledBack?: boolean;
}

export interface ToxicTimelineOptions {
  /** Monotonic clock in ms; performance.now by default. */
  now?: () => number;
  onRecord?: (record: FaultWindowRecord, event: 'applied' | 'removed' | 'failed') => void;
}

function sleepUntil(now: () => number, targetMs: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const wait = Math.max(0, targetMs - now());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, wait);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Applies and removes the planned faults against the load's clock. Each fault runs on
 * its own timer (a slow Toxiproxy call for one cannot delay another), its removal waits
 * for its own apply, and stop() rolls back whatever is still in effect.
 */
export class ToxicTimeline {
  private readonly faults: readonly PlannedFault[];
  private readonly executor: FaultExecutor;
  private readonly now: () => number;
  private readonly onRecord: ToxicTimelineOptions['onRecord'];
  private readonly recordsByIndex = new Map<number, FaultWindowRecord>();
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(faults: readonly PlannedFault[], executor: FaultExecutor, options: ToxicTimelineOptions = {}) {
    this.faults = faults;
    this.executor = executor;
    this.now = options.now ?? (() => performance.now());
    this.onRecord = options.onRecord;
    for (const f of faults) {
      this.recordsByIndex.set(f.index, {
        index: f.index,
        name: f.name,
        target: f.target,
        faultType: f.fault.type,
        plannedStartMs: f.atMs,
        plannedEndMs: f.atMs + f.durationMs,
      });
    }
  }

  /** Starts the schedule; `loadStart` is the load's t=0 on this timeline's clock. */
  start(loadStart: number): Promise<void> {
    this.running ??= Promise.all(this.faults.map((f) => this.runOne(f, loadStart))).then(() => undefined);
    return this.running;
  }

  private async runOne(f: PlannedFault, loadStart: number): Promise<void> {
    const record = this.recordsByIndex.get(f.index)!;
    const signal = this.abort.signal;
    if (!(await sleepUntil(this.now, loadStart + f.atMs, signal))) return;
    try {
      record.applyRequestedAtMs = this.now() - loadStart;
      await this.executor.apply(f);
      record.appliedAtMs = this.now() - loadStart;
      record.applyLagMs = record.appliedAtMs - f.atMs;
      this.onRecord?.(record, 'applied');
    } catch (error) {
      record.applyError = (error as Error).message;
      this.onRecord?.(record, 'failed');
      return;
    }
    if (!(await sleepUntil(this.now, loadStart + f.atMs + f.durationMs, signal))) return;
    try {
      record.removeRequestedAtMs = this.now() - loadStart;
      await this.executor.remove(f);
      record.removedAtMs = this.now() - loadStart;
      record.removeLagMs = record.removedAtMs - (f.atMs + f.durationMs);
      this.onRecord?.(record, 'removed');
    } catch (error) {
      record.removeError = (error as Error).message;
      this.onRecord?.(record, 'failed');
    }
  }

  /** Cancels what has not happened yet and resets every target. Safe to call twice. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running?.catch(() => undefined);
    for (const r of this.recordsByIndex.values()) {
      if (r.appliedAtMs !== undefined && r.removedAtMs === undefined) r.rolledBack = true;
    }
    await this.executor.resetAll();
  }

  records(): FaultWindowRecord[] {
    return [...this.recordsByIndex.values()].sort((a, b) => a.plannedStartMs - b.plannedStartMs || a.index - b.index);
  }
}
