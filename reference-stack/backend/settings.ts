import { z } from 'zod';
import { DEFAULT_STACK_PROFILE, HSI_CURRENT, RATE_LIMIT_ENV, STACK_PROFILE_ENV, STACK_PROFILES, type StackProfile } from '../../harness/contract/profiles.ts';

/**
 * Backend settings from the environment, names and defaults as in HSI's backend settings
 * (durations in seconds). Invalid values fail start-up with a message naming the variable.
 */

export interface CircuitBreakerSettings {
  /** Consecutive counted failures that open the breaker (HSI: 5). */
  failureThreshold: number;
  /** Time the breaker stays open before it lets trial calls through (HSI: 60 s). */
  recoveryMs: number;
  /** Calls admitted while half-open (HSI: 3). */
  halfOpenMaxCalls: number;
  /** Successes while half-open that close the breaker again (HSI: 2). */
  successThreshold: number;
}

export interface BatchSettings {
  /** A batch closes this long after it opened (BATCH_WINDOW_SECONDS, 90 s). */
  windowMs: number;
  /** ... or this long after its last detection (BATCH_IDLE_TIMEOUT_SECONDS, 30 s). */
  idleMs: number;
  /** ... or when it holds this many detections (BATCH_MAX_DETECTIONS, 500; reason max_size). */
  maxDetections: number;
  /** How often the closer looks for due batches (BATCH_CHECK_INTERVAL_SECONDS, 1 s). */
  checkIntervalMs: number;
}

export interface FileWatcherSettings {
  /** CAMERA_DROP_DIR; undefined: no drop-folder ingestion. */
  dropDir: string | undefined;
  pollMs: number;
  debounceMs: number;
  stableMs: number;
  dedupSeconds: number;
}

export interface RateLimitSettings {
  /** RATE_LIMIT_ENABLED (hsi-current: true; reference: no rate limit at all). */
  enabled: boolean;
  /** RATE_LIMIT_REQUESTS_PER_MINUTE (60) ... */
  perMinute: number;
  /** ... plus RATE_LIMIT_BURST (10) requests in a sliding 60 s window per client IP, then 429. */
  burst: number;
}

export interface BackendSettings {
  /** HSI_PROFILE: `reference` (default) or `hsi-current` (the real HSI's current behaviour). */
  profile: StackProfile;
  /** Profile hsi-current only. */
  rateLimit: RateLimitSettings;
  /** FAST_PATH_CONFIDENCE_THRESHOLD (hsi-current: a `person` at or above it skips batching). */
  fastPathConfidence: number;
  port: number;
  host: string;
  /** postgres:// URL (postgresql+asyncpg:// as in HSI is accepted and normalized). */
  databaseUrl: string;
  redisUrl: string;
  /** Detector base URL without trailing slash. */
  yolo26Url: string;
  /** LLM (llama.cpp server) base URL without trailing slash. */
  nemotronUrl: string;
  uploadDir: string;
  aiConnectTimeoutMs: number;
  yolo26ReadTimeoutMs: number;
  nemotronReadTimeoutMs: number;
  /** Attempts in total, as HSI's DETECTOR_MAX_RETRIES (default 3 = 1 call + 2 retries). */
  detectorMaxRetries: number;
  /** LLM attempts in total (NEMOTRON_MAX_RETRIES, default 3). */
  nemotronMaxRetries: number;
  /** Concurrent AI calls (detector and LLM together) per process. */
  aiMaxConcurrentInferences: number;
  detectorCircuitBreaker: CircuitBreakerSettings;
  batch: BatchSettings;
  fileWatcher: FileWatcherSettings;
  detectionWorkers: number;
  analysisWorkers: number;
  startupTimeoutMs: number;
  shutdownTimeoutMs: number;
  maxUploadBytes: number;
  dbPoolSize: number;
  dbQueryTimeoutMs: number;
  redisCommandTimeoutMs: number;
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** Empty strings count as unset. */
const unsetIfEmpty = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);

function seconds(defaultValue: number) {
  return z.preprocess(unsetIfEmpty, z.coerce.number({ error: 'expected a number of seconds' }).positive('expected a positive number of seconds').default(defaultValue));
}

function integer(defaultValue: number, min: number, max: number) {
  return z.preprocess(
    unsetIfEmpty,
    z.coerce.number({ error: 'expected an integer' }).int('expected an integer').min(min, `expected at least ${min}`).max(max, `expected at most ${max}`).default(defaultValue),
  );
}

