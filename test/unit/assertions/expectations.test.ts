import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateExpectations, parseExpectations, type ExpectationEvidence } from '../../../assertions/expectations.ts';
import type { PipelineOutcome } from '../../../assertions/lost/outcome.ts';
import { AssertionsFileSchema, describeFailures, writeAssertionsJson, type AssertionResult } from '../../../assertions/result.ts';
import { setup, toPass } from '../../../assertions/vitest-matchers.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { RunResults } from '../../../harness/util/run-results.ts';
import type { UploadRecord } from '../../../harness/load/upload-client.ts';
import { JaegerQueryClient } from '../../../harness/traces/jaeger-client.ts';
import type { TraceSearchSource } from '../../../assertions/propagation/stitch.ts';
import type { PresenceSource } from '../../../assertions/sampling/presence.ts';
import { hsiRun, T0, type HsiRunOptions } from './helpers.ts';

setup();

const SCENARIO = [
  { family: 'span-tree', builtin: 'hsi-upload', hsi: { analysis: true } },
  { family: 'span-tree', builtin: 'hsi-analysis', traces: 'all' },
  { family: 'propagation', hops: 'hsi', baggage: 'hsi', stitching: true, hsi: { analysis: true } },
  { family: 'sampling', checks: ['parent-based', 'no-partial'] },
  { family: 'latency', hsi: { analysis: true }, endToEnd: { percentile: 95, maxMs: 60_000 } },
  { family: 'errors', graceMs: 5000, require: [{ window: 'llm-slow', service: 'nemotron-backend', name: 'llm_inference', min: 0 }] },
  { family: 'nothing-lost' },
];

/** Evidence of a run: traces and upload records from the factory, a fault window, the pipeline's rows. */
function evidence(options: HsiRunOptions): ExpectationEvidence {
  const { traces, uploads } = hsiRun(options);
  const outcome: PipelineOutcome = {
    detections: uploads.map((u, i) => ({ id: String(i + 1), file_path: u.filePath })),
    eventDetections: uploads.map((_, i) => ({ event_id: '1', detection_id: String(i + 1) })),
    events: [{ id: '1', batch_id: 'batch-00000001', is_fallback: false }],
    dlq: { detection: [], analysis: [] },
  };
  return {
    traces,
    uploads,
    pipelineOutcome: outcome,
    faults: { loadStartEpochMs: T0, windows: [{ index: 0, name: 'llm-slow', target: 'llm', faultType: 'latency', plannedStartMs: 40_000, plannedEndMs: 50_000, appliedAtMs: 40_000, removedAtMs: 50_000 }] },
  };
}

