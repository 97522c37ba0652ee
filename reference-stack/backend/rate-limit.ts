import { HSI_ROUTES } from '../../harness/contract/hsi-api.ts';
import { HSI_CURRENT } from '../../harness/contract/profiles.ts';
import { json, type JsonResponse, type Route, type RouteRequest } from '../common/http.ts';
import type { RateLimitSettings } from './settings.ts';

/**
 * The real HSI's rate limit (api/middleware/rate_limit.py), profile hsi-current: a sliding 60 s
 * window per client IP that admits `perMinute + burst` requests (60 + 10) and answers the next
 * ones 429 with `Retry-After: 60` and FastAPI's `{"detail": {error, message, retry_after_seconds,
 * tier}}`. The real one keeps the window in a Redis sorted set (and fails open when Redis
 * fails); this one keeps it in the process (one backend process per stack).
 *
 * Routes: the real project attaches the limiter per route (a FastAPI dependency). Here every
 * `/api/...` route is limited except the health probes (`/api/system/health*`, the harness's
 * start-up wait) and the upload front door, which is not an HSI route (the real stack ingests
 * by FTP); `/admin/*` and `/ws/*` are not HSI API routes either.
 */

export interface RateDecision {
  allowed: boolean;
  /** Requests already in the window before this one. */
  count: number;
  limit: number;
}

export class SlidingWindowLimiter {
  private readonly windows = new Map<string, number[]>();
  readonly limit: number;
  readonly windowMs: number;
  rejected = 0;

  constructor(settings: Pick<RateLimitSettings, 'perMinute' | 'burst'>, windowSeconds: number = HSI_CURRENT.rateLimit.windowSeconds) {
    this.limit = settings.perMinute + settings.burst;
    this.windowMs = windowSeconds * 1000;
  }

  /** Counts the request (as the real one does, rejected ones too) and decides. */
  check(client: string, nowMs: number = Date.now()): RateDecision {
    const since = nowMs - this.windowMs;
    const times = (this.windows.get(client) ?? []).filter((t) => t > since);
    const count = times.length;
    times.push(nowMs);
    this.windows.set(client, times);
    const allowed = count < this.limit;
    if (!allowed) this.rejected++;
    return { allowed, count, limit: this.limit };
  }
}

/** Routes the limiter does not apply to (see above). */
export function isRateLimitExempt(template: string): boolean {
  return !template.startsWith('/api/') || template.startsWith(HSI_ROUTES.systemHealth) || template === HSI_ROUTES.upload;
}

/** The server gate: undefined lets the request through, else the 429 answer. */
export function rateLimitGate(limiter: SlidingWindowLimiter): (request: RouteRequest, route: Route) => JsonResponse | undefined {
  return ({ req, span }, route) => {
    if (isRateLimitExempt(route.template)) return undefined;
    const decision = limiter.check(req.socket.remoteAddress ?? 'unknown');
    if (decision.allowed) return undefined;
    const retryAfter = limiter.windowMs / 1000;
    span.addEvent('rate_limited', { 'rate_limit.count': decision.count, 'rate_limit.limit': decision.limit });
    return json(
      429,
      {
        detail: {
          error: 'Too many requests',
          message: `Rate limit exceeded. Maximum ${decision.limit} requests per minute.`,
          retry_after_seconds: retryAfter,
          tier: 'default',
        },
      },
      {
        'retry-after': String(retryAfter),
        'x-ratelimit-limit': String(decision.limit),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + retryAfter),
      },
    );
  };
}
