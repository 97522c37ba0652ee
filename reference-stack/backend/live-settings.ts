import { z } from 'zod';
import { HttpError, json, parseJsonBody, readBody, type Route } from '../common/http.ts';
import { settingsSchema, type BackendSettings } from './settings.ts';

/**
 * Settings the running backend can change without a restart, by their environment names
 * (POST /admin/settings). The breaker, the retry loops and the batch closer read these
 * fields of the one settings object on every call, so writing them there takes effect at
 * the next call; everything else (workers, pools, HTTP agents' timeouts, URLs) is read
 * once at start and is answered as not applied. Used by the harness to give an external
 * reference stack a scenario's `stack.backend` settings and to put the old ones back.
 */

export const ADMIN_SETTINGS_PATH = '/admin/settings';

interface LiveField {
  read(s: BackendSettings): number;
  write(s: BackendSettings, value: number): void;
  /** 'seconds': the env value is in seconds, the field in ms. */
  unit: 'seconds' | 'count';
}

const count = (read: (s: BackendSettings) => number, write: (s: BackendSettings, v: number) => void): LiveField => ({ read, write, unit: 'count' });
const secs = (read: (s: BackendSettings) => number, write: (s: BackendSettings, v: number) => void): LiveField => ({ read, write, unit: 'seconds' });

export const LIVE_SETTINGS: Readonly<Record<string, LiveField>> = {
  DETECTOR_CB_FAILURE_THRESHOLD: count((s) => s.detectorCircuitBreaker.failureThreshold, (s, v) => (s.detectorCircuitBreaker.failureThreshold = v)),
  DETECTOR_CB_RECOVERY_SECONDS: secs((s) => s.detectorCircuitBreaker.recoveryMs, (s, v) => (s.detectorCircuitBreaker.recoveryMs = v)),
  DETECTOR_CB_HALF_OPEN_MAX_CALLS: count((s) => s.detectorCircuitBreaker.halfOpenMaxCalls, (s, v) => (s.detectorCircuitBreaker.halfOpenMaxCalls = v)),
  DETECTOR_CB_SUCCESS_THRESHOLD: count((s) => s.detectorCircuitBreaker.successThreshold, (s, v) => (s.detectorCircuitBreaker.successThreshold = v)),
  DETECTOR_MAX_RETRIES: count((s) => s.detectorMaxRetries, (s, v) => (s.detectorMaxRetries = v)),
  NEMOTRON_MAX_RETRIES: count((s) => s.nemotronMaxRetries, (s, v) => (s.nemotronMaxRetries = v)),
  BATCH_WINDOW_SECONDS: secs((s) => s.batch.windowMs, (s, v) => (s.batch.windowMs = v)),
  BATCH_IDLE_TIMEOUT_SECONDS: secs((s) => s.batch.idleMs, (s, v) => (s.batch.idleMs = v)),
  BATCH_MAX_DETECTIONS: count((s) => s.batch.maxDetections, (s, v) => (s.batch.maxDetections = v)),
  BATCH_CHECK_INTERVAL_SECONDS: secs((s) => s.batch.checkIntervalMs, (s, v) => (s.batch.checkIntervalMs = v)),
};

/** The request body: environment names to values (strings as in the environment, or numbers). */
export const LiveSettingsRequestSchema = z.record(z.string(), z.union([z.string(), z.number()]).transform(String));

export interface LiveSettingsAnswer {
  /** What is in effect now for each setting this request changed. */
  applied: Record<string, string>;
  /** The values they had before (POST these to undo the request). */
  previous: Record<string, string>;
  /** One entry per setting the running backend could not take. */
  not_applied: { name: string; reason: string }[];
}

export class LiveSettingsError extends Error {
  override name = 'LiveSettingsError';
}

/** The live settings' current values, as environment values. */
export function liveSettingsValues(settings: BackendSettings): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, field] of Object.entries(LIVE_SETTINGS)) out[name] = envValue(field, field.read(settings));
  return out;
}

function envValue(field: LiveField, value: number): string {
  return String(field.unit === 'seconds' ? value / 1000 : value);
}

/** Parses one value with the start-up rule of its variable (settings.ts); throws LiveSettingsError naming it. */
function parseValue(name: string, raw: string): number {
  const rule = (settingsSchema.shape as Record<string, z.ZodType>)[name];
  const parsed = rule?.safeParse(raw);
  if (!parsed?.success || typeof parsed.data !== 'number') throw new LiveSettingsError(`${name}: ${parsed?.error?.issues[0]?.message ?? 'invalid value'}`);
  return LIVE_SETTINGS[name]?.unit === 'seconds' ? Math.round(parsed.data * 1000) : parsed.data;
}

/**
 * Applies what can be applied, all or nothing for invalid values (LiveSettingsError, nothing
 * changed); names the settings read only at start and the unknown ones as not applied.
 */
export function applyLiveSettings(settings: BackendSettings, request: Record<string, string>): LiveSettingsAnswer {
  const answer: LiveSettingsAnswer = { applied: {}, previous: {}, not_applied: [] };
  const changes: [string, LiveField, number][] = [];
  for (const [name, raw] of Object.entries(request)) {
    const field = LIVE_SETTINGS[name];
    if (field) changes.push([name, field, parseValue(name, raw)]);
    else if (name in settingsSchema.shape) answer.not_applied.push({ name, reason: 'read only at start (restart the backend with it)' });
    else answer.not_applied.push({ name, reason: 'not a backend setting' });
  }
  const after = (name: string): number => changes.find(([n]) => n === name)?.[2] ?? LIVE_SETTINGS[name]?.read(settings) ?? 0;
  if (after('DETECTOR_CB_SUCCESS_THRESHOLD') > after('DETECTOR_CB_HALF_OPEN_MAX_CALLS')) {
    throw new LiveSettingsError('DETECTOR_CB_SUCCESS_THRESHOLD: must not exceed DETECTOR_CB_HALF_OPEN_MAX_CALLS (the breaker could never close)');
  }
  for (const [name, field, value] of changes) {
    answer.previous[name] = envValue(field, field.read(settings));
    field.write(settings, value);
    answer.applied[name] = envValue(field, value);
  }
  return answer;
}

/** GET /admin/settings (the live settings now) and POST /admin/settings (apply some). */
export function liveSettingsRoutes(settings: BackendSettings, onApplied: (answer: LiveSettingsAnswer) => void): Route[] {
  const pattern = /^\/admin\/settings\/?$/;
  return [
    { method: 'GET', pattern, template: ADMIN_SETTINGS_PATH, handler: async () => json(200, { live: liveSettingsValues(settings) }) },
    {
      method: 'POST',
      pattern,
      template: ADMIN_SETTINGS_PATH,
      handler: async ({ req }) => {
        const body = await readBody(req, 64 * 1024);
        const value = parseJsonBody(body, () => new HttpError(400, 'invalid_settings', 'body: not valid JSON', { field: 'body' }));
        const request = LiveSettingsRequestSchema.safeParse(value);
        if (!request.success) throw new HttpError(400, 'invalid_settings', 'body: expected an object of setting names to values, e.g. {"DETECTOR_CB_RECOVERY_SECONDS": "5"}', { field: 'body' });
        try {
          const answer = applyLiveSettings(settings, request.data);
          onApplied(answer);
          return json(200, answer);
        } catch (error) {
          if (error instanceof LiveSettingsError) throw new HttpError(400, 'invalid_settings', error.message, { field: error.message.split(':')[0] });
          throw error;
        }
      },
    },
  ];
}
