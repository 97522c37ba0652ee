import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import { z } from 'zod';
import { createRng, type Rng } from '../detector-emulator/emulation.ts';
import { HttpError, json, parseJsonBody, readBody, type JsonResponse, type Route, type RouteRequest } from './http.ts';
import { sleep } from './timing.ts';

/**
 * Per-request fault knobs of the emulators: the faults Toxiproxy cannot make, because it works
 * per connection at L4. It cannot fail 10 % of requests with a 503, or delay requests while the
 * connection stays healthy. Both emulators mount the same admin endpoint:
 *
 *   GET    /admin/faults   current settings and counters
 *   PUT    /admin/faults   {error_rate, status_code, delay_ms, delay_jitter_ms, routes?, seed?}
 *   DELETE /admin/faults   back to normal
 *
 * A faulted request is delayed first (delay_ms ± delay_jitter_ms, uniform). A seeded Bernoulli
 * draw (error_rate) then decides whether it is answered with status_code, before the emulated
 * inference runs. The request's SERVER span gets a `fault_injected` event per kind applied.
 * Health, admin and stats routes are never faulted: only the service's contract routes can be
 * listed in `routes`.
 */

export const ADMIN_FAULTS_PATH = '/admin/faults';
export const FAULT_EVENT = 'fault_injected';
/** Upper bound of delay_ms and delay_jitter_ms: 10 minutes. */
export const MAX_FAULT_DELAY_MS = 600_000;

export interface FaultSettings {
  /** Probability that a request on a faulted route is answered with statusCode (0..1). */
  errorRate: number;
  /** 4xx or 5xx. */
  statusCode: number;
  delayMs: number;
  /** The delay is drawn uniformly from delayMs ± delayJitterMs, never below 0. */
  delayJitterMs: number;
  /** Route templates the faults apply to. */
  routes: readonly string[];
  /** Seed of the delay and error draws; random (and reported) when not given. */
  seed: string;
}

/** The wire form of the settings (GET/PUT /admin/faults, EMULATOR_FAULTS). */
export interface FaultSettingsJson {
  error_rate: number;
  status_code: number;
  delay_ms: number;
  delay_jitter_ms: number;
  routes: string[];
  seed: string;
}

/** Invalid fault settings; `field` names the offending field (e.g. `error_rate`, `routes[1]`). */
export class FaultSettingsError extends Error {
  override name = 'FaultSettingsError';
  readonly field: string;
  readonly detail: string;
  constructor(field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.field = field;
    this.detail = detail;
  }
}

const delay = () =>
  z
    .number({ error: 'must be a number of milliseconds' })
    .min(0, 'must be at least 0 ms')
    .max(MAX_FAULT_DELAY_MS, `must be at most ${MAX_FAULT_DELAY_MS} ms`);

const FaultSettingsSchema = z.strictObject({
  error_rate: z
    .number({ error: 'must be a number between 0 and 1' })
    .min(0, 'must be between 0 and 1')
    .max(1, 'must be between 0 and 1')
    .default(0),
  status_code: z
    .number({ error: 'must be an HTTP status code (400-599)' })
    .int('must be an integer')
    .min(400, 'must be a 4xx or 5xx status (400-599)')
    .max(599, 'must be a 4xx or 5xx status (400-599)')
    .default(503),
  delay_ms: delay().default(0),
  delay_jitter_ms: delay().default(0),
  routes: z.array(z.string({ error: 'must be a route path string' }), { error: 'must be an array of route paths' }).min(1, 'must list at least one route').optional(),
  seed: z
    .union([z.string().min(1).max(200), z.number().finite()], { error: 'must be a non-empty string (at most 200 characters) or a number' })
    .optional(),
});

function fieldOf(path: readonly PropertyKey[]): string {
  let field = '';
  for (const part of path) field += typeof part === 'number' ? `[${part}]` : `${field === '' ? '' : '.'}${String(part)}`;
  return field === '' ? 'body' : field;
}

/**
 * Validates settings from the admin endpoint or EMULATOR_FAULTS. `faultableRoutes` are the
 * service's contract routes (the default of `routes`, and the only values it may hold).
 */
