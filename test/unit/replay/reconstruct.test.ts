import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readIncident } from '../../../harness/replay/incident.ts';
import { readTraceFile } from '../../../harness/replay/input.ts';
import { reconstructHopFaults } from '../../../harness/replay/reconstruct-faults.ts';
import { reconstructLoad } from '../../../harness/replay/reconstruct-load.ts';
import { cameraSequence } from '../../../harness/load/camera-mix.ts';
import { detectorSpeedHints, llmEngineMs, llmLengthHints, MAX_REPLAYED_SERVICE_TIMES } from '../../../harness/replay/reconstruct-hints.ts';
import { reconstruct } from '../../../harness/replay/reconstruct.ts';
import { writeScenarioSource } from '../../../harness/replay/scenario-writer.ts';
import type { HopCall } from '../../../harness/replay/incident.ts';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const REAL_SHAPE = join(ROOT, 'test', 'fixtures', 'replay', 'hsi-real-shape.json');
const FIXTURES = { front_door: { 'a.jpg': 40_000, 'b.jpg': 97_000, 'c.jpg': 171_000 }, backyard: { 'd.jpg': 115_000, 'e.jpg': 347_000 }, driveway: { 'f.jpg': 112_000 } };

function calls(spec: [number, number, Partial<HopCall>?][]): HopCall[] {
  return spec.map(([startMs, durationMs, extra], i) => ({ hop: 'detector', traceId: `t${i}`, spanId: `s${i}`, name: 'req', startMs, durationMs, error: false, ...extra }));
}

describe('replay reconstruction: the real HSI shape (legacy JSON, context broken at the queues)', () => {
  const input = readTraceFile(REAL_SHAPE);
  const plan = reconstruct(input.traces, { name: 'real-shape', input: 'fixture', fixtures: FIXTURES });

  it('finds one upload per file from detection_processing (no upload span), joined by file_path', () => {
    const incident = readIncident(input.traces);
    expect(incident.arrivals).toHaveLength(90);
    expect(incident.arrivals.every((a) => a.via === 'detection')).toBe(true);
    expect(new Set(incident.arrivals.map((a) => a.cameraId))).toEqual(new Set(['front_door', 'driveway', 'back_yard']));
  });

  it('the load: 90 uploads in ~60 s, constant, the camera mix by counts, image sizes matched to fixtures', () => {
    expect(plan.load.kind).toBe('constant');
    expect(plan.load.timeUnit).toBe('1m');
    expect(plan.load.rate).toBeGreaterThan(85);
    expect(plan.load.rate).toBeLessThan(95);
    expect(plan.cameras.reduce((n, c) => n + c.arrivals, 0)).toBe(90);
    const back = plan.cameras.find((c) => c.id === 'back_yard');
    expect(back?.fixtures).toBe('backyard');
  });

  it('the faults: detector latency ~1.5 s around 17–33 s, LLM 503s around 40–52 s', () => {
    const detector = plan.faults.find((f) => f.target === 'detector');
    expect(detector?.fault).toMatchObject({ type: 'latency' });
    expect(detector?.fault.type === 'latency' && detector.fault.latency).toBeGreaterThan(1300);
    expect(detector?.fault.type === 'latency' && detector.fault.latency).toBeLessThan(1700);
    expect(detector!.atMs / 1000).toBeGreaterThan(16);
    expect(detector!.atMs / 1000).toBeLessThan(19);
    const llm = plan.faults.find((f) => f.target === 'llm');
    expect(llm?.fault).toMatchObject({ type: 'emulator', status_code: 503 });
  });

  it('the hints: the queue hops carry no context and the detector is not instrumented', () => {
    expect(plan.hints.map((h) => h.key)).toEqual(expect.arrayContaining(['queue-no-trace-context', 'detector-not-instrumented']));
    // no publish span in the real HSI: the batch window comes from analysis_processing vs the batch's first detection
    expect(plan.hints.find((h) => h.key === 'BATCH_WINDOW_SECONDS')?.value).toBe('5');
  });

  it('writes a readable scenario citing trace ids and brackets', () => {
    const source = writeScenarioSource(plan, '../harness/scenario/scenario-types.ts');
    expect(source).toContain("executor: 'constant-arrival-rate'");
    expect(source).toContain(plan.faults[0]!.evidence.firstTraceId);
    expect(source).toMatch(/start between [\d.]+ s and [\d.]+ s/);
    expect(source).toContain("defects: ['queue-no-trace-context', 'detector-not-instrumented']");
  });
});

