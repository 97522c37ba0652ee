import { randomBytes } from 'node:crypto';

/** A W3C trace context the load driver mints per request (random ids, as the spec asks). */
export interface OutgoingTraceContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
  traceparent: string;
}

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Random ids come from a pool of 8 KiB of random bytes (one getrandom call per 341 trace
 * contexts), made once per refill into a string of ready traceparent values
 * (`00-<trace id>-<span id>-01`, 55 characters each): a context's traceparent, trace id and
 * span id are slices of it, so no string is built per request, and writing the traceparent
 * into a request's bytes copies characters without first flattening a concatenation.
 */
const POOL_BYTES = 8192;
/** bytes per trace context: a 16-byte trace id and an 8-byte span id */
const CONTEXT_BYTES = 24;
const CONTEXTS = Math.floor(POOL_BYTES / CONTEXT_BYTES);
const TRACEPARENT_CHARS = 55;
let pool = '';
let next = CONTEXTS;

function refill(): void {
  const hex = randomBytes(POOL_BYTES).toString('hex');
  const values: string[] = new Array(CONTEXTS);
  for (let k = 0; k < CONTEXTS; k++) {
    const at = k * CONTEXT_BYTES * 2;
    let traceId = hex.slice(at, at + 32);
    let spanId = hex.slice(at + 32, at + 48);
    // All-zero ids are invalid in W3C trace context; astronomically unlikely, but cheap to rule out.
    if (traceId === ZERO_TRACE) traceId = `${traceId.slice(0, 31)}1`;
    if (spanId === ZERO_SPAN) spanId = `${spanId.slice(0, 15)}1`;
    values[k] = `00-${traceId}-${spanId}-01`;
  }
  pool = values.join('');
  next = 0;
}

export function newTraceContext(sampled = true): OutgoingTraceContext {
  if (next >= CONTEXTS) refill();
  const at = next++ * TRACEPARENT_CHARS;
  const traceparent = pool.slice(at, at + TRACEPARENT_CHARS);
  return { traceId: pool.slice(at + 3, at + 35), spanId: pool.slice(at + 36, at + 52), sampled, traceparent: sampled ? traceparent : `${traceparent.slice(0, 53)}00` };
}

/** W3C baggage header: comma-separated key=value with percent-encoded values. */
export function formatBaggage(entries: Record<string, string>): string {
  return Object.entries(entries)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join(',');
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function parseTraceparent(header: string): { traceId: string; spanId: string; sampled: boolean } | undefined {
  const m = TRACEPARENT.exec(header.trim());
  if (!m || m[1] === 'ff' || m[2] === ZERO_TRACE || m[3] === ZERO_SPAN) return undefined;
  return { traceId: m[2] ?? '', spanId: m[3] ?? '', sampled: (parseInt(m[4] ?? '0', 16) & 1) === 1 };
}
