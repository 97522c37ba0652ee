import { expect } from 'vitest';
import type { TraceTree } from '../harness/traces/span-model.ts';
import type { AssertionResult } from './result.ts';
import { evaluateSpanTree } from './span-tree/evaluate.ts';
import type { SpanTreeInput } from './span-tree/model.ts';

/**
 * vitest matchers:
 *
 *     import { setup } from '../assertions/vitest-matchers.ts';
 *     setup();                                   // once per test file (or in a setupFiles entry)
 *     expect(tree).toMatchSpanTree(hsiUploadTree());
 *     expect(checkHop(traces, hop)).toPass();     // prints the result's message on failure
 *     expect(results).toPass();                   // an array: every result must pass
 */

interface MatcherOutcome {
  pass: boolean;
  message: () => string;
}

function isTraceTree(value: unknown): value is TraceTree {
  return typeof value === 'object' && value !== null && 'traceId' in value && 'spans' in value && typeof (value as { childrenOf?: unknown }).childrenOf === 'function';
}

function isResult(value: unknown): value is AssertionResult {
  return typeof value === 'object' && value !== null && 'family' in value && 'passed' in value && 'message' in value;
}

export function toMatchSpanTree(received: unknown, expectation: SpanTreeInput): MatcherOutcome {
  if (!isTraceTree(received)) return { pass: false, message: () => 'toMatchSpanTree: expected a TraceTree (buildTraceTree / JaegerQueryClient.getTrace)' };
  const evaluation = evaluateSpanTree(received, expectation);
  return {
    pass: evaluation.passed,
    message: () =>
      evaluation.passed
        ? `expected trace ${received.traceId} not to match the span tree, but it does`
        : `trace ${received.traceId} does not match the span tree:\n${evaluation.failures.map((f) => `  - ${f.detail}`).join('\n')}`,
  };
}

export function toPass(received: unknown): MatcherOutcome {
  const list: unknown[] = Array.isArray(received) ? received : [received];
  if (list.length === 0 || !list.every(isResult)) return { pass: false, message: () => 'toPass: expected an AssertionResult or a non-empty array of them' };
  const results = list as AssertionResult[];
  const failed = results.filter((r) => !r.passed);
  return {
    pass: failed.length === 0,
    message: () =>
      failed.length === 0
        ? `expected a failure, but every result passed:\n${results.map((r) => `  ✓ [${r.family}] ${r.name}: ${r.message}`).join('\n')}`
        : `${failed.length} of ${results.length} assertion${results.length === 1 ? '' : 's'} failed:\n${failed.map((r) => `  ✗ [${r.family}] ${r.name}: ${r.message}`).join('\n')}`,
  };
}

export const assertionMatchers = { toMatchSpanTree, toPass };

let registered = false;

/** Registers the matchers with vitest's `expect` (idempotent). */
export function setup(): void {
  if (registered) return;
  expect.extend(assertionMatchers);
  registered = true;
}

declare module 'vitest' {
  // T = any mirrors vitest's own declaration of Matchers; the augmentation must match it.
  interface Matchers<T = any> {
    /** The received TraceTree matches the span-tree expectation (DSL builder, node or JSON form). */
    toMatchSpanTree(expectation: SpanTreeInput): T;
    /** The received AssertionResult (or every one of an array) passed; prints the messages otherwise. */
    toPass(): T;
  }
}
