import { HSI_HOP_NAMES, hsiNames, type HsiNameOptions } from './hsi-names.ts';
import { contractLatencyBudgets, type LatencyBudget } from './latency/latency.ts';
import type { BaggageCheck } from './propagation/baggage.ts';
import type { HopDefinition } from './propagation/hops.ts';
import type { CompletenessSpec } from './sampling/checks.ts';
import { span, spanTree, type SpanNodeBuilder, type SpanTreeExpectation } from './span-tree/model.ts';

export * from './hsi-names.ts';

/**
 * The HSI pipeline's expected trace shape, hops, baggage and budgets, as built-ins.
 *
 * One upload = one trace when propagation works:
 *
 *     nemotron-backend SERVER "POST /api/cameras/{camera_id}/uploads"    (root: its parent, the
 *       └ PRODUCER "detection_queue publish"                              load driver's span, is
 *           └ CONSUMER "detection_processing" [camera_id, file_path,      never exported)
 *                                              media_type]
 *               ├ CLIENT "yolo26_detection_request" [retry_attempt]   (one per attempt)
 *               │   └ ai-yolo26-emulator SERVER "POST /detect"        (under at least one attempt)
 *               │       └ "yolo26_inference"
 *               ├ CLIENT /^INSERT detections/                          (any depth)
 *               └ INTERNAL "batch_aggregation" [batch_id, camera_id]
 *                   └ PRODUCER "analysis_queue publish"   (analysis part: only in the trace of the
 *                       └ CONSUMER "analysis_processing"   batch's opening detection; the others
 *                           ├ CLIENT "llm_inference"       are span LINKS of the producer)
 *                           │   └ ai-llm-emulator SERVER "POST /completion" └ "llm_generate"
 *                           └ "event_creation"
 */

