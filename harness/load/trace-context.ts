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
 * contexts), written once per refill as ready traceparent values (`00-<trace id>-<span id>-01`,
 * 55 characters each) into one string: a context's traceparent, trace id and span id are slices
 * of it, so no string is built per request, and writing the traceparent into a request's bytes
 * copies characters without first flattening a concatenation.
 */
const POOL_BYTES = 8192;
/** bytes per trace context: a 16-byte trace id and an 8-byte span id */
const CONTEXT_BYTES = 24;
const CONTEXTS = Math.floor(POOL_BYTES / CONTEXT_BYTES);
const TRACEPARENT_CHARS = 55;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
let pool = '';
let next = CONTEXTS;

function refill(): void {
  pool = formatTraceparents(randomBytes(POOL_BYTES));
  next = 0;
}

/**
 * @internal `00-<32 hex>-<16 hex>-01` per 24 random bytes (a zero id's last digit made 1),
 * written byte by byte into one buffer, then one string.
 */
export function formatTraceparents(random: Buffer): string {
  const contexts = Math.floor(random.length / CONTEXT_BYTES);
  const out = Buffer.allocUnsafe(contexts * TRACEPARENT_CHARS);
  for (let k = 0; k < contexts; k++) {
    const o = k * TRACEPARENT_CHARS;
    const r = k * CONTEXT_BYTES;
    out.write('00-', o, 'latin1');
    for (let j = 0; j < CONTEXT_BYTES; j++) {
      const b = random[r + j] as number;
      // the span id starts after the trace id's 32 characters and a dash
      const at = o + 3 + 2 * j + (j >= 16 ? 1 : 0);
      out[at] = HEX[b >> 4] as number;
      out[at + 1] = HEX[b & 15] as number;
    }
    out.write('-', o + 35, 'latin1');
    out.write('-01', o + 52, 'latin1');
    // All-zero ids are invalid in W3C trace context; astronomically unlikely, but cheap to rule out.
    if (allZero(random, r, 16)) out[o + 34] = 49;
    if (allZero(random, r + 16, 8)) out[o + 51] = 49;
  }
  return out.toString('latin1');
}

function allZero(bytes: Buffer, from: number, length: number): boolean {
  for (let i = from; i < from + length; i++) if (bytes[i] !== 0) return false;
  return true;
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
