import { describe, expect, it } from 'vitest';
import { classifyError, type HopCall, type HopName } from '../../../harness/replay/incident.ts';
import { reconnectWaitMs, reconstructHopFaults } from '../../../harness/replay/reconstruct-faults.ts';
import type { WindowFidelity } from '../../../harness/report/replay-fidelity.ts';
import { edgeVerdict, measureWindows, symptomWindowFailures, type WindowMeasurement } from '../../../harness/replay/round-trip.ts';

/**
 * Fault windows whose edges the traces hide or blur: breaker rejections, partial error rates
 * with few calls, a lone failed call on a busy hop, connections closed by the fault, and how
 * the round trip judges an edge no call crossed.
 */

type Spec = [startMs: number, durationMs: number, extra?: Partial<HopCall>];

function calls(hop: HopName, spec: Spec[]): HopCall[] {
  return spec.map(([startMs, durationMs, extra], i) => ({ hop, traceId: `t${i}`, spanId: `s${i}`, name: 'req', startMs, durationMs, error: false, ...extra }));
}

const refused: Partial<HopCall> = { error: true, errorKind: 'refused' };
const rejected: Partial<HopCall> = { error: true, errorKind: 'rejected' };
const http503: Partial<HopCall> = { error: true, errorKind: 'http', statusCode: 503 };
const opts = { startMs: 0, endMs: 30_000 };

describe('replay windows: calls the breaker rejected', () => {
  it('classifies a breaker rejection apart from a refused connection', () => {
    expect(classifyError(undefined, 'circuit breaker yolo26 is open: call rejected')).toBe('rejected');
    expect(classifyError(undefined, 'CircuitBreakerError: Circuit breaker is OPEN')).toBe('rejected');
    expect(classifyError(undefined, 'ECONNREFUSED: connect ECONNREFUSED 172.25.0.5:8668')).toBe('refused');
  });

  it('ends a down window at the fault (last refusal .. first good call), not at the breaker\'s last rejection', () => {
    const spec: Spec[] = [];
    for (let t = 0; t < 5000; t += 250) spec.push([t, 40]);
    for (let t = 5000; t < 7000; t += 250) spec.push([t, 5, refused]);
    for (let t = 7000; t < 12_000; t += 250) spec.push([t, 1, rejected]);
    for (let t = 12_000; t < 20_000; t += 250) spec.push([t, 40]);
    const [f, ...rest] = reconstructHopFaults('detector', calls('detector', spec), opts);
    expect(rest).toEqual([]);
    expect(f?.fault).toEqual({ type: 'down' });
    expect(f?.evidence.end.lo).toBe(6755);
    expect(f?.evidence.end.hi).toBe(12_000);
    // counter-example: taken as failures, the rejections would carry the window to 12 s
    const asFailures = reconstructHopFaults('detector', calls('detector', spec.map(([s, d, e]) => [s, d, e === rejected ? refused : e])), opts);
    expect(asFailures[0]?.evidence.end.lo).toBe(11_751);
  });
});

describe('replay windows: a partial error rate with few calls', () => {
  const spec: Spec[] = [[10_210, 270], [10_720, 8, http503], [11_800, 27, http503], [13_680, 340], [14_120, 3, http503], [15_450, 260], [15_870, 190], [21_410, 140]];

  it('is one window, not two, when the successes between two groups are plausible at the rate', () => {
    const faults = reconstructHopFaults('llm', calls('llm', spec), opts);
    expect(faults).toHaveLength(1);
    expect(faults[0]?.fault).toMatchObject({ type: 'emulator', status_code: 503 });
    // a good call bounds nothing at a partial rate: the start is only known to lie before the first failure
    expect(faults[0]?.evidence.start).toEqual({ lo: 0, hi: 10_720 });
    expect(faults[0]?.evidence.end).toEqual({ lo: 14_123, hi: 30_000 });
  });

  it('stays two windows when many successes lie between them', () => {
    const far: Spec[] = [[1000, 5, http503], [1500, 5, http503], ...Array.from({ length: 30 }, (_, i): Spec => [2000 + i * 300, 100]), [12_000, 5, http503], [12_500, 5, http503]];
    expect(reconstructHopFaults('llm', calls('llm', far), opts)).toHaveLength(2);
  });
});