export interface HsiExpectationOptions extends HsiNameOptions {
  /**
   * Include the analysis part (needs the batch to close). It hangs under `batch_aggregation` with
   * count `{min: 0}` unless `analysisRequired`, since only the trace of the batch's opening
   * detection carries it.
   */
  analysis?: boolean;
  analysisRequired?: boolean;
  /** Expect `batch_aggregation` (default true). */
  batch?: boolean;
  /** Expect the SQL insert span (default true). */
  sql?: boolean;
  /** Expect the AI services' internal spans (`yolo26_inference`, `llm_generate`); default true. */
  aiInternals?: boolean;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function analysisNode(options: HsiExpectationOptions): SpanNodeBuilder {
  const { services, spans } = hsiNames(options);
  const b = services.backend;
  const internals = options.aiInternals ?? true;
  let llmServer = span({ service: services.llm, name: spans.llmServer, kind: 'server' }).under('some');
  if (internals) llmServer = llmServer.child(span({ service: services.llm, name: spans.llmGenerate }));
  return span({ service: b, name: spans.analysisProcessing, kind: 'consumer' })
    .expect({ batch_id: { exists: true }, detection_count: { exists: true }, camera_id: { exists: true } })
    .child(span({ service: b, name: spans.llmRequest, kind: 'client' }).child(llmServer))
    .child(span({ service: b, name: spans.eventCreation }));
}

/** The upload tree (detection part; the analysis part with `analysis: true`). */
export function hsiUploadTree(options: HsiExpectationOptions = {}): SpanTreeExpectation {
  const { services, spans } = hsiNames(options);
  const b = services.backend;
  let detector = span({ service: services.detector, name: spans.detectorServer, kind: 'server' }).under('some');
  if (options.aiInternals ?? true) detector = detector.child(span({ service: services.detector, name: spans.detectorInference }));
  let processing = span({ service: b, name: spans.detectionProcessing, kind: 'consumer' })
    .expect({ camera_id: { exists: true }, file_path: { exists: true }, media_type: { exists: true } })
    .child(span({ service: b, name: spans.detectorRequest, kind: 'client' }).expect({ retry_attempt: { exists: true } }).child(detector));
  if (options.sql ?? true) processing = processing.descendant(span({ service: b, name: { regex: `^${escapeRegex(spans.insertDetections)}` }, kind: 'client' }));
  if (options.batch ?? true) {
    let batch = span({ service: b, name: spans.batchAggregation }).expect({ batch_id: { exists: true }, camera_id: { exists: true } });
    if (options.analysis) {
      const publish = span({ service: b, name: spans.analysisPublish, kind: 'producer' }).count(options.analysisRequired ? { min: 1 } : { min: 0 }).child(analysisNode(options));
      batch = batch.child(publish);
    }
    processing = processing.child(batch);
  }
  const root = span({ service: b, name: spans.upload, kind: 'server' })
    .expect({ file_path: { exists: true } })
    .child(span({ service: b, name: spans.detectionPublish, kind: 'producer' }).child(processing));
  return spanTree(root, { name: options.analysis ? 'hsi upload (detection + analysis)' : 'hsi upload (detection)', match: 'root' });
}

/** The analysis part on its own, for traces that hold an `analysis_queue publish`. */
export function hsiAnalysisTree(options: HsiExpectationOptions = {}): SpanTreeExpectation {
  const { services, spans } = hsiNames(options);
  return spanTree(span({ service: services.backend, name: spans.analysisPublish, kind: 'producer' }).child(analysisNode(options)), { name: 'hsi analysis' });
}

/** The HSI hops; the analysis ones with `analysis: true` (they are `optional` unless `analysisRequired`). */
export function hsiHops(options: HsiExpectationOptions = {}): HopDefinition[] {
  const { services, spans } = hsiNames(options);
  const b = services.backend;
  const hops: HopDefinition[] = [
    { name: HSI_HOP_NAMES.driverToBackend, from: 'traceparent', to: { service: b, name: spans.upload, kind: 'server' } },
    { name: HSI_HOP_NAMES.detectionQueue, from: { service: b, name: spans.detectionPublish, kind: 'producer' }, to: { service: b, name: spans.detectionProcessing }, relation: 'child' },
    { name: HSI_HOP_NAMES.backendToDetector, from: { service: b, name: spans.detectorRequest, kind: 'client' }, to: { service: services.detector, kind: 'server' }, relation: 'child', fromSpans: 'some' },
  ];
  if (options.analysis) {
    const optional = options.analysisRequired !== true;
    hops.push(
      { name: HSI_HOP_NAMES.analysisQueue, from: { service: b, name: spans.analysisPublish, kind: 'producer' }, to: { service: b, name: spans.analysisProcessing }, relation: 'child', optional },
      { name: HSI_HOP_NAMES.backendToLlm, from: { service: b, name: spans.llmRequest, kind: 'client' }, to: { service: services.llm, kind: 'server' }, relation: 'child', fromSpans: 'some', optional },
    );
  }
  return hops;
}

/**
 * Where the contract's baggage must arrive: `camera.id` and `request.source` through the
 * detection queue and at the detector; with `analysis`, `camera.id` at the LLM server.
 */
export function hsiBaggageChecks(options: HsiExpectationOptions = {}): BaggageCheck[] {
  const { services, spans } = hsiNames(options);
  const checks: BaggageCheck[] = [
    { key: 'camera.id', at: { service: services.backend, name: spans.detectionProcessing } },
    { key: 'request.source', at: { service: services.backend, name: spans.detectionProcessing } },
    { key: 'camera.id', at: { service: services.detector, name: spans.detectorServer, kind: 'server' } },
  ];
  if (options.analysis) checks.push({ key: 'camera.id', at: { service: services.llm, name: spans.llmServer, kind: 'server' }, optional: options.analysisRequired !== true });
  return checks;
}

/** The contract's SLO budgets (analyze stage optional unless `analysis`). */
export function hsiLatencyBudgets(options: HsiExpectationOptions = {}): LatencyBudget[] {
  return contractLatencyBudgets(options);
}

/** What a complete upload trace holds, for the sampling family. */
export function hsiCompleteness(options: HsiExpectationOptions = {}): CompletenessSpec {
  return { tree: hsiUploadTree(options) };
}
