import { describeIssue } from '../config/validation.ts';
import type { RunReportModel } from './report-model.ts';
import { RunReportModelSchema, SUMMARY_FILE } from './report-schema.ts';
import type { RunResults } from '../util/run-results.ts';

/**
 * `summary.json`: the model itself (schemaVersion inside), written atomically. The model
 * is checked against the schema readers use; a model that would not read back (a NaN
 * that JSON turns into null, a missing field) is still written, so the run keeps its
 * data, and then reported as the bug it is.
 */
export function writeSummaryJson(results: RunResults, model: RunReportModel): string {
  const path = results.writeJson(SUMMARY_FILE, model);
  const roundTrip: unknown = JSON.parse(JSON.stringify(model));
  const check = RunReportModelSchema.safeParse(roundTrip);
  if (!check.success) throw new Error(`report model does not validate (a bug in the run's report assembly): ${describeIssue(path, check.error)}`);
  return path;
}