describe('scenario expectations', () => {
  const expectations = parseExpectations(SCENARIO, 'scenarios/healthy.json');

  it('the healthy HSI run passes every family', () => {
    const results = evaluateExpectations(expectations, evidence({ uploads: 5, analysis: true }));
    expect(new Set(results.map((r) => r.family))).toEqual(new Set(['span-tree', 'propagation', 'sampling', 'latency', 'errors', 'nothing-lost']));
    expect(results).toPass();
    expect(results.length).toBeGreaterThan(15);
  });

  it('each defect fails its family', () => {
    const failed = (options: HsiRunOptions) => describeFailures(evaluateExpectations(expectations, evidence(options)));
    const queue = failed({ uploads: 5, analysis: true, defects: { queueNoContext: true } });
    expect(queue.some((l) => l.startsWith('✗ [propagation] hop: queue: detection_queue producer → consumer: hop "queue: detection_queue producer → consumer" broken in 5/5 traces'))).toBe(true);
    expect(queue.some((l) => l.startsWith('✗ [span-tree]'))).toBe(true);
    expect(queue.some((l) => l.includes('stitching'))).toBe(false); // stitching still joins the pieces

    const detector = failed({ uploads: 5, analysis: true, defects: { detectorNotInstrumented: true } });
    expect(detector.some((l) => l.includes('[propagation] hop: http: backend → detector'))).toBe(true);
    expect(detector.some((l) => l.includes('[span-tree]') && l.includes('expected a child ai-yolo26-emulator "POST /detect"'))).toBe(true);
    expect(detector.some((l) => l.includes('[sampling] no partial traces'))).toBe(true);

    const baggage = failed({ uploads: 5, analysis: true, defects: { llmBaggageDropped: true } });
    expect(baggage).toEqual([
      '✗ [propagation] baggage: camera.id at ai-llm-emulator "POST /completion": baggage "camera.id" missing on ai-llm-emulator "POST /completion" in 1/1 traces (no attribute "camera.id")',
      '✗ [propagation] baggage: batch.id at ai-llm-emulator "POST /completion": baggage "batch.id" missing on ai-llm-emulator "POST /completion" in 1/1 traces (no attribute "batch.id")',
    ]);

    const slow = failed({ uploads: 20, analysis: true, detectMs: (n) => 1000 + n * 100 });
    expect(slow).toEqual([expect.stringMatching(/^✗ \[latency\] latency: detect stage \(SLO\): latency budget "detect stage \(SLO\)" exceeded: nemotron-backend "detection_processing" p95 2905\.0 ms, bound < 2000 ms/)]);
  });

  it('reports lost uploads and errors outside the fault windows', () => {
    const e = evidence({ uploads: 5, analysis: true });
    e.pipelineOutcome = { ...e.pipelineOutcome!, eventDetections: e.pipelineOutcome!.eventDetections.slice(0, 3) };
    e.faults = { ...e.faults!, windows: [] };
    const broken = hsiRun({ uploads: 1, analysis: false }).traces[0]!;
    const spans = broken.spans.map((s) => (s.name === 'yolo26_detection_request' ? { ...s, traceId: 'e'.repeat(32), status: { code: 'error' as const } } : { ...s, traceId: 'e'.repeat(32) }));
    e.traces = [...e.traces, { ...broken, traceId: 'e'.repeat(32), spans }];
    const lines = describeFailures(evaluateExpectations(parseExpectations([{ family: 'errors' }, { family: 'nothing-lost' }]), e));
    expect(lines).toEqual([
      expect.stringMatching(/^✗ \[errors\] errors outside fault windows: 1 error span outside no fault windows: nemotron-backend "yolo26_detection_request" ×1; first at load \+0\.2 s in trace e{32}$/),
      expect.stringMatching(/^✗ \[nothing-lost\] nothing lost: 2\/5 accepted uploads lost: upload upload-4 \(\/data\/uploads\/front_door\/upload-4\.jpg\): detections 4 stored but in no event/),
    ]);
  });

  it('takes the harness types as they are: UploadRecord as evidence, JaegerQueryClient as trace source', () => {
    const client = new JaegerQueryClient({ baseUrl: 'http://127.0.0.1:1' });
    const source: TraceSearchSource & PresenceSource = client;
    const records: UploadRecord[] = [{ cameraId: 'front_door', fixture: 'a.jpg', traceId: 'a'.repeat(32), clientSpanId: 'b'.repeat(16), sampled: true, status: 202, accepted: true, latencyMs: 5 }];
    const e: ExpectationEvidence = { traces: [], uploads: records };
    expect(source).toBe(client);
    expect(evaluateExpectations(parseExpectations([{ family: 'span-tree', builtin: 'hsi-upload' }]), e)[0]!.message).toBe('span tree "hsi upload (detection + analysis)": no traces to check');
  });

  it('fails, not throws, when evidence is missing', () => {
    const results = evaluateExpectations(parseExpectations([{ family: 'nothing-lost' }, { family: 'errors' }, { family: 'sampling', rate: 0.1 }]), { traces: [] });
    expect(results.map((r) => [r.passed, r.message])).toEqual([
      [false, 'nothing-lost: cannot evaluate: upload records was not collected'],
      [false, 'errors: cannot evaluate: the fault windows (faults) was not collected'],
      [false, 'sampling: cannot evaluate: sampling records or upload records was not collected'],
    ]);
  });

  it('validates the expectations array with one line naming the field', () => {
    const fails = (value: unknown) => {
      try {
        parseExpectations(value, 'scenarios/x.json');
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      return 'no error';
    };
    expect(fails([{ family: 'latancy' }])).toMatch(/^scenarios\/x\.json: 0\.family: expected an expectation with family span-tree, propagation, sampling, latency, errors or nothing-lost/);
    expect(fails([{ family: 'span-tree' }])).toBe('scenarios/x.json: 0: a span-tree expectation needs exactly one of tree or builtin');
    expect(fails([{ family: 'span-tree', tree: { root: { name: 'x', kind: 'srv' } } }])).toMatch(/^scenarios\/x\.json: 0\.tree\.root\.kind: expected a span kind/);
    expect(fails([{ family: 'propagation', hops: [{ name: 'h', from: 'traceparent' }] }])).toMatch(/^scenarios\/x\.json: 0\.hops: /);
    expect(fails([{ family: 'sampling', rate: 2 }])).toMatch(/^scenarios\/x\.json: 0\.rate: /);
    expect(fails([{ family: 'errors', require: [{ window: 'w', servce: 'x' }] }])).toBe('scenarios/x.json: 0.require.0: Unrecognized key: "servce"');
    expect(fails([{ family: 'nothing-lost', endStage: 'done' }])).toMatch(/^scenarios\/x\.json: 0\.endStage: /);
    for (const m of [fails([{ family: 'latancy' }])]) expect(m.includes('\n')).toBe(false);
  });
});

describe('assertions.json and matchers', () => {
  const root = mkdtempSync(join(tmpdir(), 'hsi-assertions-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes a versioned file that its schema reads back', () => {
    const results = evaluateExpectations(parseExpectations(SCENARIO), evidence({ uploads: 3, analysis: true, defects: { llmBaggageDropped: true } }));
    const run = new RunResults(root, 'run-test');
    const file = writeAssertionsJson(results, run, new Date('2026-11-24T08:00:00Z'));
    expect(file).toBe(join(root, 'run-test', 'assertions.json'));
    const parsed = AssertionsFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    expect(parsed.schemaVersion).toBe(1);
    expect(parsed.runId).toBe('run-test');
    expect(parsed.summary).toEqual({ total: results.length, passed: results.length - 2, failed: 2, failedByFamily: { propagation: 2 } });
  });

  it('toPass prints the failing messages', () => {
    const failing: AssertionResult = {
      family: 'latency',
      name: 'latency: x',
      passed: false,
      measured: { value: 3, unit: 'ms', text: '3 ms' },
      bound: { op: '<', value: 2, unit: 'ms', text: '< 2 ms' },
      message: 'x is over its bound',
      exampleTraceIds: [],
    };
    const outcome = toPass([failing]);
    expect(outcome.pass).toBe(false);
    expect(outcome.message()).toBe('1 of 1 assertion failed:\n  ✗ [latency] latency: x: x is over its bound');
    expect(toPass('nope').pass).toBe(false);
    expect(() => expect(failing).toPass()).toThrow(/x is over its bound/);
  });
});
