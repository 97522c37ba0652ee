import { trace, type Attributes, type Span } from '@opentelemetry/api';
import type { CircuitBreakerSettings } from './settings.ts';

/**
 * Circuit breaker as HSI's backend has it around the detector (opens after 5 failures, 60 s
 * recovery, 3 half-open calls, 2 successes to close; 4xx answers do not count).
 *
 *   closed ──(failureThreshold counted failures in a row)──▶ open
 *   open ──(recovery time passed, next call)──▶ half_open
 *   half_open ──(successThreshold successes)──▶ closed
 *   half_open ──(any counted failure)──▶ open
 *
 * While open, calls are rejected without touching the service. While half-open at most
 * halfOpenMaxCalls trial calls are admitted. Every state change and every rejected call is an
 * event on the active span (`circuit_breaker.opened|half_opened|closed|rejected`). The clock is
 * injectable so that tests need no waiting.
 */

export type CircuitState = 'closed' | 'open' | 'half_open';

export const CIRCUIT_EVENTS = {
  opened: 'circuit_breaker.opened',
  halfOpened: 'circuit_breaker.half_opened',
  closed: 'circuit_breaker.closed',
  rejected: 'circuit_breaker.rejected',
} as const;

export interface CircuitBreakerSnapshot {
  name: string;
  state: CircuitState;
  /** Counted failures in a row (closed) or of the current half-open trial. */
  failures: number;
  /** Successes of the current half-open trial. */
  successes: number;
  half_open_calls: number;
  total_calls: number;
  total_failures: number;
  total_rejected: number;
  opened_count: number;
  last_failure_at: string | null;
  opened_at: string | null;
  /** When an open breaker admits the next trial call. */
  retry_at: string | null;
  config: { failure_threshold: number; recovery_seconds: number; half_open_max_calls: number; success_threshold: number };
  /** HSI_DEFECT_BREAKER_NEVER_OPENS is on. */
  never_opens?: true;
}

/** Thrown by `acquire()` while the breaker rejects calls. */
export class CircuitOpenError extends Error {
  override name = 'CircuitOpenError';
  readonly code = 'circuit_open';
  readonly breaker: string;
  readonly state: CircuitState;
  constructor(breaker: string, state: CircuitState) {
    super(`circuit breaker ${breaker} is ${state}: call rejected`);
    this.breaker = breaker;
    this.state = state;
  }
}

/** Outcome of an admitted call as the breaker counts it. */
export type CallOutcome = 'success' | 'failure' | 'ignored';

/** What `acquire()` hands out: report the call's outcome exactly once. */
export interface CircuitPermit {
  /** The state that admitted the call (closed or half_open). */
  readonly state: CircuitState;
  release(outcome: CallOutcome): void;
}

export interface CircuitBreakerOptions {
  name: string;
  settings: CircuitBreakerSettings;
  now?: () => number;
  /** HSI_DEFECT_BREAKER_NEVER_OPENS: failures are counted but the breaker stays closed. */
  neverOpens?: boolean;
  /** Where events go; default: the active span. */
  activeSpan?: () => Span | undefined;
  onStateChange?: (from: CircuitState, to: CircuitState, snapshot: CircuitBreakerSnapshot) => void;
}

export class CircuitBreaker {
  readonly name: string;
  private readonly settings: CircuitBreakerSettings;
  private readonly now: () => number;
  /** HSI_DEFECT_BREAKER_NEVER_OPENS, read at each call (live in the backend). */
  private readonly defects: Pick<CircuitBreakerOptions, 'neverOpens'>;
  private readonly activeSpan: () => Span | undefined;
  private readonly onStateChange: CircuitBreakerOptions['onStateChange'];
  private currentState: CircuitState = 'closed';
  private failures = 0;
  private successes = 0;
  private halfOpenCalls = 0;
  private openedAt: number | undefined;
  private lastFailureAt: number | undefined;
  /** Increments on every state change: a permit of an older generation no longer counts. */
  private generation = 0;
  private totals = { calls: 0, failures: 0, rejected: 0, opened: 0 };

  constructor(options: CircuitBreakerOptions) {
    this.name = options.name;
    this.settings = options.settings;
    this.now = options.now ?? Date.now;
    this.defects = options;
    this.activeSpan = options.activeSpan ?? (() => trace.getActiveSpan());
    this.onStateChange = options.onStateChange;
  }

