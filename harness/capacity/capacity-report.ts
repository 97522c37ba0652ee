import type { CapacityResult } from './capacity-types.ts';

/** What the run report (summary.json, report.html, summary.md, JUnit) carries of a capacity search. */
export function capacityReportView(result: CapacityResult): CapacityResult {
  return structuredClone(result);
}