describe('replay windows: a lone failed call on a busy hop', () => {
  const reset: Partial<HopCall> = { error: true, errorKind: 'other', message: "Stream isn't writeable" };
  const spec: Spec[] = [];
  for (let t = 0; t < 20_000; t += 250) spec.push([t, 1, t >= 5000 && t < 11_000 ? reset : t === 15_250 ? reset : {}]);

  it('is not replayed on Redis (no other call crossed it) and is named in the window\'s evidence', () => {
    const faults = reconstructHopFaults('redis', calls('redis', spec), opts);
    expect(faults.map((f) => f.name)).toEqual(['redis-reset-peer']);
    expect(faults[0]?.evidence.basis).toMatch(/1 isolated failed call.*15\.25 s/);
  });

  it('is a window on an AI hop (one call is all an LLM may get in seconds)', () => {
    const llm: Spec[] = [[1000, 200], [4000, 200], [10_000, 3000, { error: true, errorKind: 'reset' }], [14_000, 200]];
    expect(reconstructHopFaults('llm', calls('llm', llm), opts)).toHaveLength(1);
  });
});

describe('replay windows: calls the client refused itself while reconnecting', () => {
  // chaos-redis-reset: the fault went at 11.01 s; ioredis, between reconnect attempts, refused
  // every command itself ("Stream isn't writeable") until it was back at 11.44 s.
  const offline: Partial<HopCall> = { error: true, errorKind: 'offline', message: "Stream isn't writeable and enableOfflineQueue options is false" };
  const spec: Spec[] = [];
  for (let t = 0; t < 5100; t += 250) spec.push([t, 1]);
  spec.push([5100, 5096, { error: true, errorKind: 'timeout' }]);
  for (let t = 5330; t < 11_440; t += 250) spec.push([t, 0, offline]);
  for (let t = 11_440; t < 20_000; t += 250) spec.push([t, 1]);

  it('classifies them apart from resets', () => {
    expect(classifyError(undefined, "Stream isn't writeable and enableOfflineQueue options is false")).toBe('offline');
  });

  it('ends the window within one reconnect interval before the client was back, not at its reconnect', () => {
    const [f] = reconstructHopFaults('redis', calls('redis', spec), opts);
    // 6.34 s from the first failure to the reconnect: ioredis's waits (200, 400, … ms) had grown to 1.6 s
    expect(reconnectWaitMs(6340)).toBe(1600);
    expect(f?.evidence.end).toEqual({ lo: 9840, hi: 11_440 });
    expect(f?.toMs).toBe(10_640);
    // counter-example: taken as failures of the hop, the refusals end the window at the reconnect
    const asResets = reconstructHopFaults('redis', calls('redis', spec.map(([s, d, e]) => [s, d, e === offline ? { ...offline, errorKind: 'other' } : e])), opts);
    expect(asResets[0]?.evidence.end.lo).toBe(11_330);
  });
});

