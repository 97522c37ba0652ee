/**
 * Every built-in chaos scenario, end to end (nightly: `npm run experiments`). Moved here from
 * test/integration/experiments.test.ts, which keeps one of them (chaos-detector-down) as the
 * fast representative in `npm test`; the six together take about 7 minutes.
 */
import { describe, it } from 'vitest';
import { CHAOS_SCENARIOS, expectChaosScenarioHolds } from '../test/integration/experiment-runs.ts';

describe('built-in chaos scenarios', () => {
  for (const name of CHAOS_SCENARIOS) {
    it(`${name}: faults applied and removed within 50 ms of plan, expectations hold`, () => expectChaosScenarioHolds(name));
  }
});
