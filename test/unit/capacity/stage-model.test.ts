import { describe, expect, it } from 'vitest';
import { HSI_TRACE_NAMES as N } from '../../../harness/capacity/hsi-stages.ts';
import { littlesLaw, pipelineLatencies, predictFromStages, stageTable, unionMs } from '../../../harness/capacity/stage-model.ts';
import type { NormalizedSpan, SpanKind } from '../../../harness/traces/span-model.ts';

let nextId = 1;
function span(traceId: string, name: string, service: string, kind: SpanKind, startMs: number, durationMs: number, parent?: NormalizedSpan, attributes: Record<string, number | string> = {}): NormalizedSpan {
  const id = (nextId++).toString(16).padStart(16, '0');
  return {
    traceId,
    spanId: id,
    ...(parent ? { parentSpanId: parent.spanId } : {}),
    service,
    name,
    kind,
    startTimeUnixNano: BigInt(Math.round(startMs * 1e6)),
    startTimeMs: startMs,
    durationMs,
    attributes,
    resource: {},
    events: [],
    links: [],
    status: { code: 'unset' },
  } as NormalizedSpan;
}

/**
 * A synthetic but exact pipeline: 10 uploads/s for 10 s; the detector (1 slot) serves each in
 * 80 ms after 20 ms in its queue and 5 ms on the wire; every other upload's batch goes to the
 * LLM (2 slots, 400 ms); two database calls of 4 ms per upload.
 */
function pipeline(): NormalizedSpan[] {
  const spans: NormalizedSpan[] = [];
  for (let i = 0; i < 100; i++) {
    const t0 = 1_000_000 + i * 100;
    const trace = i.toString(16).padStart(32, '0');
    const upload = span(trace, N.upload, N.backendService, 'server', t0, 6);
    const processing = span(trace, N.detectionProcessing, N.backendService, 'consumer', t0 + 10, 120, upload, { queue_wait_ms: 4 });
    const client = span(trace, N.detectorRequest, N.backendService, 'client', t0 + 11, 105, processing, { 'ai.semaphore.wait_ms': 1 });
    const server = span(trace, N.detectorServer, N.detectorService, 'server', t0 + 13, 100, client);
    const inference = span(trace, N.detectorInference, N.detectorService, 'internal', t0 + 14, 98, server, { 'ai.inference.queue_wait_ms': 20, 'ai.inference.time_ms': 80 });
    const db1 = span(trace, 'INSERT detections', N.backendService, 'client', t0 + 117, 4, processing, { 'db.system.name': 'postgresql' });
    const db2 = span(trace, 'COMMIT', N.backendService, 'client', t0 + 121, 4, processing, { 'db.system.name': 'postgresql' });
    const batch = span(trace, N.batchAggregation, N.backendService, 'internal', t0 + 125, 3, processing);
    spans.push(upload, processing, client, server, inference, db1, db2, batch);
    if (i % 2 === 0) {
      const publish = span(trace, N.analysisPublish, N.backendService, 'producer', t0 + 130, 1, batch);
      const analysis = span(trace, N.analysisProcessing, N.backendService, 'consumer', t0 + 140, 460, publish, { queue_wait_ms: 9 });
      const llmClient = span(trace, N.llmRequest, N.backendService, 'client', t0 + 150, 420, analysis);
      const llmServer = span(trace, N.llmServer, N.llmService, 'server', t0 + 155, 410, llmClient);
      const generate = span(trace, N.llmGenerate, N.llmService, 'internal', t0 + 156, 408, llmServer, { 'ai.inference.queue_wait_ms': 8, 'ai.inference.time_ms': 400 });
      const event = span(trace, N.eventCreation, N.backendService, 'internal', t0 + 580, 10, analysis);
      spans.push(publish, analysis, llmClient, llmServer, generate, event);
    }
  }
  return spans;
}

const WINDOW = { startMs: 1_000_000, endMs: 1_010_000 };