describe('replay windows: a connection the fault closed', () => {
  it('shows the fault lasted until the close (the end bracket starts at the call\'s end)', () => {
    const llm: Spec[] = [[1000, 200], [10_970, 3036, { error: true, errorKind: 'reset' }], [14_050, 200]];
    const [f] = reconstructHopFaults('llm', calls('llm', llm), opts);
    expect(f?.evidence.end).toEqual({ lo: 14_006, hi: 14_050 });
    expect(f?.toMs).toBe(14_028);
  });

  it('a lone call closed at the window\'s end was held until the removal: `timeout: 0`, not a toxic that closes after its duration', () => {
    // chaos-llm-timeout: one LLM call held from 11.90 s, closed when the toxic went at 14.03 s.
    // Read as "closed after 2.13 s", the replay's toxic closed its first held call early and the
    // next batch's call went into the window too: 2 failures for the incident's 1.
    const llm: Spec[] = [[1000, 200], [11_900, 2127, { error: true, errorKind: 'reset' }], [14_040, 340]];
    const [f] = reconstructHopFaults('llm', calls('llm', llm), opts);
    expect(f?.fault).toEqual({ type: 'timeout', timeout: 0 });
    expect(f?.evidence.basis).toMatch(/held until the fault went/);
  });

  it('connections closed on their own after a delay give the toxic\'s timeout; those closed together by the removal are left out', () => {
    const reset: Partial<HopCall> = { error: true, errorKind: 'reset' };
    const llm: Spec[] = [[1000, 200], [5000, 2000, reset], [7100, 2010, reset], [9200, 1990, reset], [11_300, 700, reset], [11_350, 650, reset], [12_100, 200]];
    const [f] = reconstructHopFaults('llm', calls('llm', llm), opts);
    expect(f?.fault).toEqual({ type: 'timeout', timeout: 2000 });
    expect(f?.evidence.basis).toMatch(/2 more closed together at the window's end/);
    // counter-example: every duration taken as the delay gives a median of 1990 ms (and 1 call alone its own duration)
    expect(reconstructHopFaults('llm', calls('llm', [[1000, 200], [11_900, 2127, reset], [14_040, 340]]), opts)[0]?.fault).not.toEqual({ type: 'timeout', timeout: 2130 });
  });

  it('a client timeout only shows the fault was on when the call was sent (the answer may have been dropped earlier)', () => {
    const llm: Spec[] = [[1000, 200], [10_970, 3036, { error: true, errorKind: 'timeout' }], [14_050, 200]];
    const [f] = reconstructHopFaults('llm', calls('llm', llm), opts);
    expect(f?.evidence.end).toEqual({ lo: 10_970, hi: 14_050 });
  });
});

describe('round trip: the applied window on the traces\' clock', () => {
  const record = { index: 0, name: 'redis-reset', target: 'redis', faultType: 'reset_peer', plannedStartMs: 5000, plannedEndMs: 11_000, appliedAtMs: 5060, removedAtMs: 11_020 };
  const plan = { load: { t0Ms: 1_000_600 }, faults: [{ target: 'redis', atMs: 4450, durationMs: 5750, fault: { type: 'reset_peer' }, evidence: { start: { lo: 1_005_000, hi: 1_005_100 }, end: { lo: 1_010_000, hi: 1_011_600 } } }] } as unknown as Parameters<typeof measureWindows>[1];

  it('moves the applied times by how late the first upload went out, so a late start is not taken for a reconstruction error', () => {
    // the load's clock started at 1 000 000; the first upload's span at 1 000 600 (a loaded machine)
    const [w] = measureWindows([record], plan, 1_000_000);
    expect(w!.original.fromSec).toBeCloseTo(4.46, 2);
    expect(w!.startOffsetSec).toBeCloseTo(-0.01, 2);
    expect(w!.start).toBe('within');
    // counter-example: on the load's clock the same replay looks 0.61 s early
    expect(measureWindows([record], plan)[0]!.startOffsetSec).toBeCloseTo(-0.61, 2);
  });
});

describe('round trip: judging an edge', () => {
  it('within the tolerance', () => {
    expect(edgeVerdict(-0.4, 13.04, [12.9, 13.1])).toBe('within');
  });
  it('hidden: off by more, but no call crossed near it and the applied edge lies in the wide bracket', () => {
    expect(edgeVerdict(-2.61, 13.04, [7.84, 13.02])).toBe('hidden');
  });
  it('off: the applied edge outside the bracket, or a bracket narrow enough to place it', () => {
    expect(edgeVerdict(-2.61, 13.5, [7.84, 13.02])).toBe('off');
    expect(edgeVerdict(1.2, 10.0, [9.5, 11.0])).toBe('off');
    expect(edgeVerdict(null, 10.0, [0, 20])).toBe('off');
  });
});

describe('replay windows: a latency run broken by a moment of quick calls', () => {
  const slow = (dipFrom: number, dipTo: number): Spec[] => {
    const spec: Spec[] = [];
    for (let t = 0; t < 20_000; t += 50) spec.push([t, t >= 5000 && t < 13_000 && !(t >= dipFrom && t < dipTo) ? 20 + ((t / 50) % 7) : 1 + ((t / 50) % 2)]);
    return spec;
  };

  it('is one window on PostgreSQL when the dip is under a second', () => {
    const faults = reconstructHopFaults('postgres', calls('postgres', slow(9000, 9500)), opts);
    expect(faults).toHaveLength(1);
    expect(faults[0]?.fault.type).toBe('latency');
    expect(Math.abs(faults[0]!.fromMs - 5000)).toBeLessThan(300);
    expect(Math.abs(faults[0]!.toMs - 13_000)).toBeLessThan(300);
    expect(faults[0]?.evidence.basis).toMatch(/joined with/);
  });

  it('stays two windows when the quiet stretch between them lasts seconds', () => {
    expect(reconstructHopFaults('postgres', calls('postgres', slow(7500, 10_000)), opts)).toHaveLength(2);
  });
});

describe('round trip: symptom windows judge a hidden edge', () => {
  const down: WindowMeasurement = {
    name: 'detector-down', target: 'detector', original: { fromSec: 5.05, toSec: 13 }, replayed: { fromSec: 4.91, toSec: 14.05, type: 'down' },
    startOffsetSec: -0.14, endOffsetSec: 1.05, startBracketSec: [4.75, 5.06], endBracketSec: [11.41, 16.7], start: 'within', end: 'hidden',
  };
  const symptom = (endOffsetSec: number): WindowFidelity => ({ target: 'detector', faultType: 'down', incident: { fromSec: 4.91, toSec: 14.05 }, replay: { fromSec: 4.9, toSec: 14.05 + endOffsetSec }, startOffsetSec: -0.01, endOffsetSec, ok: Math.abs(endOffsetSec) <= 1 });
  const blip: WindowFidelity = { target: 'redis', faultType: 'latency', incident: null, replay: { fromSec: 16.6, toSec: 18 }, startOffsetSec: null, endOffsetSec: null, ok: false };
  const fidelity = (windows: WindowFidelity[]) => ({ windows }) as unknown as Parameters<typeof symptomWindowFailures>[0]['fidelity'];

  it('passes when the replay shows the same symptom window, whatever a hop no fault was on did', () => {
    expect(symptomWindowFailures({ windows: [down], fidelity: fidelity([symptom(-0.02), blip]) })).toEqual([]);
  });
  it('fails when the hidden window\'s symptoms are more than a second off', () => {
    expect(symptomWindowFailures({ windows: [down], fidelity: fidelity([symptom(-1.17)]) })).toEqual(['detector down: start -0.01 s, end -1.17 s']);
  });
});

describe('replay windows: a bandwidth limit on PostgreSQL, told apart from a latency by statement', () => {
  // chaos-postgres-bandwidth at 4 KB/s: each job BEGIN, INSERT cameras, 2 × INSERT detections, COMMIT;
  // a bandwidth toxic adds the answer's size over the rate: BEGIN's 17 bytes +4.25 ms, bigger answers more
  function jobs(inflation: (statement: string, t: number) => number): HopCall[] {
    const out: HopCall[] = [];
    const statements: [string, number][] = [['BEGIN', 0.8], ['INSERT cameras', 0.8], ['INSERT detections', 0.8], ['INSERT detections', 0.9], ['COMMIT', 2.4]];
    for (let t = 0; t < 20_000; t += 250) {
      let at = t;
      for (const [name, base] of statements) {
        const d = base + (t >= 5000 && t < 13_000 ? inflation(name, t) : 0) + ((t / 250) % 3) * 0.1;
        out.push({ hop: 'postgres', traceId: `t${t}`, spanId: `s${out.length}`, name, startMs: at, durationMs: d, error: false });
        at += d + 0.5;
      }
    }
    return out;
  }
  const answerBytes: Record<string, number> = { BEGIN: 17, 'INSERT cameras': 40, 'INSERT detections': 80, COMMIT: 60 };

  it('is a bandwidth toxic at the rate BEGIN\'s known answer size gives', () => {
    const [f, ...rest] = reconstructHopFaults('postgres', jobs((name) => answerBytes[name]! / 4), opts);
    expect(rest).toEqual([]);
    expect(f?.fault).toEqual({ type: 'bandwidth', rate: 4 });
    expect(f?.evidence.basis).toMatch(/inflation by statement, not by round trip/);
    expect(Math.abs(f!.fromMs - 5000)).toBeLessThan(500);
  });

  it('is one fault when a dip splits it into two runs read at different rates (BEGIN\'s few ms give ±1 KB/s on a loaded machine)', () => {
    const split = jobs((name, t) => (t >= 8000 && t < 8500 ? 0 : answerBytes[name]! / (t < 8000 ? 8 : 2)));
    const faults = reconstructHopFaults('postgres', split, opts);
    expect(faults.map((f) => [f.name, f.fault.type])).toEqual([['postgres-bandwidth', 'bandwidth']]);
    expect(faults[0]!.evidence.basis).toMatch(/joined with/);
  });

  it('counter-example: the same inflation on every statement is a latency toxic', () => {
    const [f] = reconstructHopFaults('postgres', jobs(() => 20), opts);
    expect(f?.fault).toMatchObject({ type: 'latency', latency: 20 });
  });
});