describe('replay reconstruction: faults from calls', () => {
  const opts = { startMs: 0, endMs: 20_000 };

  it('refused connections become `down`, the window between the last good and first failed call', () => {
    const c = calls(Array.from({ length: 40 }, (_, i) => [i * 500, 20, i >= 10 && i < 20 ? { error: true, errorKind: 'refused' as const } : {}]));
    const [f] = reconstructHopFaults('detector', c, opts);
    expect(f?.fault).toEqual({ type: 'down' });
    expect(f!.fromMs).toBe(4750);
    // the last refusal came back at 9520 ms (the fault was on then), the next good call went at 10000
    expect(f!.toMs).toBe(9760);
  });

  it('HTTP 503s at a partial rate become an emulator fault with that rate and code', () => {
    const c = calls(Array.from({ length: 40 }, (_, i) => [i * 500, 20, i >= 10 && i < 30 && i % 4 === 0 ? { error: true, errorKind: 'http' as const, statusCode: 503 } : {}]));
    const [f] = reconstructHopFaults('llm', c.map((x) => ({ ...x, hop: 'llm' })), opts);
    expect(f?.fault).toMatchObject({ type: 'emulator', status_code: 503 });
    // one call in four fails: 5 failures; the replayed window (one 2 s gap between failures added on
    // each side) holds 25 calls, so 5 / 25 gives the replay the incident's 5 failures. (The gaps'
    // 4 / 16 = 0.25 would fail 6.25 of those 25 calls; 5 / 17, over the calls from the first failure
    // to the last, 7.4.)
    expect(f?.fault.type === 'emulator' && f.fault.error_rate).toBeCloseTo(0.2, 2);
  });

  it('a latency inflation becomes a latency toxic with the observed jitter; isolated slow calls do not', () => {
    const spec: [number, number][] = Array.from({ length: 60 }, (_, i) => [i * 250, i >= 20 && i < 40 ? 50 + 1500 + ((i * 37) % 400) - 200 : 50 + (i % 3)]);
    spec[5] = [1250, 900]; // one slow call alone is noise
    const faults = reconstructHopFaults('detector', calls(spec), { startMs: 0, endMs: 15_000 });
    expect(faults).toHaveLength(1);
    const f = faults[0]!;
    expect(f.fault.type).toBe('latency');
    expect(f.fault.type === 'latency' && Math.abs(f.fault.latency - 1500)).toBeLessThanOrEqual(60);
    expect(f.fault.type === 'latency' && f.fault.jitter).toBeGreaterThan(100);
    expect(Math.abs(f.fromMs - 5000)).toBeLessThan(250);
  });

  it('no fault from a quiet hop', () => {
    expect(reconstructHopFaults('detector', calls(Array.from({ length: 50 }, (_, i) => [i * 200, 40 + (i % 5)])), opts)).toEqual([]);
  });
});

describe('replay reconstruction: the LLM\'s speed', () => {
  const span = (attributes: Record<string, number>) => ({ attributes, resource: {} }) as unknown as Parameters<typeof llmEngineMs>[0];
  it('is fitted to the engine\'s own time, not the call (which also holds the round trip and the wait for a slot)', () => {
    expect(llmEngineMs(span({ 'ai.inference.time_ms': 169.3 }), { serverMs: 192, durationMs: 337 })).toEqual({ ms: 169.3, from: 'ai.inference.time_ms' });
    expect(llmEngineMs(span({ 'ai.llm.timings.prompt_ms': 17.7, 'ai.llm.timings.generation_ms': 151.7 }), { durationMs: 337 }).ms).toBeCloseTo(169.4);
    expect(llmEngineMs(span({}), { serverMs: 192, durationMs: 337 })).toEqual({ ms: 192, from: 'the LLM server span' });
    expect(llmEngineMs(undefined, { durationMs: 337 })).toEqual({ ms: 337, from: 'the call duration' });
  });
});

