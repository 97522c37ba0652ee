import { describe, expect, it } from 'vitest';
import { hsiLatencyBudgets } from '../../../assertions/hsi/expectations.ts';
import { checkLatencyBudgets, contractLatencyBudgets, criticalPathBreakdown, endToEndLatencies, operationLatencies, parseLatencyBudgets } from '../../../assertions/latency/latency.ts';
import { stitchPipelines } from '../../../assertions/propagation/stitch.ts';
import { setup } from '../../../assertions/vitest-matchers.ts';
import { criticalPath } from '../../../harness/traces/critical-path.ts';
import { hex16, hsiRun, mkTree, T0 } from './helpers.ts';

setup();

describe('critical path', () => {
  //  A [0,100]
  //  ├ B [10,40]
  //  │ └ D [15,35]
  //  ├ C [50,90]
  //  └ E [60,70]   concurrent with C, ends before it: off the path
  const t = mkTree('1', [
    { id: 'a', name: 'A', start: 0, dur: 100 },
    { id: 'b', parent: 'a', name: 'B', start: 10, dur: 30 },
    { id: 'd', parent: 'b', name: 'D', start: 15, dur: 20 },
    { id: 'c', parent: 'a', name: 'C', start: 50, dur: 40 },
    { id: 'e', parent: 'a', name: 'E', start: 60, dur: 10 },
  ]);

  it('follows the latest-ending children and returns the span sequence with self times', () => {
    const path = criticalPath(t)!;
    expect(path.totalMs).toBe(100);
    expect(path.segments.map((s) => `${s.spanId.replace(/^0+/, '')}:${s.startMs - T0}-${s.endMs - T0}`)).toEqual(['a:0-10', 'b:10-15', 'd:15-35', 'b:35-40', 'a:40-50', 'c:50-90', 'a:90-100']);
    expect(path.steps.map((s) => [s.span.name, s.selfMs, s.waitMs])).toEqual([
      ['A', 30, 0],
      ['B', 10, 0],
      ['D', 20, 0],
      ['C', 40, 0],
    ]);
    expect(path.steps.reduce((sum, s) => sum + s.selfMs + s.waitMs, 0)).toBe(path.totalMs);
  });

  it('follows a queue consumer that outlives its producer, reporting the gap as wait', () => {
    const q = mkTree('2', [
      { id: '1', name: 'upload', kind: 'server', start: 0, dur: 20 },
      { id: '2', parent: '1', name: 'publish', kind: 'producer', start: 10, dur: 5 },
      { id: '3', parent: '2', name: 'consume', kind: 'consumer', start: 50, dur: 300 },
      { id: '4', parent: '3', name: 'detect', kind: 'client', start: 60, dur: 150 },
    ]);
    const path = criticalPath(q)!;
    expect(path.totalMs).toBe(350);
    expect(path.steps.map((s) => [s.span.name, s.selfMs, s.waitMs])).toEqual([
      ['upload', 10, 0],
      ['publish', 5, 35],
      ['consume', 150, 0],
      ['detect', 150, 0],
    ]);
  });

  it('starts from a given span, or the root that ends last; clips children that start before their parent', () => {
    expect(criticalPath(t, hex16('b'))!.steps.map((s) => s.span.name)).toEqual(['B', 'D']);
    expect(criticalPath(t, hex16('f'))).toBeUndefined();
    const skew = mkTree('3', [
      { id: '1', name: 'p', start: 10, dur: 20 },
      { id: '2', parent: '1', name: 'c', start: 5, dur: 10 },
    ]);
    const path = criticalPath(skew)!;
    expect(path.segments[0]!.startMs).toBe(T0 + 10);
    expect(path.steps.map((s) => [s.span.name, s.selfMs])).toEqual([
      ['c', 5],
      ['p', 15],
    ]);
  });

  it('breaks a run down by operation', () => {
    const { traces } = hsiRun({ uploads: 3 });
    const shares = criticalPathBreakdown(traces);
    expect(shares[0]!.name).toBe('yolo26_inference');
    expect(shares.find((s) => s.name === 'detection_queue publish')!.waitMs.p50Ms).toBe(35);
  });
});

