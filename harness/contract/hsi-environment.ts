import { HSI_ENV } from './hsi-api.ts';

/**
 * Environment variable names through which an HSI backend finds its dependencies (the shared
 * names from HSI_ENV, hsi-api.ts, plus the real project's extra ones), for both dialects: the reference stack's (reference-stack/backend/settings.ts) and the real project's
 * (its docker-compose.prod.yml and .env.example). A compose stack is rewired through Toxiproxy
 * and Jaeger by these names (harness/stack/compose/).
 */

/** A dependency the backend reaches by URL, and the chaos target (Toxiproxy proxy) that carries it. */
export type HsiDependency = 'postgres' | 'redis' | 'detector' | 'llm';

export interface HsiUrlVariable {
  name: string;
  dependency: HsiDependency;
  /** Port when the URL names none. */
  defaultPort: number;
  /** Which dialects use the name. */
  dialects: readonly ('reference' | 'hsi-current')[];
}

const BOTH = ['reference', 'hsi-current'] as const;

/** URL variables rewired to a Toxiproxy proxy. */
export const HSI_URL_VARIABLES: readonly HsiUrlVariable[] = Object.freeze([
  // postgresql+asyncpg://user:pass@postgres:5432/security (the real one), postgres://… (reference).
  { name: HSI_ENV.databaseUrl, dependency: 'postgres', defaultPort: 5432, dialects: BOTH },
  { name: HSI_ENV.redisUrl, dependency: 'redis', defaultPort: 6379, dialects: BOTH },
  { name: HSI_ENV.detectorUrl, dependency: 'detector', defaultPort: 8095, dialects: BOTH },
  // The real project's detector before YOLO26 (RT-DETRv2 on 8090).
  { name: 'RTDETR_URL', dependency: 'detector', defaultPort: 8090, dialects: ['hsi-current'] },
  { name: HSI_ENV.llmUrl, dependency: 'llm', defaultPort: 8091, dialects: BOTH },
]);

/** The real project keeps Redis's password apart from REDIS_URL. */
export const HSI_REDIS_PASSWORD_VARIABLE = 'REDIS_PASSWORD';

/** OTLP exporter endpoints, pointed at the harness's Jaeger. */
export const HSI_OTLP_VARIABLES: readonly string[] = Object.freeze([HSI_ENV.otlpEndpoint, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);

/** The real backend exports spans only with OTEL_ENABLED=true (its default is false). */
export const HSI_OTEL_ENABLED_VARIABLE = HSI_ENV.otelEnabled;

/** The OTel SDK's batch delay (the contract: 2000 ms; tests shorten it). */
export const OTEL_BATCH_DELAY_VARIABLE = 'OTEL_BSP_SCHEDULE_DELAY';

/** Enrichment services of the real project: not chaos targets, left as they are (named in the log). */
export const HSI_ENRICHMENT_URL_VARIABLES: readonly string[] = Object.freeze(['FLORENCE_URL', 'CLIP_URL', 'ENRICHMENT_URL', 'ENRICHMENT_LIGHT_URL']);

/** Ports the services listen on inside the stack (HSI-CONTRACT.md "Services and ports"). */
export const HSI_SERVICE_PORTS = Object.freeze({ backend: 8000, postgres: 5432, redis: 6379, detector: 8095, llm: 8091 });

/** The backend's readiness route (compose wait strategy). */
export const HSI_READY_PATH = '/api/system/health/ready';
