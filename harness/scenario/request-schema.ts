import { z } from 'zod';
import { parseDurationMs } from '../util/duration.ts';

/**
 * Requests beyond uploads, in k6's vocabulary: named request kinds (method + route template,
 * headers such as X-API-Key, per-request tags, checks, custom metrics), path parameters from
 * setup() data, think time, and WebSocket subscribers. A k6 scenario of the workload picks
 * kinds by weight (`requests: { list_events: 3, get_event: 1 }`) or subscribes
 * (`websocket: 'events'`); one with neither uploads, as before.
 */
const ms = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const out = parseDurationMs(value);
  if (out === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(value)} (use e.g. "500ms", "2s")` });
    return z.NEVER;
  }
  return out;
});
const stringMap = z.record(z.string().min(1), z.string());
const NAME = /^[a-z][a-z0-9_]{0,63}$/;
const nameMessage = 'lower-case letters, digits and _ (e.g. "list_events")';

/** A check on the answer: k6's check() with the condition written as data. */
export const CheckSchema = z.union([
  z.object({ status: z.union([z.number().int(), z.array(z.number().int()).min(1)]) }).strict(),
  z
    .object({
      /** dotted path into the JSON answer; the first segment must be a field of the route */
      json: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/, 'a dotted JSON path, e.g. "pagination.total"'),
      type: z.enum(['array', 'object', 'string', 'number', 'boolean']).optional(),
      equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
    })
    .strict(),
  z.object({ maxDuration: ms }).strict(),
]);

/** What a request feeds into a custom metric. */
export const MetricFeedSchema = z.enum(['duration', 'ok', 'count', 'bytes'], { error: 'feed: use duration (trend), ok (rate), count (counter) or bytes' });

export const RequestKindSchema = z
  .object({
    method: z.enum(['GET', 'POST', 'PATCH', 'PUT', 'DELETE'], { error: 'method: use GET, POST, PATCH, PUT or DELETE' }),
    /** route template of the HSI API, e.g. /api/events/{event_id} */
    path: z.string().regex(/^\/[^\s?#]*$/, 'a path on the backend starting with / (query under query:, no host)'),
    query: stringMap.default({}),
    /** e.g. { 'X-API-Key': 'dev-key' } */
    headers: stringMap.default({}),
    /** JSON body (POST/PATCH/PUT) */
    body: z.record(z.string(), z.unknown()).optional(),
    /** extra tags on this request's metrics (`type: 'api'`); `name` defaults to "METHOD template" */
    tags: stringMap.default({}),
    /** statuses counted as expected (http_req_failed); default 200..399 as k6 */
    expectedStatuses: z.array(z.number().int().min(100).max(599)).min(1).optional(),
    checks: z.record(z.string().min(1), CheckSchema).default({}),
    /** custom metric -> what this request adds to it */
    metrics: z.record(z.string(), MetricFeedSchema).default({}),
  })
  .strict();

/** setup() data: values a path parameter takes, literal or read from a GET route's answer. */
export const SetupParamSchema = z.union([
  z.array(z.union([z.string().min(1), z.number()])).min(1, 'needs at least one value'),
  z
    .object({
      from: z.string().regex(/^\/[^\s?#]*$/, 'a GET route path'),
      query: stringMap.default({}),
      /** dotted path to a list, then the field of each item: "items.id" */
      field: z.string().min(1),
      /** used when the route answers with no values (e.g. no events yet) */
      fallback: z.array(z.union([z.string().min(1), z.number()])).min(1),
    })
    .strict(),
]);

export const WebSocketSchema = z
  .object({
    /** a path on the backend (the stack's own origin): /ws/events */
    path: z.string().min(1),
    /** how long one subscriber session stays open (one iteration) */
    sessionDuration: ms.default(10_000),
    headers: stringMap.default({}),
    tags: stringMap.default({}),
  })
  .strict();

export const ThinkTimeSchema = z.union([ms, z.object({ min: ms, max: ms }).strict()]);

/** The fields a k6 scenario of the workload may add (see scenario-schema.ts `common`). */
export const workloadRequestOptions = {
  /** request kinds by name -> weight */
  requests: z.record(z.string(), z.number().positive('weight must be above 0')).optional(),
  /** a WebSocket subscriber scenario: the websockets entry to open */
  websocket: z.string().optional(),
  /** sleep after each iteration: fixed or uniform in [min, max] */
  thinkTime: ThinkTimeSchema.optional(),
};

export const requestOptions = {
  requests: z.record(z.string().regex(NAME, nameMessage), RequestKindSchema).default({}),
  setup: z.object({ params: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), SetupParamSchema).default({}) }).strict().optional(),
  websockets: z.record(z.string().regex(NAME, nameMessage), WebSocketSchema).default({}),
};

export type RequestKindParsed = z.output<typeof RequestKindSchema>;
export type CheckParsed = z.output<typeof CheckSchema>;
export type SetupParamParsed = z.output<typeof SetupParamSchema>;
export type WebSocketParsed = z.output<typeof WebSocketSchema>;
export type ThinkTimeParsed = z.output<typeof ThinkTimeSchema>;
