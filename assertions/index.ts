/**
 * Trace assertion families of hsi-chaos (issue 6): span tree, propagation (+ baggage and
 * stitching), sampling, latency budgets, errors under faults, nothing lost. Pure logic over
 * TraceTrees and records, plus thin I/O adapters (Jaeger presence/search, PostgreSQL + Redis).
 * Every check yields `AssertionResult`s; `writeAssertionsJson` stores them for a run.
 */
export * from './result.ts';
export * from './selectors.ts';
export * from './span-tree/model.ts';
export * from './span-tree/evaluate.ts';
export * from './propagation/hops.ts';
export * from './propagation/baggage.ts';
export * from './propagation/stitch.ts';
export * from './sampling/wilson.ts';
export * from './sampling/strategies.ts';
export * from './sampling/checks.ts';
export * from './sampling/presence.ts';
export * from './latency/latency.ts';
export * from './errors/errors.ts';
export * from './lost/outcome.ts';
export * from './hsi/pipeline-adapters.ts';
export * from './hsi/expectations.ts';
export * from './expectations.ts';
export { criticalPath, type CriticalPath, type CriticalPathSegment, type CriticalPathStep } from '../harness/traces/critical-path.ts';
