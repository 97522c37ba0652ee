import { z } from 'zod';
import type { RunResults } from '../harness/util/run-results.ts';

/**
 * What every assertion family yields: one `AssertionResult` per checked thing (a hop, a
 * budget, a tree over a set of traces…). `measured` and `bound` carry a machine-readable
 * value and the same thing as text; on failure `message` names the broken hop, span or
 * bound, and `exampleTraceIds` lists a few traces that show it.
 */
export type AssertionFamily = 'span-tree' | 'propagation' | 'sampling' | 'latency' | 'errors' | 'nothing-lost';

export const ASSERTION_FAMILIES: readonly AssertionFamily[] = ['span-tree', 'propagation', 'sampling', 'latency', 'errors', 'nothing-lost'];

export type MeasureValue = number | string | boolean | null | readonly number[];

export interface Measure {
  /** Machine-readable: a number (in `unit`), a count, a fraction, a flag… */
  value: MeasureValue;
  /** e.g. `ms`, `traces`, `spans`, `fraction`, `uploads`. */
  unit?: string;
  /** The same, for a person: `p95 2350.0 ms (n=200)`. */
  text: string;
}

/** How `measured.value` is compared with `bound.value`. `within`: inside the `[low, high]` pair. */
export type BoundOp = '<' | '<=' | '==' | '>=' | '>' | 'within';

export interface Bound extends Measure {
  op: BoundOp;
}

export interface AssertionResult {
  family: AssertionFamily;
  /** Stable name of the check, e.g. `hop: queue: detection_queue producer → consumer`. */
  name: string;
  passed: boolean;
  measured: Measure;
  bound: Bound;
  /** One line: on failure it names the broken hop/span/bound; on success what was checked. */
  message: string;
  /** A few traces that show the failure (or, for a pass, that were checked); full 32-hex ids. */
  exampleTraceIds: string[];
  /** JSON-able extra data (no bigint), family specific. */
  details?: Record<string, unknown>;
  /**
   * False when the check could not be judged (the evidence it needs is unknown, e.g. the
   * settings in effect on an external stack): `passed` is then true (it fails nothing) and
   * `message` says why; reports show it as "not judged", never as a pass.
   */
  judged?: false;
}

/** A check that cannot be judged: neither a pass nor a failure, with why. */
export function notJudged(family: AssertionFamily, name: string, why: string): AssertionResult {
  return { family, name, passed: true, judged: false, measured: { value: null, text: 'not judged' }, bound: { op: '==', value: null, text: 'not judged' }, message: `not judged: ${why}`, exampleTraceIds: [] };
}

/** Most trace ids an assertion lists. */
export const MAX_EXAMPLES = 5;

/** The first `max` distinct ids. */
export function examples(ids: Iterable<string>, max = MAX_EXAMPLES): string[] {
  const out: string[] = [];
  if (Array.isArray(ids)) {
    // an index loop: no iterator objects (results of one trace are built per trace on hot paths)
    const list: readonly string[] = ids;
    for (let i = 0; i < list.length && out.length < max; i++) if (!out.includes(list[i]!)) out.push(list[i]!);
    return out;
  }
  for (const id of ids) {
    if (out.includes(id)) continue;
    out.push(id);
    if (out.length >= max) break;
  }
  return out;
}

/** `examples` of the trees' trace ids, without a list of all ids. */
export function exampleTraces(traces: readonly { traceId: string }[], max = MAX_EXAMPLES): string[] {
  // the list at its size when a result is about one trace (an empty list's first push makes room for 16)
  if (traces.length === 1 && max >= 1) return [traces[0]!.traceId];
  const out: string[] = [];
  for (let i = 0; i < traces.length && out.length < max; i++) if (!out.includes(traces[i]!.traceId)) out.push(traces[i]!.traceId);
  return out;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return String(ms);
  return `${ms.toFixed(1)} ms`;
}

export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${n} ${n === 1 ? word : pluralWord}`;
}

// ------------------------------------------------------------------ assertions.json

export const ASSERTIONS_SCHEMA_VERSION = 1;
export const ASSERTIONS_FILE = 'assertions.json';

export interface AssertionsSummary {
  total: number;
  passed: number;
  failed: number;
  /** Failed results per family. */
  failedByFamily: Partial<Record<AssertionFamily, number>>;
}

export interface AssertionsFile {
  schemaVersion: 1;
  runId: string;
  generatedAt: string;
  results: AssertionResult[];
  summary: AssertionsSummary;
}

export function summarize(results: readonly AssertionResult[]): AssertionsSummary {
  const failedByFamily: Partial<Record<AssertionFamily, number>> = {};
  let passed = 0;
  for (const r of results) {
    if (r.passed) passed += 1;
    else failedByFamily[r.family] = (failedByFamily[r.family] ?? 0) + 1;
  }
  return { total: results.length, passed, failed: results.length - passed, failedByFamily };
}

/** Writes `results/<run-id>/assertions.json` (atomically); returns its path. */
export function writeAssertionsJson(results: readonly AssertionResult[], run: RunResults, now: Date = new Date()): string {
  const file: AssertionsFile = {
    schemaVersion: ASSERTIONS_SCHEMA_VERSION,
    runId: run.runId,
    generatedAt: now.toISOString(),
    results: [...results],
    summary: summarize(results),
  };
  return run.writeJson(ASSERTIONS_FILE, file);
}

const measureSchema = z.object({
  value: z.union([z.number(), z.string(), z.boolean(), z.null(), z.array(z.number())]),
  unit: z.string().optional(),
  text: z.string(),
});

/** For readers of assertions.json (reports, comparisons across runs). */
export const AssertionsFileSchema = z.object({
  schemaVersion: z.literal(1),
  runId: z.string(),
  generatedAt: z.string(),
  results: z.array(
    z.object({
      family: z.enum(['span-tree', 'propagation', 'sampling', 'latency', 'errors', 'nothing-lost']),
      name: z.string(),
      passed: z.boolean(),
      measured: measureSchema,
      bound: measureSchema.extend({ op: z.enum(['<', '<=', '==', '>=', '>', 'within']) }),
      message: z.string(),
      exampleTraceIds: z.array(z.string()),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  ),
  summary: z.object({
    total: z.number().int(),
    passed: z.number().int(),
    failed: z.number().int(),
    failedByFamily: z.record(z.string(), z.number().int()),
  }),
});

/** One line per failed result (for a CLI summary). */
export function describeFailures(results: readonly AssertionResult[]): string[] {
  return results.filter((r) => !r.passed).map((r) => `✗ [${r.family}] ${r.name}: ${r.message}`);
}
