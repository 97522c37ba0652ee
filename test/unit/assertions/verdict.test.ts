import { describe, expect, it } from 'vitest';
import { hsiBaggageChecks, hsiExpectedBaggage, hsiOutcomeRules, hsiResiliencePolicies } from '../../../assertions/hsi/expectations.ts';
import { checkNothingLost, classifyUploads, detectorAnswers, filePathsWithoutDetections, parseDlqEntry, type PipelineOutcome, type UploadToFollow } from '../../../assertions/lost/outcome.ts';
import { checkCircuitBreaker, checkRetries } from '../../../assertions/errors/resilience.ts';
import { checkBaggage } from '../../../assertions/propagation/baggage.ts';
import { checkStitching, stitchPipelines } from '../../../assertions/propagation/stitch.ts';
import { checkSpanTiming } from '../../../assertions/span-tree/timing.ts';
import { setup } from '../../../assertions/vitest-matchers.ts';
import { buildTraceTree, type TraceTree } from '../../../harness/traces/span-model.ts';
import { DETECTOR, hsiRun, mkTree } from './helpers.ts';

setup();

/** The same traces with one span changed. */
function patch(traces: readonly TraceTree[], match: (name: string, service: string) => boolean, change: Record<string, unknown>): TraceTree[] {
  return traces.map((t) => buildTraceTree(t.spans.map((s) => (match(s.name, s.service) ? { ...s, ...change } : s)), t.traceId));
}

describe('span timing (issue 15: a parent that ends before its children)', () => {
  it('passes a healthy run, asynchronous queue hops included', () => {
    expect(checkSpanTiming(hsiRun({ uploads: 4, batchSize: 2, analysis: true }).traces)).toPass();
  });

  it('fails when detection_processing ends before its children, naming both spans', () => {
    const { traces } = hsiRun({ uploads: 3, analysis: true });
    const broken = patch(traces, (n) => n === 'detection_processing', { durationMs: 1 });
    const r = checkSpanTiming(broken);
    expect(r.passed).toBe(false);
    expect(r.family).toBe('span-tree');
    expect(r.message).toMatch(/^span timing broken in 3\/3 traces: a parent span ends before the work it covers, so its duration understates it: nemotron-backend "detection_processing" \(1\.0 ms\) ended \d+\.\d ms before its child nemotron-backend "batch_aggregation" started/);
  });

  it('allows clock skew; a server span may end after its caller (checked at its start only)', () => {
    const t = (serverStart: number, serverEnd: number, innerEnd = 300) =>
      mkTree('1', [
        { id: '1', name: 'analysis_processing', kind: 'consumer', start: 0, dur: 1000 },
        { id: '2', parent: '1', name: 'llm_inference', kind: 'client', start: 10, dur: 300 },
        { id: '3', parent: '2', service: 'ai-llm-emulator', name: 'POST /completion', kind: 'server', start: serverStart, dur: serverEnd - serverStart },
        { id: '4', parent: '3', service: 'ai-llm-emulator', name: 'llm_generate', start: serverStart + 1, dur: innerEnd - serverStart - 1 },
      ]);
    expect(checkSpanTiming([t(15, 300)])).toPass();
    expect(checkSpanTiming([t(15, 450, 440)])).toPass(); // the server went on after answering
    expect(checkSpanTiming([t(-5, 300)])).toPass(); // 15 ms early: within the 20 ms allowance
    const early = checkSpanTiming([t(-30, 300)]);
    expect(early.passed).toBe(false);
    expect(early.message).toMatch(/a child starts before its parent: nemotron-backend "llm_inference" \(300\.0 ms\) started 40\.0 ms after its child ai-llm-emulator "POST \/completion"/);
    // In one process: a child that starts after its parent ended fails; one that only outlives it (fire and forget) is counted.
    const late = (childStart: number) => mkTree('2', [
      { id: '1', name: 'POST /api/cameras/{camera_id}/uploads', kind: 'server', start: 0, dur: 50 },
      { id: '2', parent: '1', name: 'INSERT cameras', kind: 'client', start: childStart, dur: 60 },
    ]);
    const outlives = checkSpanTiming([late(30)]);
    expect(outlives).toPass();
    expect(outlives.details?.['outliving']).toBe(1);
    expect(checkSpanTiming([late(100)]).passed).toBe(false);
    expect(checkSpanTiming([late(100)], { skewMs: 60 })).toPass();
  });
});

