import type { z } from 'zod';
import type { DialectChoice } from '../contract/dialects.ts';
import type { EvidenceEndpoints } from '../experiment/evaluator.ts';

/**
 * `hsi-chaos conform`: each way a live stack differs from the HSI contract is one Difference,
 * printed as one line: the area, where (a route, a Redis key, a span), what, expected vs seen.
 * Pure: the checks (assertions/hsi/conform/conform-runner.ts, injected into the CLI like the
 * experiment evaluator) gather the answers and turn them into these.
 */
export type ConformArea = 'api' | 'queue' | 'dlq' | 'spans' | 'context' | 'websocket';

export interface Difference {
  area: ConformArea;
  where: string;
  what: string;
  expected: string;
  seen: string;
}

/** What was checked, and how it came out (a skipped check names why). */
export interface ConformCheck {
  area: ConformArea;
  where: string;
  status: 'ok' | 'differs' | 'skipped';
  note?: string;
}

export function formatDifference(d: Difference): string {
  return `${d.area.padEnd(9)} ${d.where}: ${d.what}: expected ${d.expected}, seen ${d.seen}`;
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let here: unknown = value;
  for (const key of path) {
    if (here === null || typeof here !== 'object') return undefined;
    here = (here as Record<PropertyKey, unknown>)[key as string];
  }
  return here;
}

/** A value as a short text: `missing`, `null`, `string "abc"`, `number 3`, `object`, `array(2)`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `array(${value.length})`;
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'object') return 'object';
  return `${typeof value} ${String(value)}`;
}

function pathText(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(body)' : path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('').replace(/^\./, '');
}

/** Every issue of `schema` on `value` (at most `max`), one difference each, with what the field held. */
export function schemaDifferences(area: ConformArea, where: string, schema: z.ZodType, value: unknown, max = 10): Difference[] {
  const result = schema.safeParse(value);
  if (result.success) return [];
  // The same issue in every item of a list is one difference: the first item, and how many more.
  const byShape = new Map<string, { difference: Difference; more: number }>();
  for (const issue of result.error.issues) {
    const field = pathText(issue.path);
    const shape = field.replace(/\[\d+\]/g, '[]');
    const known = byShape.get(shape);
    if (known) {
      known.more += 1;
      continue;
    }
    if (byShape.size >= max) continue;
    const expected = issue.code === 'invalid_type' ? String(issue.expected) : issue.message;
    byShape.set(shape, { difference: { area, where, what: `field ${field}`, expected, seen: describeValue(valueAt(value, issue.path)) }, more: 0 });
  }
  return [...byShape.values()].map(({ difference, more }) => (more === 0 ? difference : { ...difference, what: `${difference.what} (and ${more} more item${more === 1 ? '' : 's'})` }));
}

export interface ConformReport {
  schemaVersion: 1;
  kind: 'conform';
  backendUrl: string;
  dialect: string;
  /** How the dialect was chosen: the flag, or what detection saw. */
  dialectSource: string;
  startedAt: string;
  finishedAt?: string;
  checks: ConformCheck[];
  differences: Difference[];
  /** The traced upload conform followed (trace id, file path). */
  upload?: { traceId: string; filePath?: string; cameraId: string };
  notes: string[];
}

/** A check's result folded into the report: its differences, and one check row. */
export function record(report: ConformReport, area: ConformArea, where: string, differences: readonly Difference[], note?: string): void {
  report.differences.push(...differences);
  report.checks.push({ area, where, status: differences.length > 0 ? 'differs' : 'ok', ...(note !== undefined ? { note } : {}) });
}

export function skip(report: ConformReport, area: ConformArea, where: string, note: string): void {
  report.checks.push({ area, where, status: 'skipped', note });
}

export interface ConformOptions {
  endpoints: EvidenceEndpoints;
  dialect: DialectChoice;
  fixturesDir: string;
  /** Sent as the dialect's API key header. */
  apiKey?: string;
  /** How long to wait for the upload's event; default 60 000 ms (the real HSI closes a batch 30 s after its last detection). */
  eventTimeoutMs?: number;
  log: (line: string) => void;
}

/** What the CLI's entry point injects for `hsi-chaos conform` (the checks use the assertion presets). */
export type ContractChecker = (options: ConformOptions) => Promise<ConformReport>;
