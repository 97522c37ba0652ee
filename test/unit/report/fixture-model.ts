import { percentile } from '../../../harness/chaos/fault-impact.ts';
import { REPORT_SCHEMA_VERSION, type ExampleTrace, type RunReportModel, type WaterfallSpan } from '../../../harness/report/report-model.ts';
import { timeSeriesFromSamples, type LatencySample } from '../../../harness/report/time-series.ts';
import { seededRandom } from '../../../harness/util/random.ts';

/**
 * A realistic hand-made run: 300 s of load at 10 req/s (3000 requests, 300 one-second
 * buckets), a detector latency fault 60.4..120.3 s and a Redis outage 180.2..210.5 s,
 * failing and passing expectations, a failed threshold, an operation over budget, two
 * example traces (slowest; first error with an orphan span) and a broken hop.
 */
export const FAULTS = [
  { name: 'detector-slow', target: 'detector', faultType: 'latency', plannedStartSec: 60, plannedEndSec: 120, startSec: 60.4, endSec: 120.3, applyLagMs: 412, removeLagMs: 296 },
  { name: 'redis-down', target: 'redis', faultType: 'down', plannedStartSec: 180, plannedEndSec: 210, startSec: 180.2, endSec: 210.5, applyLagMs: 188, removeLagMs: 507 },
] as const;

/** Lognormal-ish latency around `medianMs`. */
function latency(rand: () => number, medianMs: number, sigma = 0.35): number {
  // Box–Muller.
  const u = Math.max(1e-12, rand());
  const v = rand();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return medianMs * Math.exp(sigma * z);
}

export interface GenerateOptions {
  seed: string | number;
  seconds?: number;
  perSecond?: number;
  /** Multiplies every latency (a regression). */
  factor?: number;
  withFaults?: boolean;
  medianMs?: number;
}

export function generateSamples(options: GenerateOptions): LatencySample[] {
  const rand = seededRandom(options.seed);
  const seconds = options.seconds ?? 300;
  const perSecond = options.perSecond ?? 10;
  const factor = options.factor ?? 1;
  const withFaults = options.withFaults ?? true;
  const samples: LatencySample[] = [];
  for (let i = 0; i < seconds * perSecond; i += 1) {
    const atMs = (i * 1000) / perSecond;
    const t = atMs / 1000;
    const slow = withFaults && t >= 60.4 && t < 120.3;
    const down = withFaults && t >= 180.2 && t < 210.5;
    const recovering = withFaults && t >= 120.3 && t < 126;
    let ms = latency(rand, options.medianMs ?? 140);
    if (slow) ms += latency(rand, 900, 0.2);
    if (recovering) ms += latency(rand, 300, 0.3);
    const failed = down && rand() < 0.3;
    if (down) ms = failed ? latency(rand, 30, 0.3) : ms * 1.4;
    samples.push({ atMs, latencyMs: ms * factor, ok: !failed });
  }
  return samples;
}

export function loadOf(samples: readonly LatencySample[], seconds: number): NonNullable<RunReportModel['load']> {
  const sorted = samples.map((s) => s.latencyMs).sort((a, b) => a - b);
  const p = (q: number) => percentile(sorted, q) ?? 0;
  return {
    driver: 'native',
    durationSec: seconds,
    httpReqs: samples.length,
    httpReqsPerSec: samples.length / seconds,
    httpReqFailedRate: samples.filter((s) => !s.ok).length / Math.max(1, samples.length),
    httpReqDuration: { avg: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length), min: sorted[0] ?? 0, med: p(50), max: sorted.at(-1) ?? 0, p90: p(90), p95: p(95), p99: p(99) },
    iterations: samples.length,
    droppedIterations: 0,
    sendLagMs: { p50: 0.4, p99: 3.1, max: 12.5 },
  };
}

const hex = (rand: () => number, n: number) => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');

