import { describe, expect, it } from 'vitest';
import { HSI_HOP_NAMES, hsiBaggageChecks, hsiHops } from '../../../assertions/hsi/expectations.ts';
import { endToEndLatencies } from '../../../assertions/latency/latency.ts';
import { checkBaggage, checkBaggageKey, parseBaggageChecks } from '../../../assertions/propagation/baggage.ts';
import { checkHop, checkHops, evaluateHop, parseHops, sentSpanIds } from '../../../assertions/propagation/hops.ts';
import { checkStitching, fetchPipelineTraces, joinCounts, mergeTraces, stitchPipelines, type TraceSearchSource } from '../../../assertions/propagation/stitch.ts';
import { JaegerQueryError, type FindTracesQuery } from '../../../harness/traces/jaeger-client.ts';
import type { TraceTree } from '../../../harness/traces/span-model.ts';
import type { AssertionResult } from '../../../assertions/result.ts';
import { setup } from '../../../assertions/vitest-matchers.ts';
import { clientSpanId, hsiRun, hsiUploadTraces, LLM, mkTree, T0, uploadTraceId } from './helpers.ts';

setup();

const byName = (results: AssertionResult[], name: string): AssertionResult => results.find((r) => r.name === name)!;

describe('propagation: hops', () => {
  it('every HSI hop is intact in a healthy run', () => {
    const { traces, uploads } = hsiRun({ uploads: 5, analysis: true, batchSize: 5 });
    const results = checkHops(traces, hsiHops({ analysis: true, analysisRequired: true }), { sent: sentSpanIds(uploads) });
    expect(results.map((r) => r.name)).toEqual(Object.values(HSI_HOP_NAMES).map((n) => `hop: ${n}`));
    expect(results).toPass();
    expect(byName(results, `hop: ${HSI_HOP_NAMES.detectionQueue}`).message).toBe(`hop "${HSI_HOP_NAMES.detectionQueue}" intact in 5/5 traces`);
    // The analysis hop is exercised only in the batch opener's trace.
    expect(byName(results, `hop: ${HSI_HOP_NAMES.analysisQueue}`).measured.text).toBe('broken in 0/1 traces');
  });

  it('queue without trace context: names the queue hop, with counts and examples', () => {
    const { traces, uploads } = hsiRun({ uploads: 20, defects: { queueNoContext: true } });
    const results = checkHops(traces, hsiHops(), { sent: sentSpanIds(uploads) });
    const queue = byName(results, `hop: ${HSI_HOP_NAMES.detectionQueue}`);
    expect(queue.passed).toBe(false);
    expect(queue.message).toBe(
      `hop "queue: detection_queue producer → consumer" broken in 20/20 traces: nemotron-backend "detection_processing" not in the trace of nemotron-backend "detection_queue publish"`,
    );
    expect(queue.measured).toEqual({ value: 20, unit: 'traces', text: 'broken in 20/20 traces' });
    expect(queue.exampleTraceIds).toEqual([1, 2, 3, 4, 5].map(uploadTraceId));
    // The other hops still hold where they are exercised (the worker's own traces).
    expect(byName(results, `hop: ${HSI_HOP_NAMES.backendToDetector}`).passed).toBe(true);
    expect(byName(results, `hop: ${HSI_HOP_NAMES.driverToBackend}`).passed).toBe(true);
  });

  it('detector not instrumented: the backend → detector hop is broken', () => {
    const { traces } = hsiRun({ uploads: 3, defects: { detectorNotInstrumented: true } });
    const r = checkHop(traces, hsiHops()[2]!);
    expect(r.passed).toBe(false);
    expect(r.message).toBe(`hop "http: backend → detector" broken in 3/3 traces: ai-yolo26-emulator server span not in the trace of nemotron-backend "yolo26_detection_request"`);
  });

  it('load driver → backend: the server span must name the sent span id as its parent', () => {
    const [t] = hsiUploadTraces({ n: 1 });
    const hop = hsiHops()[0]!;
    expect(evaluateHop(t!, hop, clientSpanId(1))).toEqual({ state: 'ok' });
    expect(evaluateHop(t!, hop, undefined)).toEqual({ state: 'not-exercised' });
    const other = 'ffffffffffffffff';
    const status = evaluateHop(t!, hop, other);
    expect(status.state).toBe('broken');
    expect(status.state === 'broken' && status.reason).toBe(`nemotron-backend "POST /api/cameras/{camera_id}/uploads" has parent ${clientSpanId(1)}, not the span id the request sent (${other})`);
  });

  it('reports a target present but under the wrong parent, and hops nobody exercised', () => {
    const t = mkTree('1', [
      { id: '1', name: 'detection_queue publish', kind: 'producer', start: 0, dur: 5 },
      { id: '2', name: 'other', start: 0, dur: 5 },
      { id: '3', parent: '2', name: 'detection_processing', kind: 'consumer', start: 10, dur: 5 },
    ]);
    const r = checkHop([t], hsiHops()[1]!);
    expect(r.message).toBe(
      `hop "queue: detection_queue producer → consumer" broken in 1/1 traces: nemotron-backend "detection_processing" is in the trace but not a child of nemotron-backend "detection_queue publish" (it has parent nemotron-backend "other")`,
    );
    const unexercised = checkHop([t], hsiHops()[2]!);
    expect(unexercised.passed).toBe(false);
    expect(unexercised.message).toBe('hop "http: backend → detector" not exercised: no nemotron-backend "yolo26_detection_request" in any of 1 traces');
    expect(checkHop([t], { ...hsiHops()[2]!, optional: true }).passed).toBe(true);
  });

  it('every / some source spans, child / descendant relation: the first source that does not reach is named', () => {
    const t = mkTree('1', [
      { id: '1', name: 'call', kind: 'client', start: 0, dur: 5 },
      { id: '2', name: 'call', kind: 'client', start: 10, dur: 5 },
      { id: '3', parent: '2', name: 'proxy', start: 11, dur: 3 },
      { id: '4', parent: '3', name: 'serve', kind: 'server', start: 12, dur: 1 },
      { id: '5', name: 'call', kind: 'client', start: 20, dur: 5 },
    ]);
    const hop = { name: 'h', from: { name: 'call', kind: 'client' as const }, to: { name: 'serve', kind: 'server' as const } };
    // as a child: no call reaches it (the proxy is in between)
    expect(evaluateHop(t, { ...hop, fromSpans: 'some' })).toEqual({
      state: 'broken',
      reason: '"serve" is in the trace but not a child of nemotron-backend "call" (it has parent nemotron-backend "proxy")',
    });
    // as a descendant: the second call reaches it; `some` passes, `every` names the first call that does not
    expect(evaluateHop(t, { ...hop, relation: 'descendant', fromSpans: 'some' })).toEqual({ state: 'ok' });
    const every = evaluateHop(t, { ...hop, relation: 'descendant' });
    expect(every.state === 'broken' && every.reason).toBe('"serve" is in the trace but not a descendant of nemotron-backend "call" (it has parent nemotron-backend "proxy")');
    // the reported source is the first unreached one (span 1), and the hop counts once per trace
    expect(checkHop([t], { ...hop, relation: 'descendant' }).measured.text).toBe('broken in 1/1 traces');
    // only the first source reaches: `every` still fails on the later ones
    const onlyFirst = mkTree('2', [
      { id: '1', name: 'call', kind: 'client', start: 0, dur: 5 },
      { id: '2', parent: '1', name: 'serve', kind: 'server', start: 1, dur: 1 },
      { id: '3', name: 'call', kind: 'client', start: 10, dur: 5 },
    ]);
    expect(evaluateHop(onlyFirst, hop).state).toBe('broken');
    expect(evaluateHop(onlyFirst, { ...hop, fromSpans: 'some' })).toEqual({ state: 'ok' });
    expect(evaluateHop(onlyFirst, { ...hop, from: { name: 'absent' } })).toEqual({ state: 'not-exercised' });
  });

  it('validates declared hops', () => {
    expect(parseHops([{ name: 'x', from: 'traceparent', to: { name: 'a' } }])).toHaveLength(1);
    expect(() => parseHops([{ name: 'x', from: { name: 'a' }, to: { name: 'b' }, relation: 'sibling' }], 'scenario.json')).toThrow(/^scenario\.json: 0: expected a hop/);
  });
});

