/**
 * Defect switches of the backend: real bugs an HSI release could ship, all off by default.
 * The harness turns them on (one environment variable each) to prove that its assertions catch
 * them. They are read once at start (`loadDefects`), logged, and listed in the resource
 * attribute `hsi.defects`. The table in reference-stack/README.md ("Defect switches") lists
 * these and the emulators' switches.
 */

export interface BackendDefects {
  /** HSI_DEFECT_QUEUE_NO_TRACE_CONTEXT: queue messages and batches carry no trace context. */
  queueNoTraceContext: boolean;
  /** HSI_DEFECT_LLM_CLIENT_DROPS_BAGGAGE: the LLM request has traceparent but no baggage. */
  llmClientDropsBaggage: boolean;
  /** HSI_DEFECT_SAMPLER_IGNORES_PARENT: every span decides by its own ratio. */
  samplerIgnoresParent: boolean;
  /** HSI_DEFECT_ACK_BEFORE_STORE: 202 before the job is on detection_queue. */
  ackBeforeStore: boolean;
  /** HSI_DEFECT_RETRY_WITHOUT_BACKOFF: detector and LLM retries do not wait. */
  retryWithoutBackoff: boolean;
  /** HSI_DEFECT_BREAKER_NEVER_OPENS: the detector circuit breaker never opens. */
  breakerNeverOpens: boolean;
  /** HSI_DEFECT_ANALYSIS_QUEUE_NO_TRACE_CONTEXT: only analysis_queue messages lose the trace context. */
  analysisQueueNoTraceContext: boolean;
  /** HSI_DEFECT_LLM_CLIENT_NO_TRACE_CONTEXT: the LLM request carries no traceparent (nor baggage). */
  llmClientNoTraceContext: boolean;
  /** HSI_DEFECT_DETECTOR_CLIENT_STALE_BAGGAGE: the detector client reuses the baggage header of its first call. */
  detectorClientStaleBaggage: boolean;
  /** HSI_DEFECT_PROCESSING_SPAN_ENDS_EARLY: detection_processing ends before its children. */
  processingSpanEndsEarly: boolean;
  /** HSI_DEFECT_LLM_FAILURE_DEAD_LETTERS: an LLM failure dead-letters the batch instead of the fallback event. */
  llmFailureDeadLetters: boolean;
  /** HSI_DEFECT_WORKER_DROPS_ROWS: the detection worker does not store the last detection of each answer. */
  workerDropsRows: boolean;
  /** HSI_DEFECT_WS_DROPS_BROADCAST: /ws/events skips the first event broadcast that has a subscriber. */
  wsDropsBroadcast: boolean;
  /** HSI_DEFECT_ANALYSIS_RAISES: the analysis raises an exception after loading the batch's detections. */
  analysisRaises: boolean;
}

/** Environment variable of each switch. */
export const DEFECT_VARIABLES: Readonly<Record<keyof BackendDefects, string>> = {
  queueNoTraceContext: 'HSI_DEFECT_QUEUE_NO_TRACE_CONTEXT',
  llmClientDropsBaggage: 'HSI_DEFECT_LLM_CLIENT_DROPS_BAGGAGE',
  samplerIgnoresParent: 'HSI_DEFECT_SAMPLER_IGNORES_PARENT',
  ackBeforeStore: 'HSI_DEFECT_ACK_BEFORE_STORE',
  retryWithoutBackoff: 'HSI_DEFECT_RETRY_WITHOUT_BACKOFF',
  breakerNeverOpens: 'HSI_DEFECT_BREAKER_NEVER_OPENS',
  analysisQueueNoTraceContext: 'HSI_DEFECT_ANALYSIS_QUEUE_NO_TRACE_CONTEXT',
  llmClientNoTraceContext: 'HSI_DEFECT_LLM_CLIENT_NO_TRACE_CONTEXT',
  detectorClientStaleBaggage: 'HSI_DEFECT_DETECTOR_CLIENT_STALE_BAGGAGE',
  processingSpanEndsEarly: 'HSI_DEFECT_PROCESSING_SPAN_ENDS_EARLY',
  llmFailureDeadLetters: 'HSI_DEFECT_LLM_FAILURE_DEAD_LETTERS',
  workerDropsRows: 'HSI_DEFECT_WORKER_DROPS_ROWS',
  wsDropsBroadcast: 'HSI_DEFECT_WS_DROPS_BROADCAST',
  analysisRaises: 'HSI_DEFECT_ANALYSIS_RAISES',
};

export const NO_DEFECTS: Readonly<BackendDefects> = {
  queueNoTraceContext: false,
  llmClientDropsBaggage: false,
  samplerIgnoresParent: false,
  ackBeforeStore: false,
  retryWithoutBackoff: false,
  breakerNeverOpens: false,
  analysisQueueNoTraceContext: false,
  llmClientNoTraceContext: false,
  detectorClientStaleBaggage: false,
  processingSpanEndsEarly: false,
  llmFailureDeadLetters: false,
  workerDropsRows: false,
  wsDropsBroadcast: false,
  analysisRaises: false,
};

export class DefectSwitchError extends Error {
  override name = 'DefectSwitchError';
}

const ON = new Set(['1', 'true', 'yes', 'on']);
const OFF = new Set(['', '0', 'false', 'no', 'off']);

/** Reads the switches; anything but 1/true/yes/on or 0/false/no/off/empty is an error naming the variable. */
export function loadDefects(env: NodeJS.ProcessEnv = process.env): BackendDefects {
  const defects = { ...NO_DEFECTS };
  const problems: string[] = [];
  for (const [key, variable] of Object.entries(DEFECT_VARIABLES) as [keyof BackendDefects, string][]) {
    const raw = (env[variable] ?? '').trim().toLowerCase();
    if (ON.has(raw)) defects[key] = true;
    else if (!OFF.has(raw)) problems.push(`${variable}: expected 1 or 0`);
  }
  if (problems.length > 0) throw new DefectSwitchError(`invalid environment: ${problems.join('; ')}`);
  return defects;
}

/** HSI_DEFECT_ANALYSIS_RAISES_CAMERA: limits HSI_DEFECT_ANALYSIS_RAISES to one camera's batches (tests share a stack). */
export function analysisRaisesDefect(defects: BackendDefects, env: NodeJS.ProcessEnv = process.env): boolean | { cameraId: string } {
  if (!defects.analysisRaises) return false;
  const cameraId = env['HSI_DEFECT_ANALYSIS_RAISES_CAMERA']?.trim();
  return cameraId ? { cameraId } : true;
}

/** Variable names of the switches that are on, sorted (resource attribute `hsi.defects`, start-up log). */
export function activeDefects(defects: BackendDefects): string[] {
  return (Object.entries(DEFECT_VARIABLES) as [keyof BackendDefects, string][])
    .filter(([key]) => defects[key])
    .map(([, variable]) => variable)
    .sort();
}
