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
 * Random ids come from a pool of 8 KiB of random bytes, hex-encoded once per refill: one
 * getrandom call and one hex encoding per 341 trace contexts instead of two of each per
 * request, and each id is a slice of the pool's hex string (no copy).
 */
const POOL_BYTES = 8192;
/** bytes per trace context: a 16-byte trace id and an 8-byte span id */
const CONTEXT_BYTES = 24;
let hexPool = '';
let hexOffset = 0;

function nextIds(): string {
  if (hexOffset + CONTEXT_BYTES * 2 > hexPool.length) {
    hexPool = randomBytes(POOL_BYTES).toString('hex');
    hexOffset = 0;
  }
  const ids = hexPool.slice(hexOffset, hexOffset + CONTEXT_BYTES * 2);
  hexOffset += CONTEXT_BYTES * 2;
  return ids;
}

export function newTraceContext(sampled = true): OutgoingTraceContext {
  const ids = nextIds();
  let traceId = ids.slice(0, 32);
  let spanId = ids.slice(32);
  // All-zero ids are invalid in W3C trace context; astronomically unlikely, but cheap to rule out.
  if (traceId === ZERO_TRACE) traceId = `${traceId.slice(0, 31)}1`;
  if (spanId === ZERO_SPAN) spanId = `${spanId.slice(0, 15)}1`;
  return { traceId, spanId, sampled, traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}` };
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
