/**
 * Reference-stack profiles: which HSI the reference stack imitates. `reference` is the stack as
 * it always was (the contract's first sections); `hsi-current` behaves like the real project's
 * current sources where that matters for bugs (HSI-CONTRACT.md, last section). One environment
 * variable, read by every reference-stack service, selects it; the harness sets it from the stack
 * config (`profile`) or `--profile`. Imports nothing of the harness.
 */

export const STACK_PROFILES = ['reference', 'hsi-current'] as const;
export type StackProfile = (typeof STACK_PROFILES)[number];
export const DEFAULT_STACK_PROFILE: StackProfile = 'reference';

/** The environment variable of every reference-stack container that selects the profile. */
export const STACK_PROFILE_ENV = 'HSI_PROFILE';

export function isStackProfile(value: string): value is StackProfile {
  return (STACK_PROFILES as readonly string[]).includes(value);
}

/** The dialect a reference stack of this profile speaks (harness/contract/dialects.ts). */
export function dialectOfProfile(profile: StackProfile): 'reference' | 'hsi-current' {
  return profile === 'hsi-current' ? 'hsi-current' : 'reference';
}

/** The real HSI's behaviours the `hsi-current` profile reproduces (values are the real defaults). */
export const HSI_CURRENT = Object.freeze({
  /** A `person` detection at or above this confidence skips batching (FAST_PATH_CONFIDENCE_THRESHOLD). */
  fastPath: Object.freeze({ objectClass: 'person', confidence: 0.9, closeReason: 'fast_path' }),
  /** The detector client's own attempts and the waits between them (no jitter)... */
  detectorClient: Object.freeze({ attempts: 3, delaysMs: Object.freeze([1000, 2000]) }),
  /** ... inside services/retry_handler.py's RetryHandler: base 1 s · 2^(n-1), +0..25 % jitter, cap 30 s. */
  retryHandler: Object.freeze({ maxRetries: 3, baseMs: 1000, capMs: 30_000, jitterMax: 0.25 }),
  /** Up to attempts × maxRetries detector calls before the DLQ. */
  detectorCallsBeforeDlq: 9,
  /** FastAPI's error body. */
  errorBodyKey: 'detail',
  /** Fallback summary when the LLM fails. */
  fallbackSummary: 'Analysis unavailable - LLM service error',
  /** Redis pub/sub channel of created events (redis_event_channel). */
  eventChannel: 'security_events',
  /** WebSocket batching of /ws/events (websocket_batch_interval_ms / websocket_batch_max_size). */
  wsBatch: Object.freeze({ intervalMs: 100, maxSize: 50 }),
  /** LLM readiness probe. */
  llmProbePath: '/v1/completions',
  /** Rate limiting: a sliding 60 s window per client IP, `perMinute + burst` requests, then 429 with Retry-After. */
  rateLimit: Object.freeze({ perMinute: 60, burst: 10, windowSeconds: 60 }),
});

/** Environment names of the hsi-current backend's rate limit (the real settings' names). */
export const RATE_LIMIT_ENV = Object.freeze({
  enabled: 'RATE_LIMIT_ENABLED',
  perMinute: 'RATE_LIMIT_REQUESTS_PER_MINUTE',
  burst: 'RATE_LIMIT_BURST',
});

/** The real sampler's environment (core/sampling.py): OTEL_SAMPLING_<RULE>_RATE, capped by OTEL_TRACE_SAMPLE_RATE. */
export const HSI_SAMPLING_ENV = Object.freeze({
  cap: 'OTEL_TRACE_SAMPLE_RATE',
  error: 'OTEL_SAMPLING_ERROR_RATE',
  highRisk: 'OTEL_SAMPLING_HIGH_RISK_RATE',
  api: 'OTEL_SAMPLING_API_RATE',
  system: 'OTEL_SAMPLING_SYSTEM_RATE',
  health: 'OTEL_SAMPLING_HEALTH_RATE',
  default: 'OTEL_SAMPLING_DEFAULT_RATE',
});