describe('the per-stage model from traces', () => {
  it('X, S, W, c, U and V per stage follow from the spans', () => {
    const rows = stageTable(pipeline(), WINDOW, { detector: 1, llm: 2, database: 10 });
    const by = Object.fromEntries(rows.map((r) => [r.stage, r]));
    expect(rows.map((r) => r.stage)).toEqual(['upload', 'detection-queue', 'detector', 'batching', 'analysis-queue', 'llm', 'database']);
    expect(by['upload']!.throughputPerSec).toBeCloseTo(10);
    expect(by['upload']!.serviceMs).toBeCloseTo(6);
    expect(by['detection-queue']!.waitMs).toBeCloseTo(4);
    expect(by['detection-queue']!.serviceMs).toBeNull();
    const d = by['detector']!;
    expect(d.serviceMs).toBeCloseTo(80); // the server's own inference time
    expect(d.waitMs).toBeCloseTo(1 + 5 + 20); // semaphore + wire (client − server) + server queue
    expect(d.utilisation).toBeCloseTo((10 * 0.08) / 1); // U = X·S/c
    expect(d.visitsPerUpload).toBeCloseTo(1);
    expect(d.capacityUploadsPerSec).toBeCloseTo(12.5);
    const l = by['llm']!;
    expect(l.throughputPerSec).toBeCloseTo(5);
    expect(l.visitsPerUpload).toBeCloseTo(0.5);
    expect(l.utilisation).toBeCloseTo((5 * 0.4) / 2);
    expect(l.capacityUploadsPerSec).toBeCloseTo(2 / (0.4 * 0.5)); // 10 uploads/s
    expect(by['analysis-queue']!.waitMs).toBeCloseTo(9);
    expect(by['database']!.visitsPerUpload).toBeCloseTo(2, 1); // the last upload's calls start after the window
    expect(by['database']!.capacityUploadsPerSec! / (10 / (0.004 * 2))).toBeCloseTo(1, 1);
    expect(by['batching']!.slots).toBeNull();
  });

  it('the prediction is the smallest c/(S·V); its stage is the bottleneck', () => {
    const rows = stageTable(pipeline(), WINDOW, { detector: 1, llm: 2, database: 10 });
    expect(predictFromStages(rows)).toMatchObject({ bottleneck: 'llm', uploadsPerSec: 10 });
    // a faster LLM (4 slots) moves the bottleneck to the detector
    const faster = stageTable(pipeline(), WINDOW, { detector: 1, llm: 4, database: 10 });
    expect(predictFromStages(faster)).toMatchObject({ bottleneck: 'detector' });
    expect(predictFromStages(faster)!.uploadsPerSec).toBeCloseTo(12.5);
    // no slots known: no prediction rather than a made-up one
    expect(predictFromStages(stageTable(pipeline(), WINDOW, {}))).toBeNull();
  });

  it('head sampling below 1 scales X back up (V and S unchanged)', () => {
    const rows = stageTable(pipeline(), WINDOW, { detector: 1 }, undefined, 0.5);
    expect(rows.find((r) => r.stage === 'detector')!.throughputPerSec).toBeCloseTo(20);
    expect(rows.find((r) => r.stage === 'detector')!.serviceMs).toBeCloseTo(80);
  });

  it('spans outside the window do not count', () => {
    const rows = stageTable(pipeline(), { startMs: 1_000_000, endMs: 1_005_000 }, { detector: 1 });
    expect(rows.find((r) => r.stage === 'upload')!.count).toBe(50);
  });

  it('the detect and analyze latencies of the contract budgets, per trace', () => {
    const { detect, analyze } = pipelineLatencies(pipeline());
    expect(detect).toHaveLength(100);
    expect(detect[0]!.ms).toBeCloseTo(130); // upload start → detection_processing end
    expect(analyze).toHaveLength(50);
    expect(analyze[0]!.ms).toBeCloseTo(590 - 130); // publish start → event_creation end
  });
});

describe("Little's law", () => {
  it('holds when the polled population matches X·R', () => {
    // 10 jobs/s, 400 ms each → 4 in the system
    expect(littlesLaw(4.2, 10, 400)).toMatchObject({ ok: true, predictedL: 4 });
  });

  it('fails when the two sources disagree (a queue the traces do not see)', () => {
    const check = littlesLaw(12, 10, 400);
    expect(check.ok).toBe(false);
    expect(check.relativeError).toBeCloseTo(8 / 12);
  });

  it('a near-empty system is judged against the floor, not on noise', () => {
    expect(littlesLaw(0.1, 1, 50).ok).toBe(true); // 0.1 vs 0.05: within half a job
  });
});