describe('latency', () => {
  it('computes per-operation percentiles with linear interpolation', () => {
    const { traces } = hsiRun({ uploads: 5, detectMs: (n) => n * 100 });
    const ops = operationLatencies(traces);
    const detect = ops.find((o) => o.name === 'detection_processing')!;
    // 100, 200, 300, 400, 500: p90 at rank 3.6 → 400 + 0.6·100.
    expect(detect).toMatchObject({ service: 'nemotron-backend', count: 5, minMs: 100, maxMs: 500, meanMs: 300, p50Ms: 300, p90Ms: 460, p95Ms: 480, p99Ms: 496 });
    // The same spans given twice are counted once.
    expect(operationLatencies([...traces, ...traces]).find((o) => o.name === 'detection_processing')!.count).toBe(5);
  });

  it('the contract SLO budgets pass on a healthy run (analyze stage optional without analysis)', () => {
    const { traces } = hsiRun({ uploads: 10 });
    const results = checkLatencyBudgets({ traces }, hsiLatencyBudgets());
    expect(results).toPass();
    expect(results[1]!.message).toBe('latency budget "analyze stage (SLO)": no nemotron-backend "analysis_processing" samples (optional)');
    expect(checkLatencyBudgets({ traces }, contractLatencyBudgets({ analysis: true }))[1]!.passed).toBe(false);
  });

  it('a detect stage over its SLO fails, naming the operation, percentile and bound', () => {
    const { traces } = hsiRun({ uploads: 30, detectMs: (n) => n * 100 });
    const [detect] = checkLatencyBudgets({ traces }, hsiLatencyBudgets());
    expect(detect!.passed).toBe(false);
    // 100..3000 ms: rank 0.95·29 = 27.55 → 2800 + 0.55·100.
    expect(detect!.measured.value).toBeCloseTo(2855, 9);
    expect(detect!.measured.text).toBe('p95 2855.0 ms (n=30)');
    expect(detect!.bound).toEqual({ op: '<', value: 2000, unit: 'ms', text: 'p95 < 2000 ms' });
    expect(detect!.message).toBe('latency budget "detect stage (SLO)" exceeded: nemotron-backend "detection_processing" p95 2855.0 ms, bound < 2000 ms (n=30, 11 over the bound, slowest 3000.0 ms)');
    expect(detect!.exampleTraceIds[0]).toBe('a000000000000000000000000000001e');
  });

  it('checks end-to-end budgets on stitched pipelines', () => {
    const { traces, uploads } = hsiRun({ uploads: 4, analysis: true, defects: { queueNoContext: true } });
    const pipelines = stitchPipelines(traces, { uploads });
    expect(endToEndLatencies(pipelines).p50Ms).toBe(33_400);
    const [ok, over] = checkLatencyBudgets({ pipelines }, [
      { endToEnd: true, percentile: 95, maxMs: 40_000 },
      { name: 'e2e tight', endToEnd: true, percentile: 50, maxMs: 30_000 },
    ]);
    expect(ok).toPass();
    expect(over!.message).toMatch(/^latency budget "e2e tight" exceeded: end to end \(upload → event\) p50 33400\.0 ms, bound < 30000 ms/);
  });

  it('validates declared budgets', () => {
    expect(parseLatencyBudgets([{ operation: { name: 'detection_processing' }, percentile: 99, maxMs: 5000 }])).toHaveLength(1);
    expect(() => parseLatencyBudgets([{ operation: { name: 'x' }, percentile: 0, maxMs: 5 }], 'scenario.json')).toThrow(/^scenario\.json: 0\.percentile: percentile must be in \(0, 100\]$/);
    expect(() => parseLatencyBudgets([{ percentile: 95, maxMs: 5 }], 's')).toThrow(/^s: 0: a budget needs exactly one of operation or endToEnd: true$/);
  });
});