function traces(): ExampleTrace[] {
  const rand = seededRandom('traces');
  const span = (name: string, service: string, start: number, duration: number, parent?: string, error = false): WaterfallSpan => {
    const s: WaterfallSpan = { spanId: hex(rand, 16), service, name, startOffsetMs: start, durationMs: duration, error };
    if (parent) s.parentSpanId = parent;
    return s;
  };
  const root = span('POST /api/cameras/{camera_id}/uploads', 'nemotron-backend', 0, 14.2, 'ffffffffffffffff');
  const enqueue = span('detection_queue publish', 'nemotron-backend', 9.1, 2.3, root.spanId);
  const consume = span('detection_processing', 'nemotron-backend', 35.7, 1640.4, enqueue.spanId);
  const fetch = span('redis BRPOP detection_queue', 'redis', 31.2, 4.4, consume.spanId);
  const call = span('yolo26_detection_request', 'nemotron-backend', 41.3, 1570.2, consume.spanId);
  const detect = span('POST /detect', 'ai-yolo26-emulator', 45.8, 1552.9, call.spanId);
  const infer = span('yolo26.inference <script>alert(1)</script>', 'ai-yolo26-emulator', 61.0, 1490.5, detect.spanId);
  const store = span('INSERT detections', 'postgres', 1615.2, 12.6, consume.spanId);
  const batch = span('batch_aggregator add', 'nemotron-backend', 1630.1, 3.9, consume.spanId);
  const slowest: ExampleTrace = { label: 'Slowest trace', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spans: [root, enqueue, consume, fetch, call, detect, infer, store, batch] };

  const r2 = span('POST /api/cameras/{camera_id}/uploads', 'nemotron-backend', 0, 9.8, 'eeeeeeeeeeeeeeee');
  const e2 = span('detection_queue publish', 'nemotron-backend', 6.2, 2.0, r2.spanId);
  const c2 = span('detection_processing', 'nemotron-backend', 22.4, 5030.3, e2.spanId, true);
  const f2 = span('redis BRPOP detection_queue', 'redis', 19.9, 3.1, c2.spanId);
  const y2 = span('yolo26_detection_request', 'nemotron-backend', 27.5, 5001.0, c2.spanId, true);
  const orphan = span('POST /detect', 'ai-yolo26-emulator', 31.0, 212.4, '0123456789abcdef');
  const retry = span('redis LPUSH detection_queue (retry)', 'redis', 5031.0, 1.2, c2.spanId, true);
  const firstError: ExampleTrace = { label: 'First error', traceId: '0af7651916cd43dd8448eb211c80319c', spans: [r2, e2, c2, f2, y2, orphan, retry] };
  return [slowest, firstError];
}

