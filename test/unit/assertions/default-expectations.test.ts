import { describe, expect, it } from 'vitest';
import { evaluateExpectations, parseExpectations, type ExpectationEvidence } from '../../../assertions/expectations.ts';
import { parseDlqEntry, type PipelineOutcome } from '../../../assertions/lost/outcome.ts';
import { describeFailures, type AssertionResult } from '../../../assertions/result.ts';
import { setup } from '../../../assertions/vitest-matchers.ts';
import { buildTraceTree, type NormalizedSpan, type TraceTree } from '../../../harness/traces/span-model.ts';
import mainJob from '../../../scenarios/steady-detector-fault.ts';
import { hsiRun, T0 } from './helpers.ts';

setup();

/**
 * Issue 15, item 1 and 2 at the unit level: the main job's own expectations (as the scenario file
 * declares them, nothing turned on by hand) over a synthetic run, healthy and with each kind of
 * bug the old defaults passed. Each case changes the evidence the way the bug changes it in a
 * real run (defects.test.ts proves the same on the stack) and names the result that must fail
 * and the cause its message must give. A default that is not wired in (timing, baggage values
 * against the uploads, the contract's outcome rules, the resilience checks, the detector's
 * answers) fails one of these.
 */
const EXPECTATIONS = parseExpectations(mainJob.expectations, 'steady-detector-fault');
const SETTINGS = mainJob.stack?.backend ?? {};

type Run = ReturnType<typeof hsiRun>;

/** Two batches of two uploads: every upload 2 rows, each batch one event; the detector's answer held 2 objects. */
function healthyRun(): Run {
  const run = hsiRun({ uploads: 4, batchSize: 2, analysis: true });
  return { ...run, traces: patch(run.traces, (s) => s.name === 'yolo26_detection_request', (s) => ({ ...s, attributes: { ...s.attributes, 'ai.inference.detections': 2 } })) };
}

function outcomeOf(run: Run): PipelineOutcome {
  const rowId = (u: number, k: number) => String(u * 10 + k);
  return {
    detections: run.uploads.flatMap((u, i) => [1, 2].map((k) => ({ id: rowId(i + 1, k), file_path: u.filePath }))),
    eventDetections: run.uploads.flatMap((_, i) => [1, 2].map((k) => ({ event_id: i < 2 ? '100' : '200', detection_id: rowId(i + 1, k) }))),
    events: [
      { id: '100', batch_id: 'batch-00000001', is_fallback: false, summary: 'A person at the door', risk_score: 40 },
      { id: '200', batch_id: 'batch-00000003', is_fallback: false, summary: 'A car in the driveway', risk_score: 20 },
    ],
    dlq: { detection: [], analysis: [] },
  };
}

function evidenceOf(run: Run, outcome: PipelineOutcome = outcomeOf(run)): ExpectationEvidence {
  return { traces: run.traces, uploads: run.uploads, pipelineOutcome: outcome, faults: { windows: [], loadStartEpochMs: T0 }, stackSettings: SETTINGS };
}

function patch(traces: readonly TraceTree[], match: (s: NormalizedSpan) => boolean, change: (s: NormalizedSpan) => NormalizedSpan): TraceTree[] {
  return traces.map((t) => buildTraceTree(t.spans.map((s) => (match(s) ? change(s) : s)), t.traceId));
}

/** The spans named `name` and everything under them move to a trace of their own: the context did not cross that hop. */
function contextLostAt(traces: readonly TraceTree[], name: string): TraceTree[] {
  const out: TraceTree[] = [];
  for (const t of traces) {
    const cut = t.spans.filter((s) => s.name === name);
    if (cut.length === 0) {
      out.push(t);
      continue;
    }
    const moved = new Set(cut.flatMap((c) => [c, ...descendants(t, c)]).map((s) => s.spanId));
    out.push(buildTraceTree(t.spans.filter((s) => !moved.has(s.spanId)), t.traceId));
    const newId = `f${t.traceId.slice(1)}`;
    out.push(buildTraceTree(t.spans.filter((s) => moved.has(s.spanId)).map((s) => ({ ...s, traceId: newId, ...(s.name === name ? { parentSpanId: undefined } : {}) })), newId));
  }
  return out;
}

