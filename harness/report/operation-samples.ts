import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { parseOrThrow } from '../config/validation.ts';
import { ConfigError } from '../errors.ts';
import type { RunResults } from '../util/run-results.ts';

/**
 * Per-span durations of every operation (service + span name) of a run:
 * `results/<run-id>/operation-samples.json`. `compare` ranks them (Mann–Whitney U with the
 * tolerance as a shift), which is what lets it judge an operation with 20 spans; the p95 in
 * summary.json alone cannot (with 20 spans it is nearly the maximum).
 */
export const OPERATION_SAMPLES_FILE = 'operation-samples.json';
export const OPERATION_SAMPLES_SCHEMA_VERSION = 1;
/** Durations kept per operation; more are thinned evenly over the sorted values (quantiles kept). */
export const MAX_DURATIONS_PER_OPERATION = 5000;

const OperationSamplesSchema = z.object({
  schemaVersion: z.literal(OPERATION_SAMPLES_SCHEMA_VERSION),
  operations: z.array(z.object({ service: z.string(), name: z.string(), count: z.number().int().nonnegative(), durationsMs: z.array(z.number().nonnegative()) })),
});

export type OperationSamples = z.infer<typeof OperationSamplesSchema>;

export interface OperationDurations {
  service: string;
  name: string;
  durationsMs: readonly number[];
}

/** Groups spans by operation (service + span name), in first-seen order. */
export function operationDurations(spans: Iterable<{ service: string; name: string; durationMs: number }>): OperationDurations[] {
  const groups = new Map<string, { service: string; name: string; durationsMs: number[] }>();
  for (const s of spans) {
    const key = `${s.service}\u0000${s.name}`;
    const g = groups.get(key) ?? { service: s.service, name: s.name, durationsMs: [] };
    g.durationsMs.push(s.durationMs);
    groups.set(key, g);
  }
  return [...groups.values()];
}

/** Sorted, rounded to µs, thinned to at most `max` values (every k-th order statistic). */
export function sampleDurations(durations: readonly number[], max = MAX_DURATIONS_PER_OPERATION): number[] {
  const sorted = durations.map((d) => Math.round(d * 1000) / 1000).sort((a, b) => a - b);
  if (sorted.length <= max) return sorted;
  return Array.from({ length: max }, (_, i) => sorted[Math.floor(((i + 0.5) * sorted.length) / max)]!);
}

export function toOperationSamples(operations: readonly OperationDurations[]): OperationSamples {
  return {
    schemaVersion: OPERATION_SAMPLES_SCHEMA_VERSION,
    operations: operations.map((o) => ({ service: o.service, name: o.name, count: o.durationsMs.length, durationsMs: sampleDurations(o.durationsMs) })),
  };
}

export function writeOperationSamples(results: RunResults, operations: readonly OperationDurations[]): string {
  return results.writeJson(OPERATION_SAMPLES_FILE, toOperationSamples(operations));
}

/** `service name` → durations, or null when the run folder has no operation-samples.json (runs before it existed). */
export function readOperationSamples(runDir: string): Map<string, number[]> | null {
  const file = join(runDir, OPERATION_SAMPLES_FILE);
  if (!existsSync(file)) return null;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new ConfigError(`${file}: not valid JSON; delete it to compare by p95 alone`);
  }
  const parsed = parseOrThrow(OperationSamplesSchema, value, file);
  return new Map(parsed.operations.map((o) => [`${o.service} ${o.name}`, o.durationsMs]));
}
