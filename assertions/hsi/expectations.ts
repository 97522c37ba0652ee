import { HSI_CORRELATION, HSI_HOP_NAMES, hsiNames, type HsiNameOptions } from './names.ts';
import { contractLatencyBudgets, type LatencyBudget } from '../latency/latency.ts';
import type { BaggageCheck } from '../propagation/baggage.ts';
import type { HopDefinition } from '../propagation/hops.ts';
import type { CompletenessSpec } from '../sampling/checks.ts';
import type { DlqEntry, EventRow, NothingLostOptions } from '../lost/outcome.ts';
import { HSI_FALLBACK_EVENT, HSI_LLM_FAILURE_PATTERN, HSI_RESILIENCE_DEFAULTS } from '../../harness/contract/hsi-contract.ts';
import type { BreakerPolicy, RetryPolicy } from '../errors/resilience.ts';
import { attributeOf, valueText } from '../selectors.ts';
import { span, spanTree, type SpanNodeBuilder, type SpanTreeExpectation } from '../span-tree/model.ts';

export * from './names.ts';

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
   * Include the analysis part (default true: the contract's pipeline ends at the event). It hangs
   * under `batch_aggregation` with count `{min: 0}` unless `analysisRequired`, since only the trace
   * of the batch's opening detection carries it; the analysis hops and baggage are checked in every
   * trace that holds them. `false` for a stack without the analysis stage.
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
    if (options.analysis ?? true) {
      const publish = span({ service: b, name: spans.analysisPublish, kind: 'producer' }).count(options.analysisRequired ? { min: 1 } : { min: 0 }).child(analysisNode(options));
      batch = batch.child(publish);
    }
    processing = processing.child(batch);
  }
  const root = span({ service: b, name: spans.upload, kind: 'server' })
    .expect({ file_path: { exists: true } })
    .child(span({ service: b, name: spans.detectionPublish, kind: 'producer' }).child(processing));
  return spanTree(root, { name: (options.analysis ?? true) ? 'hsi upload (detection + analysis)' : 'hsi upload (detection)', match: 'root' });
}

/** The analysis part on its own, for traces that hold an `analysis_queue publish`. */
export function hsiAnalysisTree(options: HsiExpectationOptions = {}): SpanTreeExpectation {
  const { services, spans } = hsiNames(options);
  return spanTree(span({ service: services.backend, name: spans.analysisPublish, kind: 'producer' }).child(analysisNode(options)), { name: 'hsi analysis' });
}

/** The HSI hops; the analysis ones unless `analysis: false` (they are `optional`, i.e. pass when no trace exercises them, unless `analysisRequired`). */
export function hsiHops(options: HsiExpectationOptions = {}): HopDefinition[] {
  const { services, spans } = hsiNames(options);
  const b = services.backend;
  const hops: HopDefinition[] = [
    { name: HSI_HOP_NAMES.driverToBackend, from: 'traceparent', to: { service: b, name: spans.upload, kind: 'server' } },
    { name: HSI_HOP_NAMES.detectionQueue, from: { service: b, name: spans.detectionPublish, kind: 'producer' }, to: { service: b, name: spans.detectionProcessing }, relation: 'child' },
    { name: HSI_HOP_NAMES.backendToDetector, from: { service: b, name: spans.detectorRequest, kind: 'client' }, to: { service: services.detector, kind: 'server' }, relation: 'child', fromSpans: 'some' },
  ];
  if (options.analysis ?? true) {
    const optional = options.analysisRequired !== true;
    hops.push(
      { name: HSI_HOP_NAMES.analysisQueue, from: { service: b, name: spans.analysisPublish, kind: 'producer' }, to: { service: b, name: spans.analysisProcessing }, relation: 'child', optional },
      { name: HSI_HOP_NAMES.backendToLlm, from: { service: b, name: spans.llmRequest, kind: 'client' }, to: { service: services.llm, kind: 'server' }, relation: 'child', fromSpans: 'some', optional },
    );
  }
  return hops;
}