export function parseFaultSettings(input: unknown, faultableRoutes: readonly string[], randomSeed: () => string = () => randomBytes(8).toString('hex')): FaultSettings {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new FaultSettingsError('body', 'must be a JSON object {error_rate, status_code, delay_ms, delay_jitter_ms, routes?, seed?}');
  }
  const parsed = FaultSettingsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue === undefined) throw new FaultSettingsError('body', 'invalid fault settings');
    if (issue.code === 'unrecognized_keys') {
      throw new FaultSettingsError(issue.keys.join(', '), `unknown field; known: ${Object.keys(FaultSettingsSchema.shape).join(', ')}`);
    }
    throw new FaultSettingsError(fieldOf(issue.path), issue.message);
  }
  const s = parsed.data;
  const routes = s.routes ?? [...faultableRoutes];
  routes.forEach((route, i) => {
    if (!faultableRoutes.includes(route)) {
      throw new FaultSettingsError(`routes[${i}]`, `${JSON.stringify(route)} cannot be faulted; use one of ${faultableRoutes.join(', ')} (health, admin and stats routes are never faulted)`);
    }
  });
  return {
    errorRate: s.error_rate,
    statusCode: s.status_code,
    delayMs: s.delay_ms,
    delayJitterMs: s.delay_jitter_ms,
    routes: [...new Set(routes)],
    seed: s.seed === undefined ? randomSeed() : String(s.seed),
  };
}

/**
 * EMULATOR_FAULTS (JSON) read at start; undefined when unset or empty. Errors name the
 * variable and the field, e.g. `EMULATOR_FAULTS.error_rate: ...`.
 */
export function parseFaultSettingsEnv(raw: string | undefined, faultableRoutes: readonly string[], variable = 'EMULATOR_FAULTS'): FaultSettings | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new FaultSettingsError(variable, 'not valid JSON');
  }
  try {
    return parseFaultSettings(value, faultableRoutes);
  } catch (error) {
    if (error instanceof FaultSettingsError) {
      const field = error.field === 'body' ? variable : `${variable}.${error.field}`;
      throw new FaultSettingsError(field, error.detail);
    }
    throw error;
  }
}

export function faultSettingsJson(s: FaultSettings): FaultSettingsJson {
  return {
    error_rate: s.errorRate,
    status_code: s.statusCode,
    delay_ms: s.delayMs,
    delay_jitter_ms: s.delayJitterMs,
    routes: [...s.routes],
    seed: s.seed,
  };
}

/** What happens to one request. */
export interface FaultDecision {
  delayMs: number;
  error: boolean;
  statusCode: number;
}

export interface FaultCounters {
  /** Requests on a faulted route while settings were active. */
  considered: number;
  delayed: number;
  errors: number;
  totalDelayMs: number;
}

/** Builds the error body of the real service for an injected status (llama.cpp's, FastAPI's...). */
export type FaultErrorBody = (status: number, message: string) => unknown;

export type RouteHandler = Route['handler'];

export interface FaultInjectorOptions {
  /** The contract routes of the service (templates): the default and the only allowed `routes`. */
  faultableRoutes: readonly string[];
  errorBody: FaultErrorBody;
  /** Settings active from the start (EMULATOR_FAULTS). */
  initial?: FaultSettings | undefined;
  /** Called after every change (for a log line). */
  onChange?: (settings: FaultSettings | undefined) => void;
}

interface ActiveFaults {
  settings: FaultSettings;
  delayRng: Rng;
  errorRng: Rng;
}

/** Reads and drops the rest of a request body, so that the connection stays usable. */
function discardBody(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      req.off('end', done);
      req.off('error', done);
      req.off('close', done);
      resolve();
    };
    req.on('end', done);
    req.on('error', done);
    req.on('close', done);
    req.resume();
  });
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

export class FaultInjector {
  readonly faultableRoutes: readonly string[];
  readonly counters: FaultCounters = { considered: 0, delayed: 0, errors: 0, totalDelayMs: 0 };
  private active: ActiveFaults | undefined;
  private readonly errorBody: FaultErrorBody;
  private readonly onChange: ((settings: FaultSettings | undefined) => void) | undefined;

  constructor(options: FaultInjectorOptions) {
    this.faultableRoutes = [...options.faultableRoutes];
    this.errorBody = options.errorBody;
    this.onChange = options.onChange;
    if (options.initial !== undefined) this.activate(options.initial);
  }

  get settings(): FaultSettings | undefined {
    return this.active?.settings;
  }

  private activate(settings: FaultSettings): void {
    // Two streams, so that the error sequence does not depend on whether jitter is drawn.
    this.active = { settings, delayRng: createRng(`${settings.seed}:delay`), errorRng: createRng(`${settings.seed}:error`) };
  }