describe('baggage values (issue 15: present but wrong)', () => {
  it('passes a healthy run with the uploads as expected values', () => {
    const { traces, uploads } = hsiRun({ uploads: 4, batchSize: 2, analysis: true });
    expect(checkBaggage(traces, hsiBaggageChecks(), { expected: hsiExpectedBaggage(uploads) })).toPass();
  });

  it('fails a stale camera.id at the detector, against the job and against the upload', () => {
    const { traces, uploads } = hsiRun({ uploads: 2, analysis: true });
    const wrong = traces.map((t) => buildTraceTree(t.spans.map((s) => (s.name === 'POST /detect' ? { ...s, attributes: { ...s.attributes, 'camera.id': 'driveway' } } : s)), t.traceId));
    const byJob = checkBaggage(wrong, hsiBaggageChecks()).find((r) => r.name === `baggage: camera.id at ${DETECTOR} "POST /detect" [server]` || (r.name.includes('camera.id') && r.name.includes(DETECTOR)))!;
    expect(byJob.passed).toBe(false);
    expect(byJob.message).toMatch(/^baggage "camera\.id" on ai-yolo26-emulator "POST \/detect" is present but wrong in 2\/2 traces: got "driveway", but the span's own camera_id is "front_door"/);
    const noSameAs = hsiBaggageChecks().map((c) => ({ ...c, sameAs: undefined }));
    const byUpload = checkBaggage(wrong, noSameAs, { expected: hsiExpectedBaggage(uploads) }).find((r) => r.name.includes(DETECTOR))!;
    expect(byUpload.message).toMatch(/got "driveway", but the request that started the trace sent "front_door"/);
  });
});

describe('stitching up to the event (issue 15: the unsampled-opener false alarm)', () => {
  it('skips, and counts, uploads whose batch was opened by an unsampled upload', () => {
    const { traces, uploads } = hsiRun({ uploads: 4, batchSize: 2, analysis: true });
    // Upload 1 opened batch 1 and was sent unsampled: its trace is not in Jaeger.
    const sampledTraces = traces.filter((t) => t.traceId !== uploads[0]!.traceId);
    const r = checkStitching(stitchPipelines(sampledTraces, { uploads: uploads.slice(1) }));
    expect(r).toPass();
    expect(r.message).toMatch(/^all 2 uploads followed to the event, .*; 1 skipped: their batch was opened by an unsampled upload/);
    expect(r.details?.['skippedUnsampledBatch']).toBe(1);
    expect(checkStitching(stitchPipelines(sampledTraces, { uploads: uploads.slice(1) }), { skipUnsampledBatches: false }).passed).toBe(false);
  });

  it('does not skip when the opener was traced but its analysis is missing', () => {
    const { traces, uploads } = hsiRun({ uploads: 2, analysis: true });
    const noAnalysis = traces.map((t) => buildTraceTree(t.spans.filter((s) => !['analysis_queue publish', 'analysis_processing', 'llm_inference', 'POST /completion', 'llm_generate', 'event_creation'].includes(s.name)), t.traceId));
    const r = checkStitching(stitchPipelines(noAnalysis, { uploads }));
    expect(r.passed).toBe(false);
    expect(r.message).toMatch(/^2\/2 uploads not followed to the event/);
  });
});

describe('nothing lost: rows and outcome rules (issue 15)', () => {
  const path = (n: number) => `/data/uploads/front_door/u${n}.jpg`;
  const upload = (n: number): UploadToFollow => ({ status: 202, uploadId: `u${n}`, filePath: path(n), traceId: n.toString(16).padStart(32, '0') });
  const base: PipelineOutcome = {
    detections: [
      { id: '11', file_path: path(1) },
      { id: '12', file_path: path(1) },
      { id: '21', file_path: path(2) },
    ],
    eventDetections: [
      { event_id: '100', detection_id: '11' },
      { event_id: '100', detection_id: '12' },
      { event_id: '200', detection_id: '21' },
    ],
    events: [
      { id: '100', batch_id: 'b1', is_fallback: false, summary: 'A person at the door', risk_score: 70 },
      { id: '200', batch_id: 'b2', is_fallback: true, summary: 'Analysis unavailable', risk_score: 50 },
    ],
    dlq: { detection: [], analysis: [] },
  };
  const rules = hsiOutcomeRules();

  it('passes when every row reached one event, fallback events included', () => {
    expect(checkNothingLost([upload(1), upload(2)], base, { ...rules, detectorAnswers: new Map([[path(1), 2], [path(2), 1]]) })).toPass();
  });

  it('names dropped rows (not "the detector found nothing")', () => {
    const outcome = { ...base, detections: base.detections.slice(0, 1), eventDetections: base.eventDetections.slice(0, 1) };
    const answers = new Map([[path(1), 2], [path(3), 1]]);
    const fates = classifyUploads([upload(1), upload(3)], outcome, { ...rules, detectorAnswers: answers, noDetectionFilePaths: new Set([path(3)]) });
    expect(fates.map((f) => [f.fate, f.reason])).toEqual([
      ['lost', 'the detector returned 2 detections but the worker stored 1 row: 1 dropped'],
      ['lost', 'the detector returned 1 detection but the worker stored 0 rows: 1 dropped'],
    ]);
  });

  it('believes detection_count 0 only when the detector answer held nothing', () => {
    const t = mkTree('1', [
      { id: '1', name: 'detection_processing', kind: 'consumer', start: 0, dur: 100, attrs: { file_path: path(7), detection_count: 0 } },
      { id: '2', parent: '1', name: 'yolo26_detection_request', kind: 'client', start: 1, dur: 50, attrs: { 'ai.inference.detections': 2 } },
    ]);
    expect([...detectorAnswers([t])]).toEqual([[path(7), 2]]);
    expect([...filePathsWithoutDetections([t])]).toEqual([]);
  });

  it('refuses an LLM failure in dlq:analysis_queue: the contract wants the fallback event', () => {
    const outcome: PipelineOutcome = {
      ...base,
      eventDetections: base.eventDetections.slice(0, 2),
      events: base.events.slice(0, 1),
      dlq: { detection: [], analysis: [parseDlqEntry(JSON.stringify({ batch_id: 'b2', detection_ids: [21], error_code: 'llm_http_503', error: 'LLM unavailable after 3 attempts' }))] },
    };
    const r = checkNothingLost([upload(1), upload(2)], outcome, rules);
    expect(r.passed).toBe(false);
    expect(r.message).toBe(
      '1/2 accepted uploads ended wrongly: upload u2 (/data/uploads/front_door/u2.jpg): detections in dlq:analysis_queue, which the contract does not allow here: it failed on the LLM (error_code llm_http_503), and an LLM failure must yield the fallback event "Analysis unavailable" (risk 50), not a dead letter',
    );
    // A database failure may be dead-lettered.
    const db = { ...outcome, dlq: { detection: [], analysis: [parseDlqEntry(JSON.stringify({ batch_id: 'b2', detection_ids: [21], error_code: 'database_error' }))] } };
    expect(checkNothingLost([upload(1), upload(2)], db, rules)).toPass();
    // Without the contract's rules, the dead letter counts as accounted for.
    expect(checkNothingLost([upload(1), upload(2)], outcome)).toPass();
  });

  it('reconciles links: rows in no event, rows in two events, a fallback event without the fallback text', () => {
    const partial = { ...base, eventDetections: base.eventDetections.filter((l) => l.detection_id !== '12') };
    expect(classifyUploads([upload(1)], partial, rules)[0]!.reason).toBe('detections 12 stored but in no event, while 1 other row(s) of the upload reached event 100');
    const twice = { ...base, eventDetections: [...base.eventDetections, { event_id: '200', detection_id: '11' }] };
    expect(classifyUploads([upload(1)], twice, rules)[0]!.reason).toMatch(/^detection 11 is linked to 2 events \(100, 200\)/);
    const badFallback = { ...base, events: [base.events[0]!, { ...base.events[1]!, summary: 'All clear' }] };
    expect(classifyUploads([upload(2)], badFallback, rules)[0]!).toMatchObject({ fate: 'wrong', reason: 'event 200 is marked fallback but its summary is "All clear", not "Analysis unavailable…"' });
  });
});

describe('resilience against the configured settings (issue 15)', () => {
  const policies = hsiResiliencePolicies({ DETECTOR_MAX_RETRIES: '3', DETECTOR_CB_FAILURE_THRESHOLD: '3', DETECTOR_CB_RECOVERY_SECONDS: '5' });
  const detector = policies.retries[0]!;
  /** One job with attempts starting at the given ms, each 50 ms long; all but the last fail. */
  const job = (trace: string, starts: number[], lastOk = true) =>
    mkTree(trace, [
      { id: '1', name: 'detection_processing', kind: 'consumer', start: 0, dur: 10_000 },
      ...starts.map((at, i) => ({
        id: String(i + 2),
        parent: '1',
        name: 'yolo26_detection_request',
        kind: 'client' as const,
        start: at,
        dur: 50,
        attrs: { retry_attempt: i },
        status: { code: i === starts.length - 1 && lastOk ? ('unset' as const) : ('error' as const) },
      })),
    ]);

  it('passes retries that wait the configured backoff (1 s, 2 s ± 10 %)', () => {
    expect(checkRetries([job('1', [0, 50 + 950, 1050 + 1850])], detector)).toPass();
  });

  it('fails retries without backoff and too many attempts, naming the setting', () => {
    const fast = checkRetries([job('1', [0, 52])], detector);
    expect(fast.passed).toBe(false);
    expect(fast.message).toMatch(/^detector retries break the configured policy \(1 violations\): retry 1 of nemotron-backend "detection_processing" started 2\.0 ms after the failed attempt; the configured backoff is at least 900\.0 ms \(DETECTOR_MAX_RETRIES=3\)/);
    const many = checkRetries([job('1', [0, 1000, 3000, 8000])], detector);
    expect(many.message).toMatch(/made 4 nemotron-backend "yolo26_detection_request" attempts, more than the configured 3 \(DETECTOR_MAX_RETRIES=3\)/);
  });

  it('fails a breaker that never opens after the threshold, passes one that does', () => {
    const failures = [0, 1, 2, 3].map((n) => job(String(n + 1), [n * 100], false));
    const never = checkCircuitBreaker(failures, policies.breaker);
    expect(never.passed).toBe(false);
    expect(never.message).toMatch(/3 nemotron-backend "yolo26_detection_request" attempts failed in a row and the breaker never opened; the configured threshold is 3 \(DETECTOR_CB_FAILURE_THRESHOLD=3, DETECTOR_CB_RECOVERY_SECONDS=5\)/);
    // With unsampled jobs in the run, twice the threshold must be seen before blaming the breaker.
    expect(checkCircuitBreaker(failures, policies.breaker, { evidenceComplete: false })).toPass();
    const opened = failures.map((t, i) => (i === 2 ? buildTraceTree(t.spans.map((s) => (s.name === 'detection_processing' ? { ...s, events: [{ name: 'circuit_breaker.opened', timeMs: 255, attributes: {} }] } : s)), t.traceId) : t));
    expect(checkCircuitBreaker(opened.slice(0, 3), policies.breaker)).toPass();
  });

  it('fails a breaker that goes half-open before the recovery time', () => {
    const t = mkTree('1', [
      {
        id: '1',
        name: 'detection_processing',
        kind: 'consumer',
        start: 0,
        dur: 10_000,
        events: [
          { name: 'circuit_breaker.opened', timeMs: 100, attributes: {} },
          { name: 'circuit_breaker.half_opened', timeMs: 1100, attributes: {} },
        ],
      },
    ]);
    const r = checkCircuitBreaker([t], policies.breaker);
    expect(r.passed).toBe(false);
    expect(r.message).toMatch(/the breaker went half-open 1000\.0 ms after opening; the configured recovery is 5000\.0 ms/);
  });
});
