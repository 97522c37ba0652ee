import type { Difference, ConformArea } from '../../../harness/conform/differences.ts';
import type { AssertionResult } from '../../result.ts';
import type { SpanTreeEvaluation } from '../../span-tree/evaluate.ts';

/** Traces against the assertion presets, as conform differences (one line each). */

/** The failures of one trace against a span-tree preset: a missing span, a wrong count, a missing attribute. */
export function spanTreeDifferences(evaluation: SpanTreeEvaluation, where: string): Difference[] {
  return evaluation.failures.map((f): Difference => {
    if (f.kind === 'attribute') {
      return { area: 'spans', where: `${where} ${f.span?.service ?? '?'} "${f.span?.name ?? '?'}"`, what: `attribute ${f.attribute ?? '?'}`, expected: f.check ?? 'present', seen: f.actual === null || f.actual === undefined ? 'no such attribute' : JSON.stringify(f.actual) };
    }
    const parent = f.parent ? `under ${f.parent.service} "${f.parent.name}"` : f.relation === 'root' ? 'at the root' : 'in the trace';
    const bounds = f.count ? (f.count.max === null ? `at least ${f.count.min}` : f.count.min === f.count.max ? `exactly ${f.count.min}` : `${f.count.min}..${f.count.max}`) : 'one';
    return { area: 'spans', where: `${where} ${parent}`, what: `span ${f.expected} (${f.relation})`, expected: bounds, seen: String(f.found ?? 0) };
  });
}

/** Failing results of an assertion preset (hops, baggage): one line each, the result's own message as what was seen. */
export function assertionDifferences(area: ConformArea, results: readonly AssertionResult[]): Difference[] {
  return results.filter((r) => !r.passed).map((r) => ({ area, where: r.name, what: r.family, expected: r.bound.text, seen: r.message }));
}