describe("an AI server's work outside its slots (a real detector's JPEG decode, letterbox, output decoding)", () => {
  /** The pipeline above with the detector reporting `host` ms of decode + preprocess + postprocess per image. */
  function withHostWork(decode: number, preprocess: number, postprocess: number): NormalizedSpan[] {
    return pipeline().map((s) => (s.name === N.detectorInference ? { ...s, attributes: { ...s.attributes, 'ai.inference.decode_ms': decode, 'ai.inference.preprocess_ms': preprocess, 'ai.inference.postprocess_ms': postprocess } } : s));
  }

  it('bounds the stage at 1/H when one event loop cannot keep up with the slots, and says so', () => {
    // slots: 1 / 80 ms = 12.5/s; host work 60 + 30 + 10 = 100 ms per image: 10/s
    const rows = stageTable(withHostWork(60, 30, 10), WINDOW, { detector: 1, llm: 2, database: 10 });
    const detector = rows.find((r) => r.stage === 'detector')!;
    expect(detector.hostWorkMs).toBe(100);
    expect(detector.capacityBasis).toBe('host work');
    expect(detector.capacityUploadsPerSec).toBeCloseTo(10);
    const model = predictFromStages(rows)!;
    expect(model.bottleneck).toBe('detector');
    expect(model.basis).toMatch(/^detector: its work outside the slots, 1 \/ \(H=100\.0 ms decode\+preprocess\+postprocess × V=1\.00\), below the slots' c=1 \/ \(S=80\.0 ms × V=1\.00\)$/);
  });

  it('on a CPU host the whole work per image shares the CPUs: cpus / (H + S·threads) when that is the lowest', () => {
    // slots 1/80 ms = 12.5/s, host work 1/35 ms = 28.6/s, CPU: 1 CPU / (35 + 80 ms) = 8.7/s
    const rows = stageTable(withHostWork(20, 10, 5), WINDOW, { detector: 1, detectorCpu: { cpus: 1, threadsPerCall: 1 }, llm: 2, database: 10 });
    const detector = rows.find((r) => r.stage === 'detector')!;
    expect(detector.capacityBasis).toBe('CPU');
    expect(detector.capacityUploadsPerSec).toBeCloseTo(1000 / 115);
    expect(predictFromStages(rows)!.basis).toMatch(/^detector: the CPU its work shares, 1 CPUs \/ \(\(H=35\.0 ms decode\+preprocess\+postprocess \+ S=80\.0 ms inference × 1 thread\) × V=1\.00\), below/);
    // with 4 CPUs the slots bound it again
    const wide = stageTable(withHostWork(20, 10, 5), WINDOW, { detector: 1, detectorCpu: { cpus: 4, threadsPerCall: 1 }, llm: 2, database: 10 }).find((r) => r.stage === 'detector')!;
    expect(wide.capacityBasis).toBe('slots');
  });

  it('counts a real LLM engine on the same CPUs: its engine time per upload (overlapping calls once) × its threads', () => {
    // llama.cpp's timings on each call: 100 ms prompt + 200 ms generation, at the end of the
    // 420 ms call; a call every 200 ms, so they overlap (continuous batching): busy 270..570,
    // 470..770, … = one busy stretch of 10 100 ms over 100 uploads = 101 ms per upload (the sum
    // of the calls' timings, 150 ms per upload, would count the shared passes twice)
    const spans = withHostWork(20, 10, 5).map((s) => (s.name === N.llmRequest ? { ...s, attributes: { ...s.attributes, 'ai.llm.timings.prompt_ms': 100, 'ai.llm.timings.generation_ms': 200 } } : s));
    const cpu = { detector: 1, detectorCpu: { cpus: 1, threadsPerCall: 1 }, llm: 2, database: 10 };
    const alone = stageTable(spans, WINDOW, cpu).find((r) => r.stage === 'detector')!;
    expect(alone.capacityUploadsPerSec).toBeCloseTo(1000 / 115); // counter-example: the LLM not on these CPUs
    expect(alone.sharedCpuMsPerUpload).toBeUndefined();
    const rows = stageTable(spans, WINDOW, { ...cpu, llmCpu: { threadsPerCall: 1 } });
    const shared = rows.find((r) => r.stage === 'detector')!;
    expect(shared.sharedCpuMsPerUpload).toBeCloseTo(101);
    expect(shared.capacityBasis).toBe('CPU');
    expect(shared.capacityUploadsPerSec).toBeCloseTo(1000 / (115 + 101));
    expect(predictFromStages(rows)!.basis).toMatch(/1 CPUs \/ \(\(H=35\.0 ms decode\+preprocess\+postprocess \+ S=80\.0 ms inference × 1 thread\) × V=1\.00 \+ L=101\.0 ms LLM engine CPU per upload\)/);
    // two llama.cpp threads: twice the CPU
    const two = stageTable(spans, WINDOW, { ...cpu, llmCpu: { threadsPerCall: 2 } }).find((r) => r.stage === 'detector')!;
    expect(two.capacityUploadsPerSec).toBeCloseTo(1000 / (115 + 202));
  });

  it('unions busy intervals (overlaps once, gaps not at all)', () => {
    expect(unionMs([[0, 10], [5, 15], [20, 30], [21, 22]])).toBe(25);
    expect(unionMs([])).toBe(0);
  });

  it('leaves the slots as the bound when the host work is lighter (counter-example), and the emulators (no such figures) unchanged', () => {
    const light = stageTable(withHostWork(20, 10, 5), WINDOW, { detector: 1, llm: 2, database: 10 }).find((r) => r.stage === 'detector')!;
    expect(light.capacityBasis).toBe('slots');
    expect(light.capacityUploadsPerSec).toBeCloseTo(12.5);
    const emulated = stageTable(pipeline(), WINDOW, { detector: 1, llm: 2, database: 10 }).find((r) => r.stage === 'detector')!;
    expect(emulated.hostWorkMs).toBeUndefined();
    expect(emulated.capacityUploadsPerSec).toBeCloseTo(12.5);
  });
});
