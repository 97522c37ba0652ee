import type { Attributes, Span } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { CIRCUIT_EVENTS, CircuitBreaker, CircuitOpenError } from '../../../reference-stack/backend/circuit-breaker.ts';
import { breakerOutcome, DetectorError } from '../../../reference-stack/backend/detector-client.ts';
import { AbortedError } from '../../../reference-stack/common/timing.ts';

const SETTINGS = { failureThreshold: 5, recoveryMs: 60_000, halfOpenMaxCalls: 3, successThreshold: 2 };

function harness(options: { neverOpens?: boolean } = {}) {
  let now = 1_000_000;
  const events: { name: string; attributes: Attributes | undefined }[] = [];
  const span = { addEvent: (name: string, attributes?: Attributes) => events.push({ name, attributes }) } as unknown as Span;
  const breaker = new CircuitBreaker({ name: 'yolo26', settings: SETTINGS, now: () => now, activeSpan: () => span, neverOpens: options.neverOpens ?? false });
  const fail = (n = 1): void => {
    for (let i = 0; i < n; i++) breaker.acquire().release('failure');
  };
  return {
    breaker,
    events,
    fail,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('circuit breaker', () => {
  it('opens after 5 counted failures in a row and rejects while open', () => {
    const { breaker, events, fail } = harness();
    fail(4);
    expect(breaker.state).toBe('closed');
    breaker.acquire().release('success'); // resets the run of failures
    fail(4);
    expect(breaker.state).toBe('closed');
    fail(1);
    expect(breaker.state).toBe('open');
    expect(events.map((e) => e.name)).toEqual([CIRCUIT_EVENTS.opened]);
    expect(events[0]?.attributes).toEqual({ 'circuit_breaker.name': 'yolo26', 'circuit_breaker.state': 'open', 'circuit_breaker.failures': 5 });
    expect(() => breaker.acquire()).toThrow(CircuitOpenError);
    expect(events.at(-1)?.name).toBe(CIRCUIT_EVENTS.rejected);
    expect(breaker.snapshot()).toMatchObject({ state: 'open', total_rejected: 1, opened_count: 1, retry_at: expect.any(String) });
  });

  it('does not count ignored outcomes (4xx, aborts)', () => {
    const { breaker, fail } = harness();
    fail(4);
    for (let i = 0; i < 10; i++) breaker.acquire().release('ignored');
    expect(breaker.state).toBe('closed');
    expect(breaker.snapshot().failures).toBe(4);
  });

  it('half-opens after the recovery time, admits 3 trial calls, closes after 2 successes', () => {
    const { breaker, events, fail, advance } = harness();
    fail(5);
    advance(59_999);
    expect(() => breaker.acquire()).toThrow(CircuitOpenError);
    advance(1);
    const a = breaker.acquire();
    expect(a.state).toBe('half_open');
    expect(breaker.state).toBe('half_open');
    const b = breaker.acquire();
    const c = breaker.acquire();
    expect(() => breaker.acquire()).toThrow(CircuitOpenError); // 4th trial call
    a.release('success');
    expect(breaker.state).toBe('half_open');
    b.release('success');
    expect(breaker.state).toBe('closed');
    c.release('failure'); // admitted before the close: no longer counts
    expect(breaker.state).toBe('closed');
    expect(breaker.snapshot().failures).toBe(0);
    expect(events.map((e) => e.name)).toEqual([
      CIRCUIT_EVENTS.opened,
      CIRCUIT_EVENTS.rejected,
      CIRCUIT_EVENTS.halfOpened,
      CIRCUIT_EVENTS.rejected,
      CIRCUIT_EVENTS.closed,
    ]);
  });

  it('reopens on a failure while half-open and waits the full recovery again', () => {
    const { breaker, fail, advance } = harness();
    fail(5);
    advance(60_000);
    breaker.acquire().release('failure');
    expect(breaker.state).toBe('open');
    advance(30_000);
    expect(() => breaker.acquire()).toThrow(CircuitOpenError);
    advance(30_000);
    expect(breaker.acquire().state).toBe('half_open');
    expect(breaker.snapshot().opened_count).toBe(2);
  });

  it('frees a half-open slot when a trial call is ignored', () => {
    const { breaker, fail, advance } = harness();
    fail(5);
    advance(60_000);
    const permits = [breaker.acquire(), breaker.acquire(), breaker.acquire()];
    permits[0]?.release('ignored');
    expect(() => breaker.acquire()).not.toThrow();
  });

  it('never opens with HSI_DEFECT_BREAKER_NEVER_OPENS, but still counts', () => {
    const { breaker, events, fail } = harness({ neverOpens: true });
    fail(50);
    expect(breaker.state).toBe('closed');
    expect(events).toEqual([]);
    expect(breaker.snapshot()).toMatchObject({ failures: 50, total_failures: 50, never_opens: true });
  });

  it('releases a permit once only', () => {
    const { breaker } = harness();
    const p = breaker.acquire();
    for (let i = 0; i < 10; i++) p.release('failure');
    expect(breaker.snapshot().failures).toBe(1);
  });
});

describe('breakerOutcome (what the detector client reports)', () => {
  it('ignores 4xx and aborts, counts 5xx, transport errors and malformed answers', () => {
    expect(breakerOutcome(new DetectorError('x', 'http_400', false, 400))).toBe('ignored');
    expect(breakerOutcome(new DetectorError('x', 'http_429', true, 429))).toBe('ignored');
    expect(breakerOutcome(new AbortedError('x'))).toBe('ignored');
    expect(breakerOutcome(new DetectorError('x', 'http_503', true, 503))).toBe('failure');
    expect(breakerOutcome(new DetectorError('x', 'ECONNREFUSED', true))).toBe('failure');
    expect(breakerOutcome(new DetectorError('x', 'malformed_response', false, 200))).toBe('failure');
  });
});
