import { z } from 'zod';

/**
 * Backend settings from the environment, names and defaults as in HSI's backend settings
 * (durations in seconds). Invalid values fail start-up with a message naming the variable.
 */

export interface BackendSettings {
  port: number;
  host: string;
  /** postgres:// URL (postgresql+asyncpg:// as in HSI is accepted and normalized). */
  databaseUrl: string;
  redisUrl: string;
  /** Detector base URL without trailing slash. */
  yolo26Url: string;
  uploadDir: string;
  aiConnectTimeoutMs: number;
  yolo26ReadTimeoutMs: number;
  /** Attempts in total, as HSI's DETECTOR_MAX_RETRIES (default 3 = 1 call + 2 retries). */
  detectorMaxRetries: number;
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

function url(protocols: readonly string[], example: string) {
  return z.preprocess(
    unsetIfEmpty,
    z
      .string({ error: `is required (e.g. ${example})` })
      .refine((value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      }, `expected a URL like ${example}`),
  );
}

const schema = z.object({
  PORT: integer(8000, 1, 65535),
  HOST: z.preprocess(unsetIfEmpty, z.string().default('0.0.0.0')),
  DATABASE_URL: url(['postgres:', 'postgresql:', 'postgresql+asyncpg:'], 'postgres://user:pass@host:5432/db'),
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://:pass@host:6379/0'),
  YOLO26_URL: url(['http:', 'https:'], 'http://ai-yolo26:8095'),
  UPLOAD_DIR: z.preprocess(unsetIfEmpty, z.string().default('/data/uploads')),
  AI_CONNECT_TIMEOUT: seconds(10),
  YOLO26_READ_TIMEOUT: seconds(30),
  DETECTOR_MAX_RETRIES: integer(3, 1, 10),
  STARTUP_TIMEOUT_SECONDS: seconds(60),
  SHUTDOWN_TIMEOUT_SECONDS: seconds(5),
  MAX_UPLOAD_BYTES: integer(20 * 1024 * 1024, 10 * 1024, 512 * 1024 * 1024),
  DB_POOL_SIZE: integer(10, 1, 200),
  DB_QUERY_TIMEOUT: seconds(10),
  REDIS_COMMAND_TIMEOUT: seconds(5),
});

export function loadSettings(env: NodeJS.ProcessEnv = process.env): BackendSettings {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    // Values are not echoed: URLs carry passwords.
    const problems = parsed.error.issues.map((issue) => `${String(issue.path[0] ?? '?')}: ${issue.message}`);
    throw new SettingsError(`invalid environment: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL.replace(/^postgresql\+asyncpg:/, 'postgresql:'),
    redisUrl: e.REDIS_URL,
    yolo26Url: e.YOLO26_URL.replace(/\/+$/, ''),
    uploadDir: e.UPLOAD_DIR,
    aiConnectTimeoutMs: Math.round(e.AI_CONNECT_TIMEOUT * 1000),
    yolo26ReadTimeoutMs: Math.round(e.YOLO26_READ_TIMEOUT * 1000),
    detectorMaxRetries: e.DETECTOR_MAX_RETRIES,
    startupTimeoutMs: Math.round(e.STARTUP_TIMEOUT_SECONDS * 1000),
    shutdownTimeoutMs: Math.round(e.SHUTDOWN_TIMEOUT_SECONDS * 1000),
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    dbPoolSize: e.DB_POOL_SIZE,
    dbQueryTimeoutMs: Math.round(e.DB_QUERY_TIMEOUT * 1000),
    redisCommandTimeoutMs: Math.round(e.REDIS_COMMAND_TIMEOUT * 1000),
  };
}
