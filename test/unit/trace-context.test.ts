import { describe, expect, it } from 'vitest';
import { formatBaggage, formatTraceparents, newTraceContext, parseTraceparent } from '../../harness/load/trace-context.ts';

describe('W3C trace context minted by the load driver', () => {
  it('makes valid, unique traceparent headers with the sampled flag', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const ctx = newTraceContext(i % 2 === 0);
      expect(ctx.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      expect(parseTraceparent(ctx.traceparent)).toEqual({ traceId: ctx.traceId, spanId: ctx.spanId, sampled: i % 2 === 0 });
      seen.add(ctx.traceId);
    }
    expect(seen.size).toBe(1000);
  });

  it('writes each 24 random bytes as one traceparent, and never an all-zero id', () => {
    const random = Buffer.alloc(72);
    random.fill(0xab, 0, 24);
    random.fill(0x01, 24, 40); // the second context's span id stays all zero
    // the third context: all zero
    expect(formatTraceparents(random)).toBe(
      `00-${'ab'.repeat(16)}-${'ab'.repeat(8)}-01` + `00-${'01'.repeat(16)}-${'0'.repeat(15)}1-01` + `00-${'0'.repeat(31)}1-${'0'.repeat(15)}1-01`,
    );
  });

  it('rejects invalid traceparents (version ff, zero ids, bad length)', () => {
    expect(parseTraceparent(`ff-${'a'.repeat(32)}-${'b'.repeat(16)}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${'a'.repeat(32)}-${'0'.repeat(16)}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${'a'.repeat(31)}-${'b'.repeat(16)}-01`)).toBeUndefined();
  });

  it('percent-encodes baggage values', () => {
    expect(formatBaggage({ 'camera.id': 'front_door', 'request.source': 'hsi chaos,1' })).toBe('camera.id=front_door,request.source=hsi%20chaos%2C1');
  });
});
