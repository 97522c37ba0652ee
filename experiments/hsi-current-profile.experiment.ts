/**
 * Every built-in chaos scenario on both reference-stack profiles (nightly: `npm run experiments`):
 * `reference` (the expectations hold, as in chaos-scenarios.experiment.ts) and `hsi-current` (the
 * real HSI's behaviour: the run completes and names its profile; expectations written for the
 * reference behaviour that fail there are printed as findings). About 14 minutes.
 * `npm test` keeps test/integration/hsi-current-profile.test.ts as the fast representative.
 */
import { describe, expect, it } from 'vitest';
import { STACK_PROFILES } from '../harness/contract/profiles.ts';
import { CHAOS_SCENARIOS, runChaosScenarioOnProfile } from '../test/integration/experiment-runs.ts';

describe('built-in chaos scenarios on both profiles', () => {
  for (const name of CHAOS_SCENARIOS) {
    for (const profile of STACK_PROFILES) {
      it(`${name} on ${profile}`, async () => {
        const failed = await runChaosScenarioOnProfile(name, profile);
        if (profile === 'reference') expect(failed).toEqual([]);
        else if (failed.length > 0) process.stdout.write(`[${name} on hsi-current] expectations that differ:\n  ${failed.join('\n  ')}\n`);
      });
    }
  }
});