export function makeModel(overrides: Partial<RunReportModel> = {}): RunReportModel {
  const samples = generateSamples({ seed: 'fixture' });
  const load = loadOf(samples, 300);
  const timeSeries = timeSeriesFromSamples(samples, 1000);
  const model: RunReportModel = {
    schemaVersion: REPORT_SCHEMA_VERSION,
    runId: 'run-20261124T083000Z-1a2b3c',
    scenario: { name: 'steady-detector-fault', description: 'Steady 10 uploads/s; detector slowed for 60 s, Redis down for 30 s.' },
    startedAt: '2026-11-24T08:30:00.000Z',
    finishedAt: '2026-11-24T08:36:12.500Z',
    verdict: 'failed',
    exitCode: 1,
    stack: { kind: 'embedded', startSeconds: 6.1, defects: [], backendUrl: 'http://127.0.0.1:32781', jaegerUrl: 'http://127.0.0.1:32779' },
    load,
    timeSeries,
    thresholds: [
      { metric: 'http_req_duration{scenario:steady}', expression: 'p(95)<2000', ok: true, value: load.httpReqDuration.p95 },
      { metric: 'http_req_failed', expression: 'rate<0.01', ok: false, value: load.httpReqFailedRate, abortOnFail: false },
      { metric: 'http_reqs', expression: 'count>2500', ok: true, value: load.httpReqs },
    ],
    faults: FAULTS.map((f) => ({
      ...f,
      impact: {
        before: { p95Ms: 231.4, errorRate: 0, requests: 600 },
        during: { p95Ms: f.faultType === 'latency' ? 1480.2 : 262.7, errorRate: f.faultType === 'down' ? 0.296 : 0, requests: f.faultType === 'latency' ? 599 : 303 },
        after: { p95Ms: 244.8, errorRate: 0, requests: 600 },
        recoverySeconds: f.faultType === 'latency' ? 6 : 1,
      },
      pipelineImpact: {
        uploadToDetection: {
          before: { p95Ms: 640.2, errorRate: 0, requests: 60 },
          during: { p95Ms: f.faultType === 'latency' ? 2100.4 : 5400, errorRate: f.faultType === 'down' ? 0.5 : 0, requests: 60 },
          after: { p95Ms: 655.1, errorRate: 0, requests: 60 },
          recoverySeconds: f.faultType === 'latency' ? 9 : 4,
        },
        uploadToEvent: {
          before: { p95Ms: 2640, errorRate: 0, requests: 60 },
          during: { p95Ms: 4100, errorRate: 0, requests: 60 },
          after: { p95Ms: 2655, errorRate: 0, requests: 60 },
          recoverySeconds: null,
        },
      },
    })),
    // The pipeline takes ~3× the upload's latency (+1 s batching to the event); one upload in 10 failed detection (dead-lettered) before its event.
    pipelineTimeSeries: {
      bucketSec: 1,
      eventsNotTraced: 7,
      uploadToDetection: timeSeriesFromSamples(samples.filter((_, i) => i % 10 === 0).map((s) => ({ ...s, latencyMs: s.latencyMs * 3, ok: true }))),
      uploadToEvent: timeSeriesFromSamples(samples.filter((_, i) => i % 10 === 0).map((s, i) => ({ ...s, latencyMs: i % 10 === 3 ? null : s.latencyMs * 3 + 1000, ok: i % 10 !== 3 }))),
    },
    assertions: [
      { family: 'span-tree', name: 'one tree per upload', passed: true, measured: '2997/3000 traces one tree', bound: '>= 99 %', message: 'checked 3000 traces', exampleTraceIds: [] },
      {
        family: 'propagation',
        name: 'hop: http: nemotron-backend → ai-yolo26-emulator',
        passed: false,
        measured: '3 traces broken',
        bound: '0',
        message: 'POST /detect of ai-yolo26-emulator has a parent outside its trace in 3 traces (trace context lost on the detector hop)',
        exampleTraceIds: ['0af7651916cd43dd8448eb211c80319c', '5b8aa5a2d2c872e8321cf37308d69df2'],
      },
      { family: 'propagation', name: 'hop: queue: detection_queue producer → consumer', passed: true, measured: '0 broken', bound: '0', message: 'all 3000 hops linked', exampleTraceIds: [] },
      {
        family: 'latency',
        name: 'budget: detection_processing p95',
        passed: false,
        measured: 'p95 1623.0 ms (n=3000)',
        bound: '<= 1500 ms',
        message: 'detection_processing p95 1623.0 ms exceeds its budget of 1500 ms',
        exampleTraceIds: ['4bf92f3577b34da6a3ce929d0e0e4736'],
      },
      { family: 'errors', name: 'error spans match failed uploads', passed: true, measured: '890 error spans, 890 failed', bound: '==', message: 'every failed upload has an error span', exampleTraceIds: [] },
      { family: 'nothing-lost', name: 'every accepted upload has detections', passed: true, measured: '2110/2110', bound: '== accepted', message: 'no upload lost', exampleTraceIds: [] },
      { family: 'sampling', name: 'sampled flag honoured', passed: true, measured: '0 unsampled exported', bound: '0', message: 'sampling respected', exampleTraceIds: [] },
    ],
    operations: [
      { service: 'nemotron-backend', name: 'POST /api/cameras/{camera_id}/uploads', count: 3000, p50Ms: 12.1, p90Ms: 19.5, p95Ms: 24.8, p99Ms: 61.0, budget: { percentile: 95, maxMs: 100, ok: true } },
      { service: 'nemotron-backend', name: 'detection_processing', count: 2110, p50Ms: 180.3, p90Ms: 1210.4, p95Ms: 1623.0, p99Ms: 2210.9, budget: { percentile: 95, maxMs: 1500, ok: false } },
      { service: 'ai-yolo26-emulator', name: 'POST /detect', count: 2110, p50Ms: 150.2, p90Ms: 1100.7, p95Ms: 1490.1, p99Ms: 2050.3, budget: { percentile: 95, maxMs: 2000, ok: true } },
      { service: 'redis', name: 'BRPOP detection_queue', count: 2110, p50Ms: 1.2, p90Ms: 2.8, p95Ms: 3.9, p99Ms: 8.8 },
      { service: 'postgres', name: 'INSERT detections', count: 2110, p50Ms: 4.4, p90Ms: 9.1, p95Ms: 12.3, p99Ms: 30.2, budget: { percentile: 99, maxMs: 100, ok: true } },
      { service: 'nemotron-backend', name: 'batch_aggregator add', count: 2110, p50Ms: 2.1, p90Ms: 3.3, p95Ms: 4.0, p99Ms: 7.5 },
    ],
    exampleTraces: traces(),
    serviceMap: [
      { from: 'hsi-chaos-load', to: 'nemotron-backend', calls: 3000, broken: false },
      { from: 'nemotron-backend', to: 'redis', calls: 6220, broken: false },
      { from: 'nemotron-backend', to: 'ai-yolo26-emulator', calls: 2110, broken: true },
      { from: 'nemotron-backend', to: 'postgres', calls: 2110, broken: false },
    ],
    errors: [],
  };
  return { ...model, ...overrides };
}
