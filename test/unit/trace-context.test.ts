import { describe, expect, it } from 'vitest';
import { formatBaggage, newTraceContext, parseTraceparent } from '../../harness/load/trace-context.ts';

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
