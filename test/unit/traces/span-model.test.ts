import { describe, expect, it } from 'vitest';
import { buildTraceTree, groupTraces, normalizeSpanId, normalizeTraceId, spanToJson, type NormalizedSpan } from '../../../harness/traces/span-model.ts';

const TRACE = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const OTHER = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

function span(spanId: string, parentSpanId: string | undefined, startMs: number, over: Partial<NormalizedSpan> = {}): NormalizedSpan {
  const s: NormalizedSpan = {
    traceId: TRACE,
    spanId: spanId.padStart(16, '0'),
    service: 'svc',
    name: `op-${spanId}`,
    kind: 'internal',
    startTimeUnixNano: BigInt(startMs) * 1_000_000n,
    startTimeMs: startMs,
    durationMs: 1,
    attributes: {},
    resource: {},
    events: [],
    links: [],
    status: { code: 'unset' },
    ...over,
  };
  if (parentSpanId !== undefined) s.parentSpanId = parentSpanId.padStart(16, '0');
  return s;
}

describe('buildTraceTree', () => {
  //   1 ─┬─ 2 ── 4
  //      └─ 3
  //   5 (parent 9 is not in the trace)
  const spans = [span('4', '2', 40, { service: 'b' }), span('3', '1', 30), span('1', undefined, 10, { service: 'a' }), span('2', '1', 20, { service: 'b' }), span('5', '9', 5)];
  const tree = buildTraceTree(spans);

  it('orders spans by start and finds roots, including spans whose parent is absent', () => {
    expect(tree.traceId).toBe(TRACE);
    expect(tree.spans.map((s) => s.spanId.replace(/^0+/, ''))).toEqual(['5', '1', '2', '3', '4']);
    expect(tree.roots.map((s) => s.name)).toEqual(['op-5', 'op-1']);
  });

  it('answers childrenOf, span and the distinct services and names', () => {
    expect(tree.childrenOf(spans[2]!.spanId).map((s) => s.name)).toEqual(['op-2', 'op-3']);
    expect(tree.childrenOf(spans[3]!.spanId).map((s) => s.name)).toEqual(['op-4']);
    expect(tree.childrenOf(spans[0]!.spanId)).toEqual([]);
    expect(tree.childrenOf('ffffffffffffffff')).toEqual([]);
    expect(tree.span(spans[1]!.spanId)?.name).toBe('op-3');
    expect(tree.services()).toEqual(['a', 'b', 'svc']);
    expect(tree.spanNames()).toEqual(['op-1', 'op-2', 'op-3', 'op-4', 'op-5']);
  });

  it('drops a span id seen twice, treats a self-parent as a root, and breaks start-time ties by id', () => {
    const t = buildTraceTree([span('1', undefined, 10), span('1', undefined, 10, { name: 'dup' }), span('7', '7', 10), span('6', '1', 10)]);
    expect(t.spans.map((s) => s.name)).toEqual(['op-1', 'op-6', 'op-7']);
    expect(t.roots.map((s) => s.name)).toEqual(['op-1', 'op-7']);
  });

  it('refuses spans of another trace and needs a trace id when there are no spans', () => {
    expect(() => buildTraceTree([span('1', undefined, 1), span('2', undefined, 1, { traceId: OTHER })])).toThrow(/belongs to trace b+/);
    expect(() => buildTraceTree([])).toThrow(/no spans/);
    expect(buildTraceTree([], TRACE).spans).toEqual([]);
  });

  it('orders spans by start then span id, for a few spans (insertion) and for many (the builtin sort) alike', () => {
    for (const count of [2, 7, 32, 33, 90]) {
      // starts repeat (ties broken by span id), input in a scrambled order, some ids twice
      const spans = Array.from({ length: count }, (_, i) => span(((i * 37) % count).toString(16).padStart(4, '0'), undefined, 1000 + ((i * 7) % 5)));
      const input = [...spans, ...spans.slice(0, 3)].reverse();
      const expected = [...spans].sort((a, b) => a.startTimeMs - b.startTimeMs || (a.spanId < b.spanId ? -1 : 1));
      expect(buildTraceTree(input, TRACE).spans.map((s) => s.spanId), `${count} spans`).toEqual(expected.map((s) => s.spanId));
    }
  });

  it('groups mixed spans into one tree per trace', () => {
    const trees = groupTraces([span('1', undefined, 1), span('2', undefined, 1, { traceId: OTHER }), span('3', '1', 2)]);
    expect(trees.map((t) => [t.traceId, t.spans.length])).toEqual([
      [TRACE, 2],
      [OTHER, 1],
    ]);
  });
});

describe('ids and JSON', () => {
  it('normalizes ids to lower-case, zero-padded hex and rejects the rest', () => {
    expect(normalizeTraceId('4BF92F3577B34DA6A3CE929D0E0E4736')).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(normalizeTraceId('abc')).toBe(`${'0'.repeat(29)}abc`);
    expect(normalizeTraceId('0'.repeat(32))).toBeUndefined();
    expect(normalizeTraceId('a'.repeat(33))).toBeUndefined();
    expect(normalizeTraceId('xyz')).toBeUndefined();
    expect(normalizeSpanId('00F067AA0BA902B7')).toBe('00f067aa0ba902b7');
    expect(normalizeSpanId('a'.repeat(17))).toBeUndefined();
  });

  it('serializes a span with its nanosecond start as a decimal string', () => {
    const s = span('1', undefined, 1795508272120);
    expect(() => JSON.stringify(s)).toThrow(/BigInt/);
    expect(JSON.parse(JSON.stringify(spanToJson(s)))).toMatchObject({ startTimeUnixNano: '1795508272120000000', startTimeMs: 1795508272120 });
  });
});
