import { describe, expect, it } from 'vitest';
import { checkErrorsUnderFaults, errorSpans, faultIntervals, parseErrorExpectations } from '../../../assertions/errors/errors.ts';
import { setup } from '../../../assertions/vitest-matchers.ts';
import type { FaultWindowRecord } from '../../../harness/chaos/toxic-timeline.ts';
import { DETECTOR, mkTree, T0 } from './helpers.ts';

setup();

// The load starts 1 s after T0; the detector is down from load +10 s to +20 s.
const LOAD_START = T0 + 1000;
const WINDOW: FaultWindowRecord = { index: 0, name: 'detector-down', target: 'detector', faultType: 'down', plannedStartMs: 10_000, plannedEndMs: 20_000, appliedAtMs: 10_012, removedAtMs: 20_008 };
const exception = (atMs: number, message: string) => ({ name: 'exception', timeMs: atMs, attributes: { 'exception.message': message } });

/** A failed detector call at `loadMs` after the load's start, lasting `dur`. */
function failedCall(id: string, loadMs: number, dur = 50) {
  return mkTree(id, [
    { id: '1', name: 'detection_processing', kind: 'consumer', start: 1000 + loadMs, dur: dur + 10, status: { code: 'error', message: 'detector unavailable' } },
    { id: '2', parent: '1', name: 'yolo26_detection_request', kind: 'client', start: 1000 + loadMs + 5, dur, status: { code: 'error' }, events: [exception(dur - 1, 'connect ECONNREFUSED')] },
  ]);
}

