import type { HsiDialect } from '../contract/dialects.ts';
import type { HsiHttpClient } from '../dialect/hsi-http.ts';
import type { FaultWindowRecord } from '../chaos/toxic-timeline.ts';
import type { LoadRequestRecord } from '../load/load-result.ts';
import type { BroadcastSource } from '../events/event-stream-recorder.ts';
import type { AssertionView, EventStreamView, ExampleTrace, OperationLatency, ServiceEdge } from '../report/report-model.ts';
import type { RunResults } from '../util/run-results.ts';

/**
 * The experiment runner collects evidence; an evaluator turns it into verdicts. The
 * assertion families live outside the harness (assertions/ uses the harness's types, not
 * the other way round), so the CLI's entry point and the tests inject one.
 */
export interface EvidenceEndpoints {
  backendUrl: string;
  jaegerUrl: string;
  /** Direct connections for reading outcomes (not through Toxiproxy). */
  postgresUrl?: string;
  redisUrl?: string;
}

export interface EvaluationRequest {
  runId: string;
  results: RunResults;
  /** The scenario's `expectations` as written; the evaluator validates them. */
  expectations: readonly Record<string, unknown>[];
  source: string;
  endpoints: EvidenceEndpoints;
  requests: readonly LoadRequestRecord[];
  faults: { windows: readonly FaultWindowRecord[]; loadStartEpochMs: number };
  /** The backend's settings in effect for the run (environment names), for checks against them. */
  stackSettings?: Readonly<Record<string, string>>;
  /** How `stackSettings` were learned, and whether the others are known (SettingsInEffect). */
  settingsKnowledge?: SettingsKnowledge;
  /** Epoch ms bounds of the load, for trace searches. */
  window: { startEpochMs: number; endEpochMs: number };
  /** The run's /ws/events subscriber (every experiment has one): broadcasts and their latency. */
  broadcasts?: BroadcastSource;
  log: (line: string) => void;
  /** The harness's client for the backend (API key, 429 back-off); default a plain one. */
  http?: HsiHttpClient;
  /** The dialect the stack speaks (queue keys, DLQ shapes); default the reference dialect. */
  dialect?: HsiDialect;
  /**
   * How often the stack's services export spans (OTEL_BSP_SCHEDULE_DELAY, ms), when known: the
   * stacks the harness starts export every 500 ms, a stack of unknown settings may wait 5 s.
   */
  spanExportDelayMs?: number;
}

/**
 * What the harness knows of the backend's settings in effect: the embedded stack's are its
 * environment (the scenario's `stack.backend`, the contract's defaults for the rest); an
 * external stack's are read back from it after the scenario's were applied (GET /admin/settings),
 * and where it cannot tell them, they are unknown: checks against them say they cannot judge.
 */
export interface SettingsKnowledge {
  /** How the values were learned, for messages (`read back from the stack`). */
  origin?: string;
  /** Set when a setting absent from the values is unknown: why (`the stack has no settings endpoint`). Unset: absent ones have the contract's default. */
  othersUnknown?: string;
}

export interface SettingsInEffect extends SettingsKnowledge {
  values: Readonly<Record<string, string>>;
}

export interface EvaluationResult {
  assertions: AssertionView[];
  operations: OperationLatency[];
  exampleTraces: ExampleTrace[];
  serviceMap: ServiceEdge[];
  /** One entry per sampled upload whose upload span was found; the runner derives the pipeline series and fault impact. */
  pipelineLatencies?: PipelineLatencySample[];
  /** Upload → event on /ws/events and the broadcasts' count, when the run subscribed. */
  eventStream?: EventStreamView;
  notes: string[];
}

/** How far one upload got through the pipeline, and how fast, read from its trace(s). */
export interface PipelineLatencySample {
  /** The upload's server span start, ms from the load's start. */
  atMs: number;
  /** Upload → detection_processing end; null when the traces hold no detection_processing. */
  uploadToDetectionMs: number | null;
  /** That detection_processing ended in error (retries exhausted: dead-letter queue). */
  detectionFailed: boolean;
  /**
   * Upload → event_creation end; null when the traces hold no event for it. That is not proof
   * of a missing event: a batch's analysis trace follows the sampling decision of the upload
   * that opened the batch, so a sampled upload in a batch opened by an unsampled one has its
   * event in no trace (the nothing-lost family reads the rows).
   */
  uploadToEventMs: number | null;
}

export interface ExperimentEvaluator {
  /**
   * Checks `expectations` before anything starts; throws ConfigError naming the field. With
   * `context`, also what the scenario around them makes wrong (a window naming no fault).
   */
  validate(expectations: readonly Record<string, unknown>[], source: string, context?: { faultNames: readonly string[] }): void;
  /** Waits for the pipeline to drain, reads traces and outcomes, evaluates. */
  evaluate(request: EvaluationRequest): Promise<EvaluationResult>;
}
