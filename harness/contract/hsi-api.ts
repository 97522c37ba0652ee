import { z } from 'zod';
import { RATE_LIMIT_ENV } from './profiles.ts';

/**
 * Routes, headers, environment names and the API answers that differ between the dialects
 * (HSI-CONTRACT.md "Read APIs" and its last section). Shapes accept both dialects; each
 * field says which one sends it.
 */

/** Backend routes the harness and the reference stack both use, as templates. */
export const HSI_ROUTES = Object.freeze({
  upload: '/api/cameras/{camera_id}/uploads',
  events: '/api/events',
  event: '/api/events/{event_id}',
  detections: '/api/detections',
  cameras: '/api/cameras',
  queueStatus: '/api/queues/status',
  dlqStats: '/api/dlq/stats',
  dlqJobs: '/api/dlq/jobs/{queue_name}',
  dlqRequeue: '/api/dlq/requeue/{queue_name}',
  dlqRequeueAll: '/api/dlq/requeue-all/{queue_name}',
  dlqClear: '/api/dlq/{queue_name}',
  systemHealth: '/api/system/health',
  healthReady: '/api/system/health/ready',
  systemGpu: '/api/system/gpu',
  circuitBreakers: '/api/system/circuit-breakers',
  wsEvents: '/ws/events',
  wsSystem: '/ws/system',
  /** Reference stack only: live settings for `run --external`. */
  adminSettings: '/admin/settings',
});

/** A route template with its `{name}` parameters filled (URL-encoded). */
export function routePath(template: string, params: Readonly<Record<string, string | number>> = {}): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`route ${template}: no value for {${name}}`);
    return encodeURIComponent(String(value));
  });
}

/** Redis pub/sub channel the real HSI publishes new events on (also relayed on `/ws/events`). */
export const HSI_EVENTS_CHANNEL = 'security_events';

/** Environment variable names of the HSI backend that the harness, the reference stack and the compose files set or read. */
export const HSI_ENV = Object.freeze({
  databaseUrl: 'DATABASE_URL',
  redisUrl: 'REDIS_URL',
  detectorUrl: 'YOLO26_URL',
  llmUrl: 'NEMOTRON_URL',
  otlpEndpoint: 'OTEL_EXPORTER_OTLP_ENDPOINT',
  serviceName: 'OTEL_SERVICE_NAME',
  otelEnabled: 'OTEL_ENABLED',
  sampleRate: 'OTEL_TRACE_SAMPLE_RATE',
  redisKeyPrefix: 'REDIS_KEY_PREFIX',
  redisCompressionEnabled: 'REDIS_COMPRESSION_ENABLED',
  redisCompressionThreshold: 'REDIS_COMPRESSION_THRESHOLD',
  queueMaxSize: 'QUEUE_MAX_SIZE',
  apiKeyEnabled: 'API_KEY_ENABLED',
  apiKeys: 'API_KEYS',
  rateLimitEnabled: RATE_LIMIT_ENV.enabled,
  rateLimitPerMinute: RATE_LIMIT_ENV.perMinute,
  rateLimitBurst: RATE_LIMIT_ENV.burst,
  fastPathConfidence: 'FAST_PATH_CONFIDENCE_THRESHOLD',
  batchWindow: 'BATCH_WINDOW_SECONDS',
  batchIdle: 'BATCH_IDLE_TIMEOUT_SECONDS',
  batchCheckInterval: 'BATCH_CHECK_INTERVAL_SECONDS',
  batchMaxDetections: 'BATCH_MAX_DETECTIONS',
  detectorMaxRetries: 'DETECTOR_MAX_RETRIES',
  llmMaxRetries: 'NEMOTRON_MAX_RETRIES',
  aiConnectTimeout: 'AI_CONNECT_TIMEOUT',
  detectorReadTimeout: 'YOLO26_READ_TIMEOUT',
  llmReadTimeout: 'NEMOTRON_READ_TIMEOUT',
  aiMaxConcurrent: 'AI_MAX_CONCURRENT_INFERENCES',
});

/** `GET /api/queues/status`, both dialects: reference names detection/analysis/dlq/dlq_analysis; hsi-current detection/ai_analysis/dlq with throughput and oldest_job. */
export const QueueStatusEntry = z
  .object({
    name: z.string(),
    depth: z.number().int().nonnegative(),
    running: z.number().int().nonnegative().optional(),
    workers: z.number().int().nonnegative().optional(),
    status: z.string().optional(),
    throughput: z.object({ jobs_per_minute: z.number().nonnegative(), avg_processing_seconds: z.number().nonnegative() }).optional(),
    oldest_job: z.object({ id: z.string().nullable().optional(), queued_at: z.string().nullable().optional(), wait_seconds: z.number().nonnegative() }).loose().nullable().optional(),
  })
  .loose();
export const QueueStatusResponse = z
  .object({
    queues: z.array(QueueStatusEntry),
    summary: z.object({ total_queued: z.number().optional(), total_running: z.number().optional(), total_workers: z.number().optional(), overall_status: z.string().optional() }).loose().optional(),
  })
  .loose();
export type QueueStatusResponse = z.infer<typeof QueueStatusResponse>;

/** Pagination block of the list APIs: offset (both) and cursor (hsi-current; `offset` null on a cursor page). */
export const PaginationMeta = z
  .object({
    total: z.number().int().nonnegative(),
    limit: z.number().int(),
    offset: z.number().int().nullable().optional(),
    has_more: z.boolean(),
    cursor: z.string().nullable().optional(),
    next_cursor: z.string().nullable().optional(),
  })
  .loose();
export type PaginationMeta = z.infer<typeof PaginationMeta>;

/** One page of a list API (`items` as loose records; validate items with the route's own schema). */
export const ListPage = z.object({ items: z.array(z.record(z.string(), z.unknown())), pagination: PaginationMeta, deprecation_warning: z.string().nullable().optional() }).loose();
export type ListPage = z.infer<typeof ListPage>;

/** hsi-current's `GET /api/system/gpu` (measured values, nulls without a GPU). */
export const GpuStatsHsiCurrent = z
  .object({
    utilization: z.number().nullable(),
    memory_used: z.number().nullable(),
    memory_total: z.number().nullable(),
    temperature: z.number().nullable(),
    power_usage: z.number().nullable(),
    inference_fps: z.number().nullable(),
  })
  .loose();

/** Error body of the real HSI (FastAPI) and its detector: `{"detail": ...}`. */
export const DetailError = z.object({ detail: z.unknown() }).loose();