function url(protocols: readonly string[], example: string, defaultValue?: string) {
  const base = z.string({ error: `is required (e.g. ${example})` }).refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `expected a URL like ${example}`);
  return z.preprocess(unsetIfEmpty, defaultValue === undefined ? base : base.default(defaultValue));
}

const flag = (defaultValue: boolean) =>
  z.preprocess(
    unsetIfEmpty,
    z
      .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'], { error: 'expected true or false' })
      .default(defaultValue ? 'true' : 'false')
      .transform((v) => ['1', 'true', 'yes', 'on'].includes(v)),
  );

export const settingsSchema = z.object({
  [STACK_PROFILE_ENV]: z.preprocess(unsetIfEmpty, z.enum(STACK_PROFILES, { error: `expected one of ${STACK_PROFILES.join(', ')}` }).default(DEFAULT_STACK_PROFILE)),
  [RATE_LIMIT_ENV.enabled]: flag(true),
  [RATE_LIMIT_ENV.perMinute]: integer(HSI_CURRENT.rateLimit.perMinute, 1, 1_000_000),
  [RATE_LIMIT_ENV.burst]: integer(HSI_CURRENT.rateLimit.burst, 0, 1_000_000),
  FAST_PATH_CONFIDENCE_THRESHOLD: z.preprocess(unsetIfEmpty, z.coerce.number({ error: 'expected a number between 0 and 1' }).min(0).max(1).default(HSI_CURRENT.fastPath.confidence)),
  PORT: integer(8000, 1, 65535),
  HOST: z.preprocess(unsetIfEmpty, z.string().default('0.0.0.0')),
  DATABASE_URL: url(['postgres:', 'postgresql:', 'postgresql+asyncpg:'], 'postgres://user:pass@host:5432/db'),
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://:pass@host:6379/0'),
  YOLO26_URL: url(['http:', 'https:'], 'http://ai-yolo26:8095'),
  // The contract's LLM service (llama.cpp server) and port.
  NEMOTRON_URL: url(['http:', 'https:'], 'http://ai-llm:8091', 'http://ai-llm:8091'),
  UPLOAD_DIR: z.preprocess(unsetIfEmpty, z.string().default('/data/uploads')),
  AI_CONNECT_TIMEOUT: seconds(10),
  YOLO26_READ_TIMEOUT: seconds(30),
  NEMOTRON_READ_TIMEOUT: seconds(120),
  DETECTOR_MAX_RETRIES: integer(3, 1, 10),
  NEMOTRON_MAX_RETRIES: integer(3, 1, 10),
  AI_MAX_CONCURRENT_INFERENCES: integer(4, 1, 256),
  DETECTOR_CB_FAILURE_THRESHOLD: integer(5, 1, 1000),
  DETECTOR_CB_RECOVERY_SECONDS: seconds(60),
  DETECTOR_CB_HALF_OPEN_MAX_CALLS: integer(3, 1, 1000),
  DETECTOR_CB_SUCCESS_THRESHOLD: integer(2, 1, 1000),
  BATCH_WINDOW_SECONDS: seconds(90),
  BATCH_IDLE_TIMEOUT_SECONDS: seconds(30),
  BATCH_MAX_DETECTIONS: integer(500, 1, 100_000),
  BATCH_CHECK_INTERVAL_SECONDS: seconds(1),
  DETECTION_WORKERS: integer(2, 1, 64),
  ANALYSIS_WORKERS: integer(1, 1, 64),
  CAMERA_DROP_DIR: z.preprocess(unsetIfEmpty, z.string().optional()),
  FILE_WATCHER_POLL_MS: integer(250, 10, 60_000),
  FILE_WATCHER_DEBOUNCE_SECONDS: seconds(0.5),
  FILE_WATCHER_STABLE_SECONDS: seconds(2),
  FILE_WATCHER_DEDUP_SECONDS: integer(300, 1, 7 * 24 * 3600),
  STARTUP_TIMEOUT_SECONDS: seconds(60),
  SHUTDOWN_TIMEOUT_SECONDS: seconds(5),
  MAX_UPLOAD_BYTES: integer(20 * 1024 * 1024, 10 * 1024, 512 * 1024 * 1024),
  DB_POOL_SIZE: integer(10, 1, 200),
  DB_QUERY_TIMEOUT: seconds(10),
  REDIS_COMMAND_TIMEOUT: seconds(5),
});

