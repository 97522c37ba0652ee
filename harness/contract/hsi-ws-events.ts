import { z } from 'zod';

/**
 * `/ws/events` as the HSI backends speak it (HSI-CONTRACT.md, "Events"). Two envelopes:
 * - single: `{"type":"event","data":{id, event_id?, batch_id, camera_id, risk_score, risk_level,
 *   summary, started_at, ...}, ...}` (the reference stack adds `timestamp`, the real HSI adds
 *   `sequence`, `requires_ack`);
 * - batched: the real HSI's message batcher (backend/core/websocket/message_batcher.py) flushes
 *   every 100 ms or at 50 messages `{"type":"batch","channel","count","messages":[<single>...],
 *   "batched_at":<epoch s>}`.
 * Frames of other types (service_status, camera_status, ping, ...) carry no event.
 */
export const HSI_WS_EVENTS_PATH = '/ws/events';

/** The real HSI's batching bounds: a broadcast is at most this late because of batching. */
export const HSI_WS_BATCHING = Object.freeze({ intervalMs: 100, maxMessages: 50 });

const id = z.union([z.number(), z.string()]);

export const WsEventData = z
  .object({
    id: id.optional(),
    event_id: id.optional(),
    batch_id: z.string().nullable().optional(),
    camera_id: z.string().nullable().optional(),
    detection_ids: z.array(id).optional(),
  })
  .loose();

export const WsEventMessage = z.object({ type: z.literal('event'), data: WsEventData }).loose();

export const WsBatchMessage = z
  .object({ type: z.literal('batch'), channel: z.string().optional(), count: z.number().int().nonnegative().optional(), messages: z.array(z.unknown()), batched_at: z.number().optional() })
  .loose();

/**
 * When the server sent a /ws/events frame (epoch ms), for `ws_event_latency` (receive time minus
 * it): a top-level `timestamp` (the reference stack's single event message: ISO, or epoch ms as a
 * number), else a batch envelope's `batched_at` (epoch seconds: the real HSI's MessageBatcher sets
 * it with time.time() when it flushes). The real HSI's single event message carries no send time
 * (`{type: "event", data, sequence, requires_ack}`; `data.started_at` is when the event began, not
 * when it was sent): undefined, no sample. The k6 script (scenarios/k6/camera-uploads.ts) keeps a
 * copy of this rule, since k6 cannot load this module; a unit test holds the two together.
 */
export function wsFrameSentAtMs(text: string): number | undefined {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  const { timestamp, type, batched_at: batchedAt } = m as { timestamp?: unknown; type?: unknown; batched_at?: unknown };
  if (typeof timestamp === 'number' && Number.isFinite(timestamp)) return timestamp;
  if (typeof timestamp === 'string') {
    const t = Date.parse(timestamp);
    if (!Number.isNaN(t)) return t;
  }
  if (type === 'batch' && typeof batchedAt === 'number' && Number.isFinite(batchedAt)) return batchedAt * 1000;
  return undefined;
}

/** One event as a broadcast names it (ids as strings). */
export interface BroadcastEvent {
  eventId?: string;
  batchId?: string;
  cameraId?: string;
  detectionIds?: string[];
}

export interface DecodedWsFrame {
  /** `single` event message, `batch` envelope, `other` message type, `invalid` (not JSON, or an event without an id). */
  form: 'single' | 'batch' | 'other' | 'invalid';
  events: BroadcastEvent[];
  problem?: string;
}

function broadcastEvent(data: z.infer<typeof WsEventData>): BroadcastEvent | undefined {
  const e: BroadcastEvent = {};
  const eventId = data.id ?? data.event_id;
  if (eventId !== undefined) e.eventId = String(eventId);
  if (typeof data.batch_id === 'string' && data.batch_id !== '') e.batchId = data.batch_id;
  if (typeof data.camera_id === 'string') e.cameraId = data.camera_id;
  if (data.detection_ids) e.detectionIds = data.detection_ids.map(String);
  return e.eventId !== undefined || e.batchId !== undefined || e.detectionIds !== undefined ? e : undefined;
}

/** A single message's event, or why it is none. */
function singleEvent(value: unknown): { event?: BroadcastEvent; other?: true; problem?: string } {
  const typed = z.object({ type: z.string() }).loose().safeParse(value);
  if (typed.success && typed.data.type !== 'event') return { other: true };
  const message = WsEventMessage.safeParse(value);
  if (!message.success) {
    const issue = message.error.issues[0];
    return { problem: `event message ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}` };
  }
  const event = broadcastEvent(message.data.data);
  return event ? { event } : { problem: 'event message without id, event_id, batch_id or detection_ids' };
}

/** Decodes one text frame of /ws/events, in either envelope. Never throws. */
export function decodeWsFrame(text: string): DecodedWsFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { form: 'invalid', events: [], problem: 'not JSON' };
  }
  const batch = WsBatchMessage.safeParse(value);
  if (batch.success) {
    const events: BroadcastEvent[] = [];
    const problems: string[] = [];
    for (const inner of batch.data.messages) {
      const one = singleEvent(inner);
      if (one.event) events.push(one.event);
      else if (one.problem) problems.push(one.problem);
    }
    if (batch.data.count !== undefined && batch.data.count !== batch.data.messages.length) problems.push(`batch count ${batch.data.count} but ${batch.data.messages.length} messages`);
    return { form: 'batch', events, ...(problems.length > 0 ? { problem: problems[0] } : {}) };
  }
  const one = singleEvent(value);
  if (one.other) return { form: 'other', events: [] };
  if (one.event) return { form: 'single', events: [one.event] };
  return { form: 'invalid', events: [], problem: one.problem ?? 'invalid' };
}

/**
 * How an HSI WebSocket takes the API key (real HSI `backend/api/middleware/auth.py`
 * `validate_websocket_api_key`, documented in `backend/api/routes/websocket.py`): the query
 * parameter `api_key`, else a `Sec-WebSocket-Protocol` entry `api-key.<key>`. The WebSocket
 * handshake's `X-API-Key` header is NOT read there (only the HTTP middleware reads it). Without
 * a valid key the server accepts, then closes with 1008 (policy violation). The real project's
 * own k6 suite (tests/load/websocket.js) appends `?api_key=`.
 */
export const HSI_WS_API_KEY_QUERY = 'api_key';
export const HSI_WS_API_KEY_PROTOCOL_PREFIX = 'api-key.';
/** Close code of a WebSocket the server refused after the handshake (bad or missing key, rate limit). */
export const HSI_WS_POLICY_VIOLATION = 1008;

/** The subscriber URL carrying the API key as the HSI WebSockets read it (unchanged without a key). */
export function wsUrlWithApiKey(url: string, apiKey: string | undefined): string {
  if (apiKey === undefined || apiKey === '') return url;
  const u = new URL(url);
  u.searchParams.set(HSI_WS_API_KEY_QUERY, apiKey);
  return u.toString();
}