describe('propagation: baggage', () => {
  it('arrives where the contract says in a healthy run', () => {
    const { traces } = hsiRun({ uploads: 3, analysis: true });
    expect(checkBaggage(traces, hsiBaggageChecks({ analysis: true, analysisRequired: true }))).toPass();
  });

  it('LLM baggage dropped: names the key and the span', () => {
    const { traces } = hsiRun({ uploads: 6, batchSize: 2, analysis: true, defects: { llmBaggageDropped: true } });
    const results = checkBaggage(traces, hsiBaggageChecks({ analysis: true }));
    const llm = byName(results, `baggage: camera.id at ${LLM} "POST /completion" [server]`.replace(' [server]', ''));
    expect(llm.passed).toBe(false);
    expect(llm.message).toBe('baggage "camera.id" missing on ai-llm-emulator "POST /completion" in 3/3 traces (no attribute "camera.id")');
    expect(llm.exampleTraceIds).toHaveLength(3);
    // The LLM client drops the whole header: batch.id is missing there too; the detection hops still carry theirs.
    const batch = byName(results, `baggage: batch.id at ${LLM} "POST /completion"`);
    expect(batch.passed).toBe(false);
    expect(results.filter((r) => r !== llm && r !== batch)).toPass();
  });

  it('supports an attribute prefix and value checks', () => {
    const t = mkTree('1', [{ id: '1', service: LLM, name: 'POST /completion', kind: 'server', start: 0, dur: 1, attrs: { 'baggage.camera.id': 'back_yard' } }]);
    const at = { service: LLM, kind: 'server' as const };
    expect(checkBaggageKey([t], { key: 'camera.id', at }).passed).toBe(false);
    expect(checkBaggageKey([t], { key: 'camera.id', at }, { attributePrefix: 'baggage.' }).passed).toBe(true);
    const wrong = checkBaggageKey([t], { key: 'camera.id', at, value: 'front_door', attributePrefix: 'baggage.' });
    expect(wrong.message).toBe('baggage "camera.id" on ai-llm-emulator "POST /completion" is present but wrong in 1/1 traces: got "back_yard", expected camera.id="front_door" (trace 00000000000000000000000000000001)');
    expect(() => parseBaggageChecks([{ key: 'camera.id' }], 'scenario.json')).toThrow(/^scenario\.json: 0\.at: /);
  });
});