const ms = (s: number): number => Math.round(s * 1000);

export function loadSettings(env: NodeJS.ProcessEnv = process.env): BackendSettings {
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    // Values are not echoed: URLs carry passwords.
    const problems = parsed.error.issues.map((issue) => `${String(issue.path[0] ?? '?')}: ${issue.message}`);
    throw new SettingsError(`invalid environment: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.DETECTOR_CB_SUCCESS_THRESHOLD > e.DETECTOR_CB_HALF_OPEN_MAX_CALLS) {
    problems.push('DETECTOR_CB_SUCCESS_THRESHOLD: must not exceed DETECTOR_CB_HALF_OPEN_MAX_CALLS (the breaker could never close)');
  }
  if (e.CAMERA_DROP_DIR !== undefined && !e.CAMERA_DROP_DIR.startsWith('/')) {
    problems.push('CAMERA_DROP_DIR: expected an absolute path');
  }
  if (problems.length > 0) throw new SettingsError(`invalid environment: ${problems.join('; ')}`);
  return {
    profile: e[STACK_PROFILE_ENV],
    rateLimit: { enabled: e[RATE_LIMIT_ENV.enabled], perMinute: e[RATE_LIMIT_ENV.perMinute], burst: e[RATE_LIMIT_ENV.burst] },
    fastPathConfidence: e.FAST_PATH_CONFIDENCE_THRESHOLD,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL.replace(/^postgresql\+asyncpg:/, 'postgresql:'),
    redisUrl: e.REDIS_URL,
    yolo26Url: e.YOLO26_URL.replace(/\/+$/, ''),
    nemotronUrl: e.NEMOTRON_URL.replace(/\/+$/, ''),
    uploadDir: e.UPLOAD_DIR,
    aiConnectTimeoutMs: ms(e.AI_CONNECT_TIMEOUT),
    yolo26ReadTimeoutMs: ms(e.YOLO26_READ_TIMEOUT),
    nemotronReadTimeoutMs: ms(e.NEMOTRON_READ_TIMEOUT),
    detectorMaxRetries: e.DETECTOR_MAX_RETRIES,
    nemotronMaxRetries: e.NEMOTRON_MAX_RETRIES,
    aiMaxConcurrentInferences: e.AI_MAX_CONCURRENT_INFERENCES,
    detectorCircuitBreaker: {
      failureThreshold: e.DETECTOR_CB_FAILURE_THRESHOLD,
      recoveryMs: ms(e.DETECTOR_CB_RECOVERY_SECONDS),
      halfOpenMaxCalls: e.DETECTOR_CB_HALF_OPEN_MAX_CALLS,
      successThreshold: e.DETECTOR_CB_SUCCESS_THRESHOLD,
    },
    batch: {
      windowMs: ms(e.BATCH_WINDOW_SECONDS),
      idleMs: ms(e.BATCH_IDLE_TIMEOUT_SECONDS),
      maxDetections: e.BATCH_MAX_DETECTIONS,
      checkIntervalMs: ms(e.BATCH_CHECK_INTERVAL_SECONDS),
    },
    fileWatcher: {
      dropDir: e.CAMERA_DROP_DIR?.replace(/\/+$/, '') || (e.CAMERA_DROP_DIR === undefined ? undefined : '/'),
      pollMs: e.FILE_WATCHER_POLL_MS,
      debounceMs: ms(e.FILE_WATCHER_DEBOUNCE_SECONDS),
      stableMs: ms(e.FILE_WATCHER_STABLE_SECONDS),
      dedupSeconds: e.FILE_WATCHER_DEDUP_SECONDS,
    },
    detectionWorkers: e.DETECTION_WORKERS,
    analysisWorkers: e.ANALYSIS_WORKERS,
    startupTimeoutMs: ms(e.STARTUP_TIMEOUT_SECONDS),
    shutdownTimeoutMs: ms(e.SHUTDOWN_TIMEOUT_SECONDS),
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    dbPoolSize: e.DB_POOL_SIZE,
    dbQueryTimeoutMs: ms(e.DB_QUERY_TIMEOUT),
    redisCommandTimeoutMs: ms(e.REDIS_COMMAND_TIMEOUT),
  };
}