  /** The state now (an open breaker whose recovery time has passed still reads `open` until a call arrives). */
  get state(): CircuitState {
    return this.currentState;
  }

  /**
   * Admits a call or throws CircuitOpenError (after a `circuit_breaker.rejected` event).
   * An open breaker past its recovery time turns half-open here.
   */
  acquire(): CircuitPermit {
    if (this.currentState === 'open' && this.openedAt !== undefined && this.now() - this.openedAt >= this.settings.recoveryMs) {
      this.transition('half_open');
    }
    if (this.currentState === 'open' || (this.currentState === 'half_open' && this.halfOpenCalls >= this.settings.halfOpenMaxCalls)) {
      this.totals.rejected++;
      this.event(CIRCUIT_EVENTS.rejected);
      throw new CircuitOpenError(this.name, this.currentState);
    }
    const state = this.currentState;
    if (state === 'half_open') this.halfOpenCalls++;
    this.totals.calls++;
    const generation = this.generation;
    let released = false;
    return {
      state,
      release: (outcome) => {
        if (released) return;
        released = true;
        this.settle(outcome, state, generation);
      },
    };
  }

  private settle(outcome: CallOutcome, admittedIn: CircuitState, generation: number): void {
    if (outcome === 'failure') {
      this.totals.failures++;
      this.lastFailureAt = this.now();
    }
    // A call admitted before the last state change (e.g. still running when the breaker opened)
    // no longer says anything about the current trial.
    if (generation !== this.generation) return;
    if (admittedIn === 'half_open') {
      if (outcome === 'ignored') {
        this.halfOpenCalls = Math.max(0, this.halfOpenCalls - 1);
      } else if (outcome === 'failure') {
        this.failures++;
        this.transition('open');
      } else {
        this.successes++;
        if (this.successes >= this.settings.successThreshold) this.transition('closed');
      }
      return;
    }
    // closed
    if (outcome === 'success') {
      this.failures = 0;
    } else if (outcome === 'failure') {
      this.failures++;
      if (this.failures >= this.settings.failureThreshold && !this.defects.neverOpens) this.transition('open');
    }
  }

  private transition(to: CircuitState): void {
    const from = this.currentState;
    if (from === to) return;
    this.currentState = to;
    this.generation++;
    this.halfOpenCalls = 0;
    this.successes = 0;
    if (to === 'open') {
      this.openedAt = this.now();
      this.totals.opened++;
      this.event(CIRCUIT_EVENTS.opened);
    } else if (to === 'half_open') {
      this.failures = 0;
      this.event(CIRCUIT_EVENTS.halfOpened);
    } else {
      this.failures = 0;
      this.openedAt = undefined;
      this.event(CIRCUIT_EVENTS.closed);
    }
    this.onStateChange?.(from, to, this.snapshot());
  }

  private event(name: string): void {
    const attributes: Attributes = {
      'circuit_breaker.name': this.name,
      'circuit_breaker.state': this.currentState,
      'circuit_breaker.failures': this.failures,
    };
    this.activeSpan()?.addEvent(name, attributes);
  }

  snapshot(): CircuitBreakerSnapshot {
    const iso = (t: number | undefined): string | null => (t === undefined ? null : new Date(t).toISOString());
    const snapshot: CircuitBreakerSnapshot = {
      name: this.name,
      state: this.currentState,
      failures: this.failures,
      successes: this.successes,
      half_open_calls: this.halfOpenCalls,
      total_calls: this.totals.calls,
      total_failures: this.totals.failures,
      total_rejected: this.totals.rejected,
      opened_count: this.totals.opened,
      last_failure_at: iso(this.lastFailureAt),
      opened_at: iso(this.openedAt),
      retry_at: this.currentState === 'open' && this.openedAt !== undefined ? iso(this.openedAt + this.settings.recoveryMs) : null,
      config: {
        failure_threshold: this.settings.failureThreshold,
        recovery_seconds: this.settings.recoveryMs / 1000,
        half_open_max_calls: this.settings.halfOpenMaxCalls,
        success_threshold: this.settings.successThreshold,
      },
    };
    if (this.defects.neverOpens) snapshot.never_opens = true;
    return snapshot;
  }
}