/**
 * Where the contract's baggage must arrive, with which value: `camera.id` at every hop equals the
 * camera of the job (`camera_id` on the span or its ancestors; the evaluator also compares it with
 * the upload's camera), `request.source` through the detection queue; with the analysis part,
 * `camera.id` and `batch.id` at `analysis_processing` and at the LLM server (`batch.id` equals
 * the batch's `batch_id`).
 */
export function hsiBaggageChecks(options: HsiExpectationOptions = {}): BaggageCheck[] {
  const { services, spans } = hsiNames(options);
  const camera = { attribute: HSI_CORRELATION.cameraId };
  const batch = { attribute: HSI_CORRELATION.batchId };
  const processing = { service: services.backend, name: spans.detectionProcessing };
  const checks: BaggageCheck[] = [
    { key: 'camera.id', at: processing, sameAs: camera },
    { key: 'request.source', at: processing },
    { key: 'camera.id', at: { service: services.detector, name: spans.detectorServer, kind: 'server' }, sameAs: camera },
  ];
  if (options.analysis ?? true) {
    const optional = options.analysisRequired !== true;
    const analysis = { service: services.backend, name: spans.analysisProcessing };
    const llm = { service: services.llm, name: spans.llmServer, kind: 'server' as const };
    checks.push(
      { key: 'camera.id', at: analysis, sameAs: camera, optional },
      { key: 'batch.id', at: analysis, sameAs: batch, optional },
      { key: 'camera.id', at: llm, sameAs: camera, optional },
      { key: 'batch.id', at: llm, sameAs: batch, optional },
    );
  }
  return checks;
}

/** Per upload trace, the baggage the upload implies: `camera.id` is the camera it was sent for. */
export function hsiExpectedBaggage(uploads: readonly { traceId: string; cameraId?: string | undefined }[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const u of uploads) if (u.cameraId !== undefined) out.set(u.traceId, { 'camera.id': u.cameraId });
  return out;
}

/** The contract's SLO budgets (analyze stage optional unless `analysis`). */
export function hsiLatencyBudgets(options: HsiExpectationOptions = {}): LatencyBudget[] {
  return contractLatencyBudgets(options);
}

/** What a complete upload trace holds, for the sampling family. */
export function hsiCompleteness(options: HsiExpectationOptions = {}): CompletenessSpec {
  return { tree: hsiUploadTree(options) };
}

/** Why an analysis dead letter breaks the contract: an LLM failure must yield the fallback event instead. */
export function hsiUnacceptableDlq(entry: DlqEntry, queue: 'dlq:detection_queue' | 'dlq:analysis_queue'): string | undefined {
  if (queue !== 'dlq:analysis_queue') return undefined;
  const code = entry.errorCode ?? entry.payload?.['error_code'] ?? entry.payload?.['error_type'];
  const error = entry.error ?? entry.payload?.['error'];
  const text = [code, error].filter((v): v is string => typeof v === 'string').join(' ');
  if (!HSI_LLM_FAILURE_PATTERN.test(text)) return undefined;
  return `it failed on the LLM (${typeof code === 'string' ? `error_code ${code}` : text.slice(0, 80)}), and an LLM failure must yield the fallback event "${HSI_FALLBACK_EVENT.summaryPrefix}" (risk ${HSI_FALLBACK_EVENT.riskScore}), not a dead letter`;
}

/** Why an event marked fallback is not the contract's fallback event. */
export function hsiBadFallback(event: EventRow): string | undefined {
  if (typeof event.summary === 'string' && !event.summary.startsWith(HSI_FALLBACK_EVENT.summaryPrefix)) return `its summary is ${JSON.stringify(event.summary.slice(0, 60))}, not "${HSI_FALLBACK_EVENT.summaryPrefix}…"`;
  if (event.risk_score !== undefined && event.risk_score !== null && Number(event.risk_score) !== HSI_FALLBACK_EVENT.riskScore) return `its risk is ${event.risk_score}, not ${HSI_FALLBACK_EVENT.riskScore}`;
  return undefined;
}