  /** Replaces the settings (the draws restart from the seed). */
  set(settings: FaultSettings): void {
    this.activate(settings);
    this.onChange?.(settings);
  }

  clear(): void {
    this.active = undefined;
    this.onChange?.(undefined);
  }

  /**
   * Draws the fault of the next request on `route`; undefined when the route is not faulted.
   * Draws happen in request arrival order, so a seed reproduces the same sequence.
   */
  decide(route: string): FaultDecision | undefined {
    const active = this.active;
    if (active === undefined || !active.settings.routes.includes(route)) return undefined;
    const s = active.settings;
    let delayMs = s.delayMs;
    if (s.delayJitterMs > 0) delayMs += (2 * active.delayRng() - 1) * s.delayJitterMs;
    delayMs = Math.max(0, round1(delayMs));
    const error = s.errorRate > 0 && active.errorRng() < s.errorRate;
    return { delayMs, error, statusCode: s.statusCode };
  }

  /** Wraps a contract route's handler: delay, then maybe an error answer instead of the handler. */
  wrap(template: string, handler: RouteHandler): RouteHandler {
    if (!this.faultableRoutes.includes(template)) throw new Error(`${template} is not a faultable route of this service`);
    return async (request: RouteRequest): Promise<JsonResponse> => {
      const decision = this.decide(template);
      if (decision === undefined) return handler(request);
      this.counters.considered++;
      const { span } = request;
      if (decision.delayMs > 0) {
        this.counters.delayed++;
        this.counters.totalDelayMs += decision.delayMs;
        span.addEvent(FAULT_EVENT, { 'fault.kind': 'delay', 'fault.delay_ms': decision.delayMs });
        span.setAttributes({ 'fault.injected': true, 'fault.delay_ms': decision.delayMs });
        await sleep(decision.delayMs);
      }
      if (!decision.error) return handler(request);
      this.counters.errors++;
      markInjectedError(span, decision);
      // The real service reads the request before it fails; so does the emulator.
      await discardBody(request.req);
      const message = `emulated fault: injected HTTP ${decision.statusCode}`;
      return json(decision.statusCode, this.errorBody(decision.statusCode, message), { 'x-emulated': 'true', 'x-fault-injected': 'error' });
    };
  }

  /** GET/PUT/DELETE /admin/faults. */
  adminRoutes(): Route[] {
    const pattern = /^\/admin\/faults\/?$/;
    return [
      { method: 'GET', pattern, template: ADMIN_FAULTS_PATH, handler: async () => json(200, this.state()) },
      {
        method: 'PUT',
        pattern,
        template: ADMIN_FAULTS_PATH,
        handler: async ({ req }) => {
          const body = await readBody(req, 64 * 1024);
          const value = parseJsonBody(body, () => new HttpError(400, 'invalid_fault_settings', 'body: not valid JSON', { field: 'body' }));
          try {
            this.set(parseFaultSettings(value, this.faultableRoutes));
          } catch (error) {
            if (error instanceof FaultSettingsError) throw new HttpError(400, 'invalid_fault_settings', error.message, { field: error.field });
            throw error;
          }
          return json(200, this.state());
        },
      },
      {
        method: 'DELETE',
        pattern,
        template: ADMIN_FAULTS_PATH,
        handler: async () => {
          this.clear();
          return json(200, this.state());
        },
      },
    ];
  }

  /** The admin endpoint's answer; also embedded in /emulator/stats. */
  state(): { active: boolean; settings: FaultSettingsJson | null; faultable_routes: string[]; counters: Record<string, number> } {
    const settings = this.active?.settings;
    return {
      active: settings !== undefined,
      settings: settings === undefined ? null : faultSettingsJson(settings),
      faultable_routes: [...this.faultableRoutes],
      counters: {
        considered: this.counters.considered,
        delayed: this.counters.delayed,
        errors_injected: this.counters.errors,
        total_delay_ms: round1(this.counters.totalDelayMs),
      },
    };
  }
}

function markInjectedError(span: Span, decision: FaultDecision): void {
  span.addEvent(FAULT_EVENT, { 'fault.kind': 'error', 'fault.status_code': decision.statusCode, 'fault.delay_ms': decision.delayMs });
  span.setAttributes({ 'fault.injected': true, 'fault.status_code': decision.statusCode, [ATTR_ERROR_TYPE]: 'fault_injected' });
  span.setStatus({ code: SpanStatusCode.ERROR, message: `fault injected: HTTP ${decision.statusCode}` });
}