describe('errors under faults', () => {
  it('errors inside a window (+grace) are expected; required errors are found', () => {
    const traces = [failedCall('1', 12_000), failedCall('2', 19_990), failedCall('3', 24_000)];
    const results = checkErrorsUnderFaults(traces, { windows: [WINDOW], loadStartEpochMs: LOAD_START }, {
      require: [
        { window: 'detector-down', service: 'nemotron-backend', name: 'yolo26_detection_request', min: 1 },
        { window: 'detector-down', name: 'detection_processing', min: 3, max: 3 },
      ],
    });
    expect(results).toPass();
    expect(results[0]!.message).toBe('no error spans outside 1 fault window (+5000 ms grace) (6 inside)');
    expect(results[1]!.name).toBe('errors required in window "detector-down": error span nemotron-backend "yolo26_detection_request"');
  });

  it('errors outside windows + grace fail with examples', () => {
    const traces = [failedCall('1', 12_000), failedCall('4', 30_000), failedCall('5', 2_000)];
    const [outside] = checkErrorsUnderFaults(traces, { windows: [WINDOW], loadStartEpochMs: LOAD_START });
    expect(outside!.passed).toBe(false);
    expect(outside!.measured.value).toBe(4);
    expect(outside!.message).toBe(
      '4 error spans outside 1 fault window (+5000 ms grace): nemotron-backend "yolo26_detection_request" ×2, nemotron-backend "detection_processing" ×2; first at load +2.1 s in trace 00000000000000000000000000000005 (connect ECONNREFUSED)',
    );
    expect(outside!.exampleTraceIds).toEqual(['00000000000000000000000000000005', '00000000000000000000000000000004']);
    // A shorter grace puts the call 4 s after removal outside too.
    const late = [failedCall('3', 24_000)];
    expect(checkErrorsUnderFaults(late, { windows: [WINDOW], loadStartEpochMs: LOAD_START })[0]).toPass();
    expect(checkErrorsUnderFaults(late, { windows: [WINDOW], loadStartEpochMs: LOAD_START }, { graceMs: 1000 })[0]!.passed).toBe(false);
  });

  it('a call that started in the window and failed long after (a read timeout) is the fault’s doing', () => {
    const timeout = failedCall('6', 15_000, 30_000);
    expect(checkErrorsUnderFaults([timeout], { windows: [WINDOW], loadStartEpochMs: LOAD_START })[0]).toPass();
  });

  it('a call cut while the apply call was in flight belongs to the window; one that ended before it does not', () => {
    // Toxiproxy closes a disabled proxy's connections before it answers the API call: the window
    // opens when the call was sent (10 001), not when it was confirmed (10 012).
    const sent: FaultWindowRecord = { ...WINDOW, applyRequestedAtMs: 10_001 };
    const cut = failedCall('9', 9_950, 55); // ends at load 10 010
    expect(checkErrorsUnderFaults([cut], { windows: [sent], loadStartEpochMs: LOAD_START }, { leadMs: 0 })[0]).toPass();
    expect(checkErrorsUnderFaults([cut], { windows: [WINDOW], loadStartEpochMs: LOAD_START }, { leadMs: 0 })[0]!.passed).toBe(false);
    const before = failedCall('a', 9_800, 50); // ends at load 9 860: 140 ms before the call went out
    expect(checkErrorsUnderFaults([before], { windows: [sent], loadStartEpochMs: LOAD_START })[0]!.passed).toBe(false);
  });

  it('a required error that never came fails, naming the window and the span', () => {
    const results = checkErrorsUnderFaults([], { windows: [WINDOW], loadStartEpochMs: LOAD_START }, {
      require: [{ window: 'detector-down', service: 'nemotron-backend', name: 'yolo26_detection_request' }, { window: 'redis-down' }, { window: 'detector-down', event: 'circuit_breaker.opened' }],
    });
    expect(results[0]).toPass();
    expect(results[1]!.message).toBe('window "detector-down" (load +10.0 s..+20.0 s): expected ≥ 1 error span nemotron-backend "yolo26_detection_request", found 0');
    expect(results[2]!.message).toBe('no fault window "redis-down" was in effect (windows: detector-down)');
    expect(results[3]!.message).toBe('window "detector-down" (load +10.0 s..+20.0 s): expected ≥ 1 span with event "circuit_breaker.opened", found 0');
    const breaker = mkTree('7', [{ id: '1', name: 'detection_processing', start: 1000 + 14_000, dur: 5, events: [{ name: 'circuit_breaker.opened', timeMs: 1, attributes: {} }] }]);
    expect(checkErrorsUnderFaults([breaker], { windows: [WINDOW], loadStartEpochMs: LOAD_START }, { require: [{ window: 'detector-down', event: 'circuit_breaker.opened' }] })).toPass();
  });

  it('derives windows from the records: planned times, failed applies, rollbacks; ignore selectors', () => {
    const failed: FaultWindowRecord = { ...WINDOW, name: 'x', appliedAtMs: undefined, applyError: 'toxiproxy down' } as FaultWindowRecord;
    const rolled: FaultWindowRecord = { index: 2, name: 'rolled', target: 'redis', faultType: 'down', plannedStartMs: 50_000, plannedEndMs: 80_000, appliedAtMs: 50_001, rolledBack: true };
    const planned: FaultWindowRecord = { index: 3, name: 'planned', target: 'redis', faultType: 'latency', plannedStartMs: 1000, plannedEndMs: 2000 };
    const intervals = faultIntervals([failed, rolled, planned], 5000);
    expect(intervals.map((w) => [w.name, w.fromMs, w.toMs, w.untilMs])).toEqual([
      ['rolled', 50_001, Infinity, Infinity],
      ['planned', 1000, 2000, 7000],
    ]);
    const probe = mkTree('8', [{ id: '1', service: DETECTOR, name: 'GET /health', kind: 'server', start: 40_000, dur: 1, status: { code: 'error' } }]);
    expect(checkErrorsUnderFaults([probe], { windows: [], loadStartEpochMs: LOAD_START })[0]!.passed).toBe(false);
    expect(checkErrorsUnderFaults([probe], { windows: [], loadStartEpochMs: LOAD_START }, { ignore: [{ name: 'GET /health' }] })[0]).toPass();
  });

  it('finds error spans by status or exception event, timed at the first exception', () => {
    const t = mkTree('9', [
      { id: '1', name: 'a', start: 100, dur: 50, status: { code: 'error' } },
      { id: '2', name: 'b', start: 200, dur: 50, events: [exception(10, 'boom')] },
      { id: '3', name: 'c', start: 300, dur: 50, status: { code: 'ok' } },
    ]);
    expect(errorSpans([t], T0).map((e) => [e.span.name, e.atLoadMs, e.reason, e.message ?? null])).toEqual([
      ['a', 150, 'status', null],
      ['b', 210, 'exception', 'boom'],
    ]);
    expect(() => parseErrorExpectations([{ window: 'w', min: -1 }], 'scenario.json')).toThrow(/^scenario\.json: 0\.min: /);
  });
});
