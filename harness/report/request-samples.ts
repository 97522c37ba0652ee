import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { describeIssue } from '../config/validation.ts';
import { ConfigError } from '../errors.ts';

/**
 * Per-request samples of a run, for the U test of `compare`: `results/<run-id>/requests.ndjson`,
 * one JSON object per request with at least `{latencyMs, status}` (the load driver's
 * LoadRequestRecord and the upload client's UploadRecord both have them; other fields are
 * ignored). A request failed when its status is
 * 0 (no answer) or ≥ 400, or when the line says `accepted: false` / `ok: false`.
 */
export const REQUESTS_FILE = 'requests.ndjson';

const RequestLineSchema = z.looseObject({
  latencyMs: z.number().nonnegative(),
  status: z.number().int(),
  accepted: z.boolean().optional(),
  ok: z.boolean().optional(),
});

export interface RequestSamples {
  file: string;
  /** Latency of every request (failed ones included, as k6's http_req_duration does), in file order. */
  latenciesMs: number[];
  failed: number;
  total: number;
  /** A last line cut short by a killed run is skipped, and counted here. */
  skippedPartialLines: number;
}

export function parseRequestSamples(text: string, file: string): RequestSamples {
  const lines = text.split('\n');
  const latenciesMs: number[] = [];
  let failed = 0;
  let skippedPartialLines = 0;
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    const isLast = lines.slice(index + 1).every((l) => l.trim() === '');
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (isLast && !text.endsWith('\n')) {
        skippedPartialLines += 1;
        return;
      }
      throw new ConfigError(`${file}:${index + 1}: not valid JSON`);
    }
    const parsed = RequestLineSchema.safeParse(value);
    if (!parsed.success) throw new ConfigError(describeIssue(`${file}:${index + 1}`, parsed.error));
    const r = parsed.data;
    latenciesMs.push(r.latencyMs);
    if (r.status === 0 || r.status >= 400 || r.accepted === false || r.ok === false) failed += 1;
  });
  return { file, latenciesMs, failed, total: latenciesMs.length, skippedPartialLines };
}

/** The run folder's requests.ndjson, or null when the run has none. */
export function readRequestSamples(runDir: string): RequestSamples | null {
  const file = join(runDir, REQUESTS_FILE);
  if (!existsSync(file)) return null;
  return parseRequestSamples(readFileSync(file, 'utf8'), file);
}
