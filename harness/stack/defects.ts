import { ConfigError } from '../errors.ts';

/**
 * Defect switches of the reference stack: real bugs an HSI release could ship, off by
 * default. The harness's own tests turn them on to prove each assertion fails when it
 * should. The variables are documented in reference-stack/README.md ("Defect switches").
 */
export const DEFECTS = {
  /** Queue messages carry no trace context: each worker starts a new trace (the real stack's gap). */
  'queue-no-trace-context': { service: 'backend', env: { HSI_DEFECT_QUEUE_NO_TRACE_CONTEXT: '1' } },
  /** The detector emits no spans (the real stack's AI services are not instrumented). */
  'detector-not-instrumented': { service: 'detector', env: { HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED: '1' } },
  /** The detector drops half of its traces' spans: partial traces. */
  'detector-drops-spans': { service: 'detector', env: { HSI_DEFECT_DETECTOR_DROPS_SPANS: '0.5' } },
  /** The LLM client sends traceparent but no baggage. */
  'llm-client-drops-baggage': { service: 'backend', env: { HSI_DEFECT_LLM_CLIENT_DROPS_BAGGAGE: '1' } },
  /** The sampler ignores the parent's sampled flag. */
  'sampler-ignores-parent': { service: 'backend', env: { HSI_DEFECT_SAMPLER_IGNORES_PARENT: '1' } },
  /** 202 before the job is stored: uploads lost under a Redis fault. */
  'ack-before-store': { service: 'backend', env: { HSI_DEFECT_ACK_BEFORE_STORE: '1' } },
  /** Retries hammer the AI service with no backoff. */
  'retry-without-backoff': { service: 'backend', env: { HSI_DEFECT_RETRY_WITHOUT_BACKOFF: '1' } },
  /** The detector circuit breaker never opens. */
  'breaker-never-opens': { service: 'backend', env: { HSI_DEFECT_BREAKER_NEVER_OPENS: '1' } },
  /** Only analysis_queue messages lose the trace context: the analysis half starts a new trace. */
  'analysis-queue-no-trace-context': { service: 'backend', env: { HSI_DEFECT_ANALYSIS_QUEUE_NO_TRACE_CONTEXT: '1' } },
  /** The LLM request carries no traceparent: the LLM server starts its own traces. */
  'llm-client-no-trace-context': { service: 'backend', env: { HSI_DEFECT_LLM_CLIENT_NO_TRACE_CONTEXT: '1' } },
  /** The detector client reuses its first call's baggage: camera.id at the detector is present but wrong. */
  'detector-client-stale-baggage': { service: 'backend', env: { HSI_DEFECT_DETECTOR_CLIENT_STALE_BAGGAGE: '1' } },
  /** detection_processing ends before its children (the detect stage then looks 1 ms long). */
  'processing-span-ends-early': { service: 'backend', env: { HSI_DEFECT_PROCESSING_SPAN_ENDS_EARLY: '1' } },
  /** An LLM failure dead-letters the batch instead of creating the fallback event. */
  'llm-failure-dead-letters': { service: 'backend', env: { HSI_DEFECT_LLM_FAILURE_DEAD_LETTERS: '1' } },
  /** The detection worker does not store the last detection of each answer (off by one). */
  'worker-drops-rows': { service: 'backend', env: { HSI_DEFECT_WORKER_DROPS_ROWS: '1' } },
  /** /ws/events skips the first event broadcast that has a subscriber: stored, never seen on the dashboard. */
  'ws-drops-broadcast': { service: 'backend', env: { HSI_DEFECT_WS_DROPS_BROADCAST: '1' } },
  /** The analysis raises after loading a batch: dead-lettered in profile reference, silently dropped in hsi-current. */
  'analysis-raises': { service: 'backend', env: { HSI_DEFECT_ANALYSIS_RAISES: '1' } },
} as const satisfies Record<string, { service: 'backend' | 'detector' | 'llm'; env: Record<string, string> }>;

export type DefectName = keyof typeof DEFECTS;
export const DEFECT_NAMES = Object.keys(DEFECTS) as DefectName[];

export function isDefectName(name: string): name is DefectName {
  return Object.hasOwn(DEFECTS, name);
}

export function parseDefects(names: readonly string[], source = '--defect'): DefectName[] {
  return names.map((name) => {
    if (!isDefectName(name)) throw new ConfigError(`${source}: unknown defect "${name}"; known: ${DEFECT_NAMES.join(', ')}`);
    return name;
  });
}

/** Environment per service for a set of defects. */
export function defectEnvironment(defects: readonly DefectName[]): Record<'backend' | 'detector' | 'llm', Record<string, string>> {
  const env = { backend: {}, detector: {}, llm: {} } as Record<'backend' | 'detector' | 'llm', Record<string, string>>;
  for (const d of defects) Object.assign(env[DEFECTS[d].service], DEFECTS[d].env);
  return env;
}

/**
 * The body of a reference service's POST /admin/defects that leaves exactly the switches in `on`
 * of that service switched on: each of its switch variables, its "on" value or "0". The backend
 * and the detector emulator take their switches at run time; naming another service's switch
 * here is an error.
 */
export function defectSwitches(service: 'backend' | 'detector', on: readonly DefectName[]): Record<string, string> {
  const body: Record<string, string> = {};
  for (const name of DEFECT_NAMES) {
    const defect = DEFECTS[name];
    if (defect.service !== service) continue;
    for (const [variable, value] of Object.entries(defect.env)) body[variable] = on.includes(name) ? value : '0';
  }
  const elsewhere = on.filter((name) => DEFECTS[name].service !== service);
  if (elsewhere.length > 0) throw new ConfigError(`defects ${elsewhere.join(', ')}: switches of the ${DEFECTS[elsewhere[0]!].service}, not of the ${service}; post them to the ${DEFECTS[elsewhere[0]!].service}'s /admin/defects`);
  return body;
}

/** The backend's POST /admin/defects body for exactly `on` (defectSwitches('backend', on)). */
export function backendDefectSwitches(on: readonly DefectName[]): Record<string, string> {
  return defectSwitches('backend', on);
}