describe('replay reconstruction: the detector\'s speed', () => {
  // call i reports engine time times[i]; the calls are listed out of order, one failed
  function incident(times: number[]) {
    const detector = calls(times.map((_, i) => [1000 + 250 * i, 60])).reverse();
    detector.push({ ...detector[0]!, spanId: 'failed', startMs: 500, error: true });
    const allSpans = times.map((t, i) => ({ traceId: `t${i}`, spanId: `s${i}`, attributes: { 'ai.inference.time_ms': t }, resource: {} })) as unknown as Parameters<typeof detectorSpeedHints>[0]['allSpans'];
    return { allSpans, calls: { detector, llm: [], postgres: [], redis: [] } };
  }

  it('replays the engine time of every successful call, in call order (not the emulator\'s own draws)', () => {
    const [hint, ...rest] = detectorSpeedHints(incident([31.5, 40.25, 12, 82.7]));
    expect(rest).toEqual([]);
    expect(hint).toMatchObject({ key: 'EMULATOR_SERVICE_TIMES_MS', scope: 'detector', value: '31.5,40.3,12,82.7' });
    expect(hint?.source).toMatch(/4 detector calls .*mean 41\.6 ms/);
  });

  it('fits the lognormal to mean and p95 when there are too many calls to list; nothing from fewer than 3', () => {
    const many = Array.from({ length: MAX_REPLAYED_SERVICE_TIMES + 1 }, (_, i) => 20 + (i % 41));
    expect(detectorSpeedHints(incident(many)).map((h) => `${h.key}=${h.value}`)).toEqual(['EMULATOR_SERVICE_MEAN_MS=40.0', 'EMULATOR_SERVICE_P95_MS=58.0']);
    expect(detectorSpeedHints(incident([30, 40]))).toEqual([]);
  });
});

describe('replay reconstruction: the LLM\'s completion lengths', () => {
  it('replays the length of every successful LLM call, in call order', () => {
    const llm = calls([[3000, 200], [1000, 300], [2000, 250], [500, 90, { error: true }]]).map((c) => ({ ...c, hop: 'llm' as const }));
    const allSpans = [180, 212, 9].map((t, i) => ({ traceId: `t${i}`, spanId: `s${i}`, attributes: { 'ai.llm.completion_tokens': t }, resource: {} })) as unknown as Parameters<typeof llmLengthHints>[0]['allSpans'];
    const hints = llmLengthHints({ allSpans, calls: { detector: [], llm, postgres: [], redis: [] } });
    expect(hints.map((h) => `${h.scope} ${h.key}=${h.value}`)).toEqual(['llm EMULATOR_COMPLETION_TOKENS=212,9,180']);
    expect(llmLengthHints({ allSpans, calls: { detector: [], llm: llm.slice(0, 2), postgres: [], redis: [] } })).toEqual([]);
  });
});

describe('replay reconstruction: load', () => {
  const arrivals = (times: number[]) => times.map((atMs, i) => ({ atMs, cameraId: i % 4 === 0 ? 'a' : 'b', traceId: `t${i}`, via: 'upload' as const }));

  it('a steady 4/s becomes constant-arrival-rate 4/s for the observed duration', () => {
    const l = reconstructLoad(arrivals(Array.from({ length: 80 }, (_, i) => 1_000_000 + i * 250)), 1);
    expect(l).toMatchObject({ kind: 'constant', rate: 4, timeUnit: '1s', durationMs: 20_000 });
    expect(l.cameras.map((c) => [c.id, c.weight])).toEqual([['a', 0.25], ['b', 0.75]]);
  });

  it('cameras that took turns replay in the same turns (list order = order of first upload)', () => {
    const turns = ['front_door', 'driveway', 'backyard', 'side_gate'];
    const l = reconstructLoad(Array.from({ length: 80 }, (_, i) => ({ atMs: i * 250, cameraId: turns[i % 4]!, traceId: `t${i}`, via: 'upload' as const })), 1);
    expect(l.cameras.map((c) => c.id)).toEqual(turns);
    const sequence = cameraSequence(l.cameras.map((c) => c.weight));
    expect(Array.from({ length: 8 }, (_, i) => l.cameras[sequence[i % sequence.length]!]!.id)).toEqual([...turns, ...turns]);
  });

  it('a burst becomes ramping-arrival-rate steps holding each second at its count', () => {
    const times = [...Array.from({ length: 10 }, (_, i) => i * 1000), ...Array.from({ length: 40 }, (_, i) => 10_000 + i * 100), ...Array.from({ length: 10 }, (_, i) => 14_000 + i * 1000)];
    const l = reconstructLoad(arrivals(times), 1);
    expect(l.kind).toBe('ramping');
    expect(l.stages.filter((s) => s.duration !== '0s').map((s) => s.target).slice(9, 15)).toEqual([1, 10, 10, 10, 10, 1]);
  });

  it('a sampled trace set is scaled by 1/rate', () => {
    const l = reconstructLoad(arrivals(Array.from({ length: 40 }, (_, i) => i * 1000)), 0.1);
    expect(l.estimatedUploads).toBe(400);
    expect(l).toMatchObject({ kind: 'constant', rate: 10, timeUnit: '1s' });
  });
});