/** The contract's outcome rules for the nothing-lost family. */
export function hsiOutcomeRules(): Pick<NothingLostOptions, 'unacceptableDlq' | 'badFallback'> {
  return { unacceptableDlq: hsiUnacceptableDlq, badFallback: hsiBadFallback };
}

type ResilienceSetting = 'DETECTOR_MAX_RETRIES' | 'NEMOTRON_MAX_RETRIES' | 'DETECTOR_CB_FAILURE_THRESHOLD' | 'DETECTOR_CB_RECOVERY_SECONDS';

/** The settings each resilience check is judged against (policy name → environment names). */
export const HSI_RESILIENCE_SETTINGS: Readonly<Record<'detector retries' | 'LLM retries' | 'detector circuit breaker', readonly ResilienceSetting[]>> = {
  'detector retries': ['DETECTOR_MAX_RETRIES'],
  'LLM retries': ['NEMOTRON_MAX_RETRIES'],
  'detector circuit breaker': ['DETECTOR_CB_FAILURE_THRESHOLD', 'DETECTOR_CB_RECOVERY_SECONDS'],
};

/** A setting from the stack's settings in effect, else the contract's default; with its source for messages. */
function setting(env: Readonly<Record<string, string>>, key: ResilienceSetting, origin?: string): { value: number; source: string } {
  const raw = env[key];
  const n = raw === undefined ? Number.NaN : Number(raw);
  if (Number.isFinite(n) && n > 0) return { value: n, source: `${key}=${raw}${origin !== undefined ? `, ${origin}` : ''}` };
  return { value: HSI_RESILIENCE_DEFAULTS[key], source: `${key} default ${HSI_RESILIENCE_DEFAULTS[key]}` };
}

/** The detector's and the LLM's retry policies and the detector breaker, from the stack's settings. */
export function hsiResiliencePolicies(env: Readonly<Record<string, string>> = {}, options: HsiNameOptions & { origin?: string } = {}): { retries: RetryPolicy[]; breaker: BreakerPolicy } {
  const { services, spans } = hsiNames(options);
  const b = services.backend;
  const backoff = { baseMs: HSI_RESILIENCE_DEFAULTS.retryBaseMs, capMs: HSI_RESILIENCE_DEFAULTS.retryCapMs, jitter: HSI_RESILIENCE_DEFAULTS.retryJitter };
  const detectorRetries = setting(env, 'DETECTOR_MAX_RETRIES', options.origin);
  const llmRetries = setting(env, 'NEMOTRON_MAX_RETRIES', options.origin);
  const threshold = setting(env, 'DETECTOR_CB_FAILURE_THRESHOLD', options.origin);
  const recovery = setting(env, 'DETECTOR_CB_RECOVERY_SECONDS', options.origin);
  const detectorAttempt = { service: b, name: spans.detectorRequest, kind: 'client' as const };
  const status4xx = (s: Parameters<NonNullable<BreakerPolicy['ignore']>>[0]): boolean => {
    const v = attributeOf(s, 'http.response.status_code');
    const code = v === undefined ? Number.NaN : Number(valueText(v));
    return code >= 400 && code < 500;
  };
  return {
    retries: [
      { name: 'detector', parent: { service: b, name: spans.detectionProcessing }, attempt: detectorAttempt, attemptAttribute: 'retry_attempt', maxAttempts: detectorRetries.value, ...backoff, source: detectorRetries.source },
      { name: 'LLM', parent: { service: b, name: spans.analysisProcessing }, attempt: { service: b, name: spans.llmRequest, kind: 'client' }, attemptAttribute: 'retry_attempt', maxAttempts: llmRetries.value, ...backoff, source: llmRetries.source },
    ],
    breaker: {
      name: 'detector',
      attempt: detectorAttempt,
      ignore: status4xx,
      threshold: threshold.value,
      recoveryMs: recovery.value * 1000,
      events: { opened: 'circuit_breaker.opened', halfOpened: 'circuit_breaker.half_opened' },
      source: `${threshold.source}, ${recovery.source}`,
    },
  };
}
