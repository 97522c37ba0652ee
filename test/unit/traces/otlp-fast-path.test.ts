import { describe, expect, it } from 'vitest';
import { spansFromV3, v3TracesResponseSchema } from '../../../harness/traces/jaeger-schemas.ts';
import { fastSpansFromV3 } from '../../../harness/traces/otlp-fast-path.ts';
import type { NormalizedSpan } from '../../../harness/traces/span-model.ts';
import { fixture } from './helpers.ts';

/** The schema path alone: what the fast path must agree with. */
function viaSchema(value: unknown): NormalizedSpan[] | 'rejected' {
  const parsed = v3TracesResponseSchema.safeParse(value);
  return parsed.success ? spansFromV3(parsed.data) : 'rejected';
}

/** Every (parent, key) under a JSON value, for damaging one field at a time. */
function slots(value: unknown, path: (string | number)[] = [], out: { path: (string | number)[] }[] = []): { path: (string | number)[] }[] {
  if (Array.isArray(value)) value.forEach((v, i) => slots(v, [...path, i], out));
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      out.push({ path: [...path, k] });
      slots(v, [...path, k], out);
    }
  }
  return out;
}

function damaged(doc: unknown, path: (string | number)[], replacement: unknown): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (replacement === DELETE) delete at[last];
  else at[last] = replacement;
  return copy;
}
const DELETE = Symbol('delete');
const REPLACEMENTS: unknown[] = [DELETE, null, 7, -1, 1.5, 'x', '', '00', true, [], {}, '0000000000000000', 'SPAN_KIND_SERVER', 'STATUS_CODE_ERROR', '123'];