function descendants(t: TraceTree, s: NormalizedSpan): NormalizedSpan[] {
  return t.childrenOf(s.spanId).flatMap((c) => [c, ...descendants(t, c)]);
}

function verdict(evidence: ExpectationEvidence): AssertionResult[] {
  return evaluateExpectations(EXPECTATIONS, evidence);
}

function failing(results: readonly AssertionResult[], name: string): AssertionResult {
  const r = results.find((x) => x.name === name);
  expect(r, `${name} is among the default results: ${results.map((x) => x.name).join(' | ')}`).toBeDefined();
  expect(r!.passed, `${name} fails`).toBe(false);
  return r!;
}

describe('the main job\'s default expectations (issue 15): the whole contract, no false alarm', () => {
  it('a healthy run passes every result, and every family of the contract is there', () => {
    const results = verdict(evidenceOf(healthyRun()));
    expect(describeFailures(results)).toEqual([]);
    const names = results.map((r) => r.name);
    for (const expected of [
      'span timing: children inside their parents',
      'hop: queue: analysis_queue producer → consumer',
      'hop: http: backend → llm',
      'resilience: detector retries',
      'resilience: LLM retries',
      'resilience: detector circuit breaker',
    ]) expect(names).toContain(expected);
    expect(names.filter((n) => n.startsWith('baggage: ')).length).toBeGreaterThanOrEqual(7);
  });

  it('no false alarm when a batch was opened by an unsampled upload (its analysis has no traced event)', () => {
    const run = healthyRun();
    const unsampled = { ...run, traces: run.traces.filter((t) => t.traceId !== run.uploads[0]!.traceId), uploads: run.uploads.map((u, i) => (i === 0 ? { ...u, sampled: false } : u)) };
    expect(describeFailures(verdict(evidenceOf(unsampled, outcomeOf(run))))).toEqual([]);
  });

  it('trace context lost on the analysis_queue hop', () => {
    const run = healthyRun();
    const r = failing(verdict(evidenceOf({ ...run, traces: contextLostAt(run.traces, 'analysis_processing') })), 'hop: queue: analysis_queue producer → consumer');
    expect(r.message).toMatch(/broken in 2\/2 traces: nemotron-backend "analysis_processing" not in the trace of nemotron-backend "analysis_queue publish"/);
  });

  it('trace context lost on the backend → LLM hop', () => {
    const run = healthyRun();
    const r = failing(verdict(evidenceOf({ ...run, traces: contextLostAt(run.traces, 'POST /completion') })), 'hop: http: backend → llm');
    expect(r.message).toMatch(/broken in 2\/2 traces: ai-llm-emulator server span not in the trace of nemotron-backend "llm_inference"/);
  });

  it('a camera.id at the detector that is present but wrong', () => {
    const run = healthyRun();
    const stale = patch(run.traces, (s) => s.name === 'POST /detect', (s) => ({ ...s, attributes: { ...s.attributes, 'camera.id': 'driveway' } }));
    const r = failing(verdict(evidenceOf({ ...run, traces: stale })), 'baggage: camera.id at ai-yolo26-emulator "POST /detect"');
    expect(r.message).toMatch(/is present but wrong in 4\/4 traces: got "driveway", but the request that started the trace sent "front_door"/);
  });

  it('a camera.id that agrees with the job but not with the camera the upload was sent for', () => {
    const run = healthyRun();
    const sentForDriveway = { ...run, uploads: run.uploads.map((u) => ({ ...u, cameraId: 'driveway' })) };
    const r = failing(verdict(evidenceOf(sentForDriveway)), 'baggage: camera.id at ai-yolo26-emulator "POST /detect"');
    expect(r.message).toMatch(/got "front_door", but the request that started the trace sent "driveway"/);
  });

  it('a batch.id at the LLM that is not the batch\'s', () => {
    const run = healthyRun();
    const wrong = patch(run.traces, (s) => s.name === 'POST /completion', (s) => ({ ...s, attributes: { ...s.attributes, 'batch.id': 'batch-ffffffff' } }));
    const r = failing(verdict(evidenceOf({ ...run, traces: wrong })), 'baggage: batch.id at ai-llm-emulator "POST /completion"');
    expect(r.message).toMatch(/present but wrong in 2\/2 traces: got "batch-ffffffff"/);
  });

  it('a parent span that ends before its children (the detect-stage budget alone passes it)', () => {
    const run = healthyRun();
    const early = patch(run.traces, (s) => s.name === 'detection_processing', (s) => ({ ...s, durationMs: 1 }));
    const results = verdict(evidenceOf({ ...run, traces: early }));
    expect(results.find((r) => r.name === 'latency: detect stage (SLO)')?.passed, 'the budget alone is fooled by a 1 ms span').toBe(true);
    const r = failing(results, 'span timing: children inside their parents');
    expect(r.message).toMatch(/a parent span ends before the work it covers.*nemotron-backend "detection_processing" \(1\.0 ms\) ended [\d.]+ ms before its child/);
  });

  it('an LLM failure dead-lettered instead of the fallback event; the cause is the LLM', () => {
    const run = healthyRun();
    const healthy = outcomeOf(run);
    const outcome: PipelineOutcome = {
      ...healthy,
      eventDetections: healthy.eventDetections.filter((l) => l.event_id !== '200'),
      events: healthy.events.filter((e) => e.id !== '200'),
      dlq: { detection: [], analysis: [parseDlqEntry(JSON.stringify({ batch_id: 'batch-00000003', detection_ids: [31, 32, 41, 42], error_code: 'llm_http_503', error: 'LLM unavailable after 3 attempts' }))] },
    };
    const r = failing(verdict(evidenceOf(run, outcome)), 'nothing lost');
    expect(r.message).toMatch(/2\/4 accepted uploads ended wrongly: .*in dlq:analysis_queue, which the contract does not allow here: it failed on the LLM \(error_code llm_http_503\)/);
  });

  it('a worker that drops rows is named as such, not as "the detector found nothing"', () => {
    const run = healthyRun();
    const healthy = outcomeOf(run);
    const outcome: PipelineOutcome = { ...healthy, detections: healthy.detections.filter((d) => d.id !== '12'), eventDetections: healthy.eventDetections.filter((l) => l.detection_id !== '12') };
    const r = failing(verdict(evidenceOf(run, outcome)), 'nothing lost');
    expect(r.message).toMatch(/the detector returned 2 detections but the worker stored 1 row: 1 dropped/);
    expect(r.message).not.toMatch(/found nothing/);
  });

  it('retries without backoff, against the configured retry settings', () => {
    const run = healthyRun();
    const first = run.traces[0]!;
    const request = first.spans.find((s) => s.name === 'yolo26_detection_request')!;
    const failedAttempt: NormalizedSpan = { ...request, spanId: 'e'.repeat(16), startTimeMs: request.startTimeMs - 8, durationMs: 5, attributes: { ...request.attributes, retry_attempt: 0 }, status: { code: 'error' } };
    const retried = buildTraceTree([...first.spans.map((s) => (s === request ? { ...s, attributes: { ...s.attributes, retry_attempt: 1 } } : s)), failedAttempt], first.traceId);
    const r = failing(verdict(evidenceOf({ ...run, traces: [retried, ...run.traces.slice(1)] })), 'resilience: detector retries');
    expect(r.message).toMatch(/retry 1 of nemotron-backend "detection_processing" started 3\.0 ms after the failed attempt; the configured backoff is at least 900\.0 ms \(DETECTOR_MAX_RETRIES default 3\)/);
  });

  it('a breaker that does not open at the scenario\'s own threshold (the stack settings reach the check)', () => {
    const run = healthyRun();
    const failed = patch(run.traces, (s) => s.name === 'yolo26_detection_request' && (s.traceId === run.uploads[0]!.traceId || s.traceId === run.uploads[1]!.traceId), (s) => ({ ...s, status: { code: 'error' } }));
    const evidence = { ...evidenceOf({ ...run, traces: failed }), stackSettings: { ...SETTINGS, DETECTOR_CB_FAILURE_THRESHOLD: '2' } };
    const r = failing(verdict(evidence), 'resilience: detector circuit breaker');
    expect(r.message).toMatch(/2 nemotron-backend "yolo26_detection_request" attempts failed in a row and the breaker never opened; the configured threshold is 2 \(DETECTOR_CB_FAILURE_THRESHOLD=2/);
  });
});
