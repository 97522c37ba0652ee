import { randomBytes } from 'node:crypto';
import { ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../../reference-stack/backend/circuit-breaker.ts';
import { DefectSwitchError, loadDefects, NO_DEFECTS } from '../../../reference-stack/backend/defects.ts';
import { applyDefectSwitches, liveDefectOptions } from '../../../reference-stack/backend/live-defects.ts';
import { buildSampler } from '../../../reference-stack/telemetry/tracing.ts';
import { backendDefectSwitches, defectEnvironment, defectSwitches, DEFECT_NAMES, DEFECTS } from '../../../harness/stack/defects.ts';
import { parseDetectorDefectSwitches } from '../../../reference-stack/detector-emulator/defects.ts';

describe('backend defect switches changed at run time (POST /admin/defects)', () => {
  it('turns switches on and off, answers the active ones and what the changed ones were', () => {
    const defects = loadDefects({ HSI_DEFECT_ACK_BEFORE_STORE: '1' });
    const answer = applyDefectSwitches(defects, { HSI_DEFECT_WORKER_DROPS_ROWS: '1', HSI_DEFECT_ACK_BEFORE_STORE: 'off' });
    expect(answer).toEqual({ active: ['HSI_DEFECT_WORKER_DROPS_ROWS'], previous: { HSI_DEFECT_WORKER_DROPS_ROWS: '0', HSI_DEFECT_ACK_BEFORE_STORE: '1' } });
    expect(defects).toMatchObject({ workerDropsRows: true, ackBeforeStore: false });
    // posting `previous` back undoes it
    applyDefectSwitches(defects, answer.previous);
    expect(defects).toEqual({ ...NO_DEFECTS, ackBeforeStore: true });
  });

  it('an unknown switch or a value other than on/off changes nothing and names the variable', () => {
    const defects = loadDefects({});
    expect(() => applyDefectSwitches(defects, { HSI_DEFECT_WORKER_DROPS_ROWS: '1', HSI_DEFECT_NO_SUCH: '1' })).toThrow(/^HSI_DEFECT_NO_SUCH: not a backend defect switch/);
    expect(() => applyDefectSwitches(defects, { HSI_DEFECT_WORKER_DROPS_ROWS: '1', HSI_DEFECT_ACK_BEFORE_STORE: 'maybe' })).toThrow(DefectSwitchError);
    expect(defects).toEqual(NO_DEFECTS);
  });

  it('every backend switch of the harness can be set at run time', () => {
    const defects = loadDefects({});
    const backend = DEFECT_NAMES.filter((n) => DEFECTS[n].service === 'backend');
    expect(backend.length).toBeGreaterThanOrEqual(12);
    const answer = applyDefectSwitches(defects, defectEnvironment(backend).backend);
    expect(answer.active).toHaveLength(backend.length);
    expect(Object.values(defects).every((on) => on)).toBe(true);
  });

  it("the harness's request body leaves exactly the named switches on; a detector switch is refused", () => {
    const defects = loadDefects({ HSI_DEFECT_ACK_BEFORE_STORE: '1' });
    const answer = applyDefectSwitches(defects, backendDefectSwitches(['worker-drops-rows', 'sampler-ignores-parent']));
    expect(answer.active).toEqual(['HSI_DEFECT_SAMPLER_IGNORES_PARENT', 'HSI_DEFECT_WORKER_DROPS_ROWS']);
    expect(applyDefectSwitches(defects, backendDefectSwitches([])).active).toEqual([]);
    expect(() => backendDefectSwitches(['detector-drops-spans'])).toThrow(/detector-drops-spans: switches of the detector, not of the backend; post them to the detector's \/admin\/defects/);
    // The detector's body, as its POST /admin/defects parses it.
    const detector = defectSwitches('detector', ['detector-drops-spans']);
    expect(detector).toEqual({ HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: '0', HSI_DEFECT_DETECTOR_DROPS_SPANS: '0.5' });
    expect(parseDetectorDefectSwitches(detector)).toEqual({ notInstrumented: false, dropSpansFraction: 0.5 });
    expect(parseDetectorDefectSwitches(defectSwitches('detector', []))).toEqual({ notInstrumented: false, dropSpansFraction: 0 });
    expect(() => defectSwitches('detector', ['ack-before-store'])).toThrow(/ack-before-store: switches of the backend/);
  });

  it('components built with liveDefectOptions see a switch change at their next call', () => {
    const defects = loadDefects({});
    const breaker = new CircuitBreaker(
      liveDefectOptions({ name: 'yolo26', settings: { failureThreshold: 2, recoveryMs: 60_000, halfOpenMaxCalls: 1, successThreshold: 1 }, activeSpan: () => undefined }, defects, { neverOpens: 'breakerNeverOpens' }),
    );
    applyDefectSwitches(defects, { HSI_DEFECT_BREAKER_NEVER_OPENS: '1' });
    for (let i = 0; i < 5; i++) breaker.acquire().release('failure');
    expect(breaker.state).toBe('closed');
    expect(breaker.snapshot().never_opens).toBe(true);
    applyDefectSwitches(defects, { HSI_DEFECT_BREAKER_NEVER_OPENS: '0' });
    breaker.acquire().release('failure');
    expect(breaker.state).toBe('open');

    const sampler = buildSampler({}, liveDefectOptions({}, defects, { ignoreParent: 'samplerIgnoresParent' }));
    const unsampledParent = trace.setSpanContext(ROOT_CONTEXT, { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.NONE, isRemote: true });
    const decide = () => sampler.shouldSample(unsampledParent, randomBytes(16).toString('hex'), 'span', SpanKind.SERVER, {}, []).decision;
    expect(decide()).toBe(SamplingDecision.NOT_RECORD);
    applyDefectSwitches(defects, { HSI_DEFECT_SAMPLER_IGNORES_PARENT: '1' });
    expect(decide(), 'rate 1.0 and the parent ignored').toBe(SamplingDecision.RECORD_AND_SAMPLED);
  });
});