describe('api/v3 fast path (otlp-fast-path.ts)', () => {
  for (const name of ['v3-trace-full.json', 'v3-trace-remote-parent.json', 'v3-search.json', 'v3-search-attributes.json']) {
    it(`gives the schema path's spans for ${name}`, () => {
      const doc = fixture(name);
      const fast = fastSpansFromV3(doc);
      expect(fast, 'the fast path takes what Jaeger v2 writes').toBeDefined();
      expect(fast).toEqual(viaSchema(doc));
    });
  }

  it('never accepts what the schema rejects, and agrees with it on what both accept (every field damaged every way)', () => {
    const doc = fixture('v3-trace-full.json');
    let rejected = 0;
    let checked = 0;
    // Every field shape once (list positions folded), with the type of value found there.
    const seen = new Set<string>();
    const distinct = slots(doc).filter(({ path }) => {
      let at: unknown = doc;
      for (const key of path) at = (at as Record<string | number, unknown>)[key];
      const shape = `${path.map((k) => (typeof k === 'number' ? '*' : k)).join('.')}:${Array.isArray(at) ? 'array' : typeof at}`;
      if (seen.has(shape)) return false;
      seen.add(shape);
      return true;
    });
    for (const { path } of distinct) {
      for (const replacement of REPLACEMENTS) {
        const input = damaged(doc, path, replacement);
        const schema = viaSchema(input);
        const fast = fastSpansFromV3(input);
        const where = `${path.join('.')} = ${typeof replacement === 'symbol' ? '(deleted)' : JSON.stringify(replacement)}`;
        if (schema === 'rejected') {
          rejected++;
          expect(fast, where).toBeUndefined();
        } else if (fast !== undefined) {
          expect(fast, where).toEqual(schema);
        }
        checked++;
      }
    }
    // The damage must reach both outcomes for the comparison to mean something.
    expect(rejected).toBeGreaterThan(50);
    expect(checked - rejected).toBeGreaterThan(50);
  });

  it('checks the trace id of every span, also when the spans of an answer share one (two traces interleaved, upper case, a bad id after good ones)', () => {
    const doc = fixture('v3-trace-full.json') as { result: { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] } };
    const spans = doc.result.resourceSpans[0]!.scopeSpans[0]!.spans;
    const first = spans[0]!;
    const id = String(first['traceId']);
    const other = 'f'.repeat(32);
    const variants: [string, unknown[]][] = [
      ['interleaved', [id, other, id, other.toUpperCase(), id]],
      ['upper case, then the same in lower case', [id.toUpperCase(), id.toUpperCase(), id]],
      ['a bad id after good ones', [id, id, `${id.slice(0, 31)}g`]],
      ['all zeros after good ones', [id, '0'.repeat(32)]],
      ['a number after good ones', [id, 7]],
    ];
    for (const [name, ids] of variants) {
      const copy = structuredClone(doc);
      copy.result.resourceSpans[0]!.scopeSpans[0]!.spans = ids.map((traceId, i) => ({ ...first, traceId, spanId: `abcdef012345678${i}` }));
      const schema = viaSchema(copy);
      const fast = fastSpansFromV3(copy);
      if (schema === 'rejected') expect(fast, name).toBeUndefined();
      else {
        expect(fast, name).toBeDefined();
        expect(fast, name).toEqual(schema);
        expect(fast!.slice(0, ids.length).map((s) => s.traceId), name).toEqual(ids.map((x) => String(x).toLowerCase()));
      }
    }
  });

  it('leaves base64 ids and pre-0.15 field names to the schema path', () => {
    const doc = fixture('v3-trace-full.json') as { result: { resourceSpans: { scopeSpans: { spans: { traceId: string }[] }[] }[] } };
    const base64 = structuredClone(doc);
    const first = base64.result.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    first.traceId = Buffer.from(first.traceId, 'hex').toString('base64');
    expect(fastSpansFromV3(base64)).toBeUndefined();
    expect(viaSchema(base64)).not.toBe('rejected');
    const old = { result: { resourceSpans: [{ instrumentationLibrarySpans: [] }] } };
    expect(fastSpansFromV3(old)).toBeUndefined();
    expect(viaSchema(old)).toEqual([]);
  });

  it('reads times as the bigint path does: durations, event offsets and µs epoch times exact, edge values left to the schema or the bigint fallback', () => {
    const doc = fixture('v3-trace-full.json') as { result: { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] } };
    const cases: [unknown, unknown][] = [
      ['1796161761270000000', '1796161761282000000'], // today, 12 ms
      ['1796161761270000001', '1796161761270000999'], // sub-µs
      ['0001796161761270000123', '1796161761270000124'], // leading zeros
      ['5', '999999999'], // under a second since the epoch
      ['0', '0'],
      ['1796161761270000000', '1796161761269999000'], // negative duration (clock skew)
      ['1000000000000000000', '1009999999999999999'], // ~116 days: past the exact-double range, bigint fallback
      ['123456789012345678901234567', '123456789012345678901234999'], // seconds beyond 2^53
      [1_700_000_000, 1_700_000_123], // numbers
      [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
      [2 ** 60, 2 ** 60], // an unsafe number: the schema decides
      ['12x', '13'],
      ['', '1'],
      ['-1', '1'],
    ];
    for (const [start, end] of cases) {
      const copy = structuredClone(doc);
      const span = copy.result.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
      span['startTimeUnixNano'] = start;
      span['endTimeUnixNano'] = end;
      span['events'] = [{ timeUnixNano: end, name: 'e' }];
      const schema = viaSchema(copy);
      const fast = fastSpansFromV3(copy);
      const where = `${String(start)} → ${String(end)}`;
      if (schema === 'rejected') expect(fast, where).toBeUndefined();
      else if (fast !== undefined) expect(fast, where).toEqual(schema);
      if (typeof start === 'string' && /^\d+$/.test(start) && typeof end === 'string' && /^\d+$/.test(end)) {
        expect(fast, `${where}: the fast path takes decimal strings`).toBeDefined();
        expect(fast![0]!.durationMs, where).toBe(Number(BigInt(end) - BigInt(start)) / 1e6);
        expect(fast![0]!.startTimeMs, where).toBe(Number(BigInt(start) / 1000n) / 1000);
        expect(fast![0]!.startTimeUnixNano, where).toBe(BigInt(start));
      }
    }
  });

  it('shares one resource object between the spans of a resource, frozen (a change would show in every span)', () => {
    const doc = fixture('v3-trace-full.json') as { result: { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] } };
    // a second span in the first resource (the fixture has one span per resource)
    const first = doc.result.resourceSpans[0]!.scopeSpans[0]!.spans;
    first.push({ ...first[0]!, spanId: 'abcdef0123456789' });
    const spans = fastSpansFromV3(doc)!;
    // one object per resourceSpans entry, however many spans it holds
    expect(spans.length).toBeGreaterThan(doc.result.resourceSpans.length);
    expect(new Set(spans.map((s) => s.resource)).size).toBe(doc.result.resourceSpans.length);
    expect(Object.isFrozen(spans[0]!.resource)).toBe(true);
    expect(spans[0]!.resource).not.toHaveProperty('service.name');
  });

  it('takes upper-case hex ids (lower-cased), refuses all-zero ids, leaves an all-`A` parent (the schema: base64 zeros, no parent) to the schema', () => {
    const doc = fixture('v3-trace-full.json') as { result: { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] } };
    const variant = (field: string, value: string) => {
      const copy = structuredClone(doc);
      copy.result.resourceSpans[0]!.scopeSpans[0]!.spans[0]![field] = value;
      return copy;
    };
    const upper = variant('spanId', 'ABCDEF0123456789');
    expect(fastSpansFromV3(upper)![0]!.spanId).toBe('abcdef0123456789');
    expect(fastSpansFromV3(upper)).toEqual(viaSchema(upper));
    expect(fastSpansFromV3(variant('spanId', '0000000000000000'))).toBeUndefined();
    expect(viaSchema(variant('spanId', '0000000000000000'))).toBe('rejected');
    const noParent = variant('parentSpanId', 'AAAAAAAAAAAAAAAA');
    expect(fastSpansFromV3(noParent)).toBeUndefined();
    expect((viaSchema(noParent) as NormalizedSpan[])[0]!.parentSpanId).toBeUndefined();
  });
});