describe('propagation: stitching', () => {
  it('links a healthy batch: the opener by parent, the others by span link; end-to-end from the upload to the event', () => {
    const { traces, uploads } = hsiRun({ uploads: 3, analysis: true });
    const pipelines = stitchPipelines(traces, { uploads });
    expect(pipelines).toHaveLength(3);
    expect(pipelines.every((p) => p.complete && !p.stitched)).toBe(true);
    expect(pipelines[0]!.joins.map((j) => `${j.join}/${j.via}`)).toEqual(['linked/parent', 'linked/parent', 'linked/parent']);
    expect(pipelines[1]!.joins.map((j) => `${j.join}/${j.via}`)).toEqual(['linked/parent', 'linked/span-link', 'linked/parent']);
    // Upload 1 starts at 0, the batch (last upload at 2 s) closes at 32 s, analysis runs 32.05..34.05 s; event_creation ends at 32 000 + 2000 − 150 + 50.
    const eventEnd = 32_000 + 2000 - 100;
    expect(pipelines.map((p) => p.endToEndMs)).toEqual([eventEnd, eventEnd - 1000, eventEnd - 2000]);
    expect(checkStitching(pipelines)).toPass();
  });

  it('queue without trace context: propagation fails, stitching still joins by file_path and batch_id and yields end-to-end latency', () => {
    const { traces, uploads } = hsiRun({ uploads: 4, analysis: true, defects: { queueNoContext: true } });
    expect(traces).toHaveLength(9); // 4 upload traces, 4 worker traces, 1 analysis trace
    const pipelines = stitchPipelines(traces, { uploads });
    expect(pipelines.every((p) => p.complete && p.stitched)).toBe(true);
    expect(pipelines[0]!.joins).toEqual([
      { name: 'upload → detection', join: 'stitched', via: 'file_path' },
      { name: 'detection → analysis', join: 'stitched', via: 'batch_id' },
      { name: 'analysis → event', join: 'linked', via: 'parent' },
    ]);
    // The other detections are still LINKED to the batch's producer span (links survive), but that
    // producer has no consumer child in its trace, so the join falls back to batch_id.
    expect(joinCounts(pipelines)['detection → analysis']).toEqual({ linked: 0, stitched: 4, missing: 0 });
    expect(pipelines[0]!.traceIds).toHaveLength(3);
    const e2e = endToEndLatencies(pipelines);
    expect(e2e.count).toBe(4);
    expect(e2e.stitched).toBe(4);
    expect(e2e.maxMs).toBe(33_000 + 2000 - 100);
    const hop = checkHops(traces, hsiHops({ analysis: true }), { sent: sentSpanIds(uploads) }).find((r) => r.name === `hop: ${HSI_HOP_NAMES.detectionQueue}`)!;
    expect(hop.passed).toBe(false);
    expect(checkStitching(pipelines).message).toMatch(/^all 4 uploads followed to the event, 4 stitched by correlation attributes/);
  });

  it('reports where an unstitchable pipeline stops', () => {
    const { traces, uploads } = hsiRun({ uploads: 2, analysis: false });
    const result = checkStitching(stitchPipelines(traces, { uploads }));
    expect(result.passed).toBe(false);
    expect(result.message).toBe('2/2 uploads not followed to the event: upload upload-1 /data/uploads/front_door/upload-1.jpg stops after detection_processing (no analysis_processing with batch_id batch-00000001)');
    expect(checkStitching(stitchPipelines(traces, { uploads, until: 'detection' }), { until: 'detection' })).toPass();
  });

  it('seeds pipelines from upload spans when no upload records are given', () => {
    const { traces } = hsiRun({ uploads: 2, analysis: true, defects: { queueNoContext: true } });
    expect(stitchPipelines(traces).map((p) => p.filePath)).toEqual(['/data/uploads/front_door/upload-1.jpg', '/data/uploads/front_door/upload-2.jpg']);
  });

  it('fetches pieces by search, splitting full windows, and merges with traces looked up by id', async () => {
    const { traces } = hsiRun({ uploads: 6, analysis: true, defects: { queueNoContext: true } });
    const queries: FindTracesQuery[] = [];
    const source: TraceSearchSource = {
      async findTraces(q) {
        queries.push(q);
        const lo = q.startMin.getTime();
        const hi = q.startMax.getTime();
        const found = traces.filter((t) => t.roots.some((r) => r.service === q.service && r.name === q.operation && r.startTimeMs >= lo && r.startTimeMs <= hi));
        return found.slice(0, q.limit ?? 20);
      },
      async getTrace(id) {
        return traces.find((t) => t.traceId === id);
      },
    };
    const fetched = await fetchPipelineTraces(source, { startMin: new Date(T0 - 1000), startMax: new Date(T0 + 60_000), limit: 2, minSliceMs: 100, traceIds: [uploadTraceId(1)] });
    expect(new Set(fetched.map((t) => t.traceId))).toEqual(new Set(traces.map((t) => t.traceId)));
    expect(queries.length).toBeGreaterThan(3); // full answers were split
    const pipelines = stitchPipelines(fetched);
    expect(pipelines.filter((p) => p.complete)).toHaveLength(6);
  });

  it('looks ids up through the bulk reader when the source has one, and rejects with the first failed lookup', async () => {
    const { traces } = hsiRun({ uploads: 3, analysis: true });
    const asked: string[][] = [];
    let failing: string | undefined;
    const source: TraceSearchSource = {
      findTraces: async () => [],
      getTrace: () => Promise.reject(new Error('getTrace must not be called when forEachTrace exists')),
      async forEachTrace(ids, options, onTrace) {
        asked.push([...ids]);
        expect(options.concurrency).toBe(2);
        ids.forEach((traceId, index) => {
          if (traceId === failing) onTrace({ traceId, ok: false, error: new JaegerQueryError('HTTP 500: storage down', { status: 500, retryable: true }) }, index);
          else onTrace({ traceId, ok: true, tree: traces.find((t) => t.traceId === traceId) }, index);
        });
      },
    };
    const ids = [uploadTraceId(1), uploadTraceId(2), uploadTraceId(1), 'f'.repeat(32)];
    const window = { startMin: new Date(T0 - 1000), startMax: new Date(T0 + 60_000), concurrency: 2 };
    const fetched = await fetchPipelineTraces(source, { ...window, traceIds: ids });
    expect(asked).toEqual([[uploadTraceId(1), uploadTraceId(2), 'f'.repeat(32)]]); // each id once
    expect(fetched.map((t) => t.traceId).sort()).toEqual([uploadTraceId(1), uploadTraceId(2)].sort());
    failing = uploadTraceId(2);
    await expect(fetchPipelineTraces(source, { ...window, traceIds: ids })).rejects.toThrow('HTTP 500: storage down');
  });

  it('mergeTraces keeps the copy with the most spans', () => {
    const a = mkTree('1', [{ id: '1', name: 'a', start: 0, dur: 1 }]);
    const b = mkTree('1', [
      { id: '1', name: 'a', start: 0, dur: 1 },
      { id: '2', parent: '1', name: 'b', start: 0, dur: 1 },
    ]);
    const merged: TraceTree[] = mergeTraces([[a], [b], [a]]);
    expect(merged).toHaveLength(1);
    expect(merged[0]!.spans).toHaveLength(2);
  });
});
