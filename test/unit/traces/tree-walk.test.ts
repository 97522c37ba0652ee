import { describe, expect, it } from 'vitest';
import { buildTraceTree, type NormalizedSpan } from '../../../harness/traces/span-model.ts';
import { countDescendants, descendantsOf } from '../../../harness/traces/tree-walk.ts';
import { mkSpan } from '../assertions/helpers.ts';

const TRACE = 'c'.repeat(32);
const span = (id: string, parent: string | undefined, name: string, start: number): NormalizedSpan => mkSpan(TRACE, { id, parent, service: 'svc', name, start, dur: 1 });

describe('tree walk', () => {
  it('countDescendants counts what descendantsOf lists and the selector matches', () => {
    const tree = buildTraceTree([span('1', undefined, 'root', 0), span('2', '1', 'db', 1), span('3', '1', 'call', 2), span('4', '3', 'db', 3), span('5', '4', 'db', 4), span('6', '3', 'other', 5)]);
    for (const s of tree.spans) {
      for (const selector of [{ name: 'db' }, {}, { name: 'none' }, { name: { regex: '^(call|other)$' } }]) {
        expect(countDescendants(tree, s, selector), `${s.name} ${JSON.stringify(selector)}`).toBe(descendantsOf(tree, s).filter((d) => d.name === selector.name || selector.name === undefined || (typeof selector.name === 'object' && /^(call|other)$/.test(d.name))).length);
      }
    }
    expect(countDescendants(tree, tree.spans[0]!, { name: 'db' })).toBe(3);
  });

  it('countDescendants stays finite on a parent cycle and counts as the cycle-safe walk does', () => {
    // 2 → 3 → 4 → 2: no root among them; each is its own descendant's parent
    const tree = buildTraceTree([span('1', undefined, 'root', 0), span('2', '4', 'a', 1), span('3', '2', 'b', 2), span('4', '3', 'a', 3), span('5', '3', 'a', 4)]);
    for (const s of tree.spans) {
      const listed = descendantsOf(tree, s);
      expect(countDescendants(tree, s, { name: 'a' }), s.spanId).toBe(listed.filter((d) => d.name === 'a').length);
      expect(countDescendants(tree, s, {}), s.spanId).toBe(listed.length);
    }
    expect(countDescendants(tree, tree.span('0000000000000002')!, {})).toBe(3);
  });
});
