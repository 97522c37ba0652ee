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
 * Random bytes come from a pool refilled 8 KiB at a time: one getrandom call per 340 trace
 * contexts instead of two per request (at load-test rates the per-call cost dominated).
 */
const POOL_SIZE = 8192;
let pool = randomBytes(POOL_SIZE);
let poolOffset = 0;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}

export function newTraceContext(sampled = true): OutgoingTraceContext {
  let traceId = randomHex(16);
  let spanId = randomHex(8);
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
