import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CapacityResultSchema } from '../../../harness/capacity/capacity-schema.ts';
import type { CapacityResult } from '../../../harness/capacity/capacity-types.ts';
import { compareRuns } from '../../../harness/report/compare.ts';
import { makeModel } from '../report/fixture-model.ts';

/** A capacity.json of a real run (the short integration search), read through its schema. */
const recorded: CapacityResult = CapacityResultSchema.parse(JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'capacity', 'capacity-result.json'), 'utf8')));

function withKnee(uploadsPerSec: number | null, runId: string) {
  const capacity: CapacityResult = { ...recorded, runId, knee: { ...recorded.knee, uploadsPerSec } };
  return makeModel({ runId, capacity });
}

describe('compare: a capacity regression', () => {
  const knee = (c: ReturnType<typeof compareRuns>) => c.metrics.find((m) => m.metric === 'capacity knee (uploads/s)');

  it('a knee that dropped beyond the throughput tolerance is a regression', () => {
    const c = compareRuns(withKnee(2.0, 'cur'), withKnee(2.625, 'base'));
    expect(knee(c)).toMatchObject({ verdict: 'regressed', baseline: 2.625, current: 2 });
    expect(c.verdict).toBe('regressed');
  });

  it('the same knee is unchanged; a higher one improved', () => {
    expect(knee(compareRuns(withKnee(2.625, 'cur'), withKnee(2.625, 'base')))!.verdict).toBe('unchanged');
    expect(knee(compareRuns(withKnee(5.25, 'cur'), withKnee(2.625, 'base')))!.verdict).toBe('improved');
  });

  it('no knee on either side is not comparable; runs without a search have no capacity row', () => {
    expect(knee(compareRuns(withKnee(null, 'cur'), withKnee(2.625, 'base')))!.comparable).toBe(false);
    expect(knee(compareRuns(makeModel({ runId: 'a' }), makeModel({ runId: 'b' })))).toBeUndefined();
  });
});
