import type { CapacityResult } from '../capacity/capacity-types.ts';
import type { ReplayFidelityView } from './replay-fidelity.ts';

/**
 * The one model every report is rendered from (summary.json, junit.xml, summary.md,
 * report.html) and that `compare` reads back. Versioned: readers check schemaVersion.
 */
export const REPORT_SCHEMA_VERSION = 1;

export type Verdict = 'passed' | 'failed' | 'error' | 'interrupted';

export interface ThresholdVerdict {
  /** e.g. "http_req_duration{scenario:steady}" */
  metric: string;
  /** e.g. "p(95)<2000" */
  expression: string;
  ok: boolean;
  /** The aggregated value the expression was evaluated on, when known. */
  value?: number;
  /** The run recorded no sample of the metric (evaluated as k6 does, on an empty metric). */
  noSamples?: true;
  abortOnFail?: boolean;
}

export interface TimeSeriesPoint {
  /** Seconds since the load started. */
  tSec: number;
  requests: number;
  errors: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface FaultWindowView {
  name: string;
  target: string;
  faultType: string;
  /** Seconds since the load started: planned and actual. */
  plannedStartSec: number;
  plannedEndSec: number;
  startSec: number | null;
  endSec: number | null;
  applyLagMs: number | null;
  removeLagMs: number | null;
  error?: string;
  /** Upload (HTTP) p95 latency and error rate before/during/after, recovery time (fault-impact.ts). */
  impact?: FaultImpactView;
  /**
   * The same measures on the pipeline, from the sampled uploads' traces by upload time: where a
   * fault on an AI service shows, since the upload answers before detection runs. An upload
   * that never reached the stage counts as an error.
   */
  pipelineImpact?: { uploadToDetection: FaultImpactView; uploadToEvent: FaultImpactView };
}

export interface FaultImpactView {
  before: { p95Ms: number | null; errorRate: number; requests: number };
  during: { p95Ms: number | null; errorRate: number; requests: number };
  after: { p95Ms: number | null; errorRate: number; requests: number };
  recoverySeconds: number | null;
}

export interface AssertionView {
  family: string;
  name: string;
  passed: boolean;
  /** False: the check could not be judged (passed is true, message says why); shown as "not judged". */
  judged?: false;
  measured: string;
  bound: string;
  message: string;
  exampleTraceIds: string[];
}

export interface OperationLatency {
  service: string;
  name: string;
  count: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Budget from the scenario or the contract's SLO, when one applies. */
  budget?: { percentile: number; maxMs: number; ok: boolean };
}

export interface WaterfallSpan {
  spanId: string;
  parentSpanId?: string;
  service: string;
  name: string;
  /** ms from the trace's first span start. */
  startOffsetMs: number;
  durationMs: number;
  error: boolean;
}

export interface ExampleTrace {
  label: string;
  traceId: string;
  spans: WaterfallSpan[];
}

export interface ServiceEdge {
  from: string;
  to: string;
  calls: number;
  /** The hop lost trace context (propagation assertion), drawn dashed/red. */
  broken: boolean;
}

export interface LoadMetricsView {
  driver: 'native' | 'k6';
  durationSec: number;
  httpReqs: number;
  httpReqsPerSec: number;
  httpReqFailedRate: number;
  httpReqDuration: { avg: number; min: number; med: number; max: number; p90: number; p95: number; p99: number };
  iterations: number;
  droppedIterations: number;
  sendLagMs?: { p50: number; p99: number; max: number };
  /** mean runnable tasks per CPU during the load (the machine's crowding), when measured */
  runnablePerCpu?: number;
}

/**
 * Pipeline latency over time, from the sampled uploads' traces (stitched where propagation is
 * broken), bucketed by upload time. The upload itself answers in milliseconds whatever the
 * detector or LLM do; these series are where a fault on an AI service shows. `requests` counts
 * uploads, `errors` those whose detection failed (dead-lettered), which never reach the stage.
 */
export interface PipelineTimeSeries {
  /** Bucket width of both series. */
  bucketSec: number;
  /**
   * Sampled uploads whose detection succeeded but whose event is in no fetched trace: left out of
   * `uploadToEvent` (the batch's analysis trace follows the sampling decision of the upload that
   * opened the batch; nothing-lost reads the rows and says whether an event exists).
   */
  eventsNotTraced: number;
  /** Upload server span start → detection_processing end (detections stored). */
  uploadToDetection: TimeSeriesPoint[];
  /** Upload server span start → event_creation end. */
  uploadToEvent: TimeSeriesPoint[];
}

/** One GPU sample on the report's time axis (seconds since the load started); null = not reported. */
export interface GpuPoint {
  tSec: number;
  utilizationPct: number | null;
  memoryUsedMiB: number | null;
  memoryTotalMiB: number | null;
  temperatureC: number | null;
  powerW: number | null;
}

/** Highest values seen (null: never reported); memoryUsedFraction = max used/total of any GPU. */
export interface GpuPeaksView {
  utilizationPct: number | null;
  memoryUsedMiB: number | null;
  memoryTotalMiB: number | null;
  memoryUsedFraction: number | null;
  temperatureC: number | null;
  powerW: number | null;
}

export interface GpuPeaksOfDeviceView extends GpuPeaksView {
  index: number;
  name: string | null;
}

/**
 * GPU telemetry of the run (harness/gpu): the source used in HSI's fallback order, or
 * `available: false` with source "no GPU telemetry" and why each source did not count.
 */
export interface GpuReportView {
  available: boolean;
  /** "nvidia-smi (host)", "backend /api/system/gpu", … or "no GPU telemetry". */
  source: string;
  tried: { source: string; reason: string }[];
  sampleCount: number;
  malformedLines: number;
  readFailures: number;
  lastReadFailure: string | null;
  /** GPUs that disappeared from the source's answers, at seconds since the load started. */
  lost: { index: number; name: string | null; atSec: number }[];
  peaks: GpuPeaksView;
  perGpu: GpuPeaksOfDeviceView[];
  series: { index: number; name: string | null; points: GpuPoint[] }[];
  /** A capacity knee to mark on the GPU charts (set by a capacity search). */
  knee?: { tSec: number; label: string };
}

export interface RunReportModel {
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  runId: string;
  scenario: { name: string; description?: string };
  startedAt: string;
  finishedAt?: string;
  verdict: Verdict;
  exitCode: number;
  stack: {
    kind: 'embedded' | 'external' | 'compose';
    /** The team's compose file the stack was started from (kind compose). */
    composeFile?: string;
    startSeconds?: number;
    defects: string[];
    backendUrl?: string;
    jaegerUrl?: string;
    /** Which AI services ran as emulators and which as real inference engines (embedded stacks). */
    ai?: { detector: 'emulated' | 'real'; llm: 'emulated' | 'real' };
    /** The reference-stack profile that ran (`reference` or `hsi-current`), when known. */
    profile?: 'reference' | 'hsi-current';
    /** The HSI dialect the harness read the stack in (configured or detected), and why. */
    dialect?: { name: 'reference' | 'hsi-current'; detected: boolean; reason: string };
  };
  /** The AI engines' own figures read from their spans (llama.cpp timings, detector inference time); runs with a real engine. */
  aiEngines?: AiEnginesView;
  load?: LoadMetricsView;
  timeSeries: TimeSeriesPoint[];
  /** Absent when no traces were read (no evaluator, Jaeger unreachable) or older reports. */
  pipelineTimeSeries?: PipelineTimeSeries;
  thresholds: ThresholdVerdict[];
  faults: FaultWindowView[];
  assertions: AssertionView[];
  operations: OperationLatency[];
  exampleTraces: ExampleTrace[];
  serviceMap: ServiceEdge[];
  /** Absent in reports written before GPU telemetry existed. */
  gpu?: GpuReportView;
  /** Problems that stopped a phase (stack did not start, Jaeger unreachable, …). */
  errors: string[];
  /** A capacity search's result (hsi-chaos capacity); absent for an experiment. */
  capacity?: CapacityResult;
  /** A replay of an incident (`hsi-chaos replay --run`): how close it came. */
  replayFidelity?: ReplayFidelityView;
  /** What a dashboard saw: the run's events on /ws/events and upload → event latency. Absent without a subscription's evaluation. */
  eventStream?: EventStreamView;
  /** 429 answers to the harness's own requests (rate-limited backends) and the waiting they cost. */
  rateLimit?: { responses429: number; retries: number; gaveUp: number; waitedMs: number; byPath: Record<string, number> };
}

/**
 * The /ws/events subscriber of a run: frames received (single and batched envelopes), the run's
 * stored events matched to them, and upload (the batch's earliest) → receive time.
 */
export interface EventStreamView {
  path: string;
  subscribed: boolean;
  note?: string;
  frames: { single: number; batch: number; other: number; invalid: number };
  /** Events of the run's uploads in PostgreSQL. */
  storedEvents: number;
  /** Of those, received on the WebSocket. */
  broadcastEvents: number;
  /** Times the subscription dropped and was reopened. */
  gaps: number;
  uploadToEventMs: { count: number; p50Ms: number | null; p95Ms: number | null; p99Ms: number | null; maxMs: number | null };
}

export interface Percentiles {
  count: number;
  mean: number | null;
  p50: number | null;
  p95: number | null;
}

/** Per-bucket figures of an AI engine over the run (tSec from the load's start). */
export interface AiEnginePoint {
  tSec: number;
  count: number;
  /** LLM: median generated tokens/s; detector: median inference ms. */
  value: number | null;
  /** LLM only: median prompt (prefill) ms. */
  promptMs?: number | null;
}

export interface AiEnginesView {
  bucketSec: number;
  llm?: {
    mode: 'emulated' | 'real';
    tokensPerSecond: Percentiles;
    promptMs: Percentiles;
    promptTokens: Percentiles;
    generatedTokens: Percentiles;
    /** The backend's llm_inference span (the whole call as the client sees it). */
    callMs: Percentiles;
    series: AiEnginePoint[];
  };
  detector?: {
    mode: 'emulated' | 'real';
    weights: string | null;
    device: string | null;
    inferenceMs: Percentiles;
    /** The backend's yolo26_detection_request span. */
    callMs: Percentiles;
    series: AiEnginePoint[];
  };
}
