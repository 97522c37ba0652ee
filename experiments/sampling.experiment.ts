/**
 * Sampling over 2,000 requests (nightly: `npm run experiments`). Moved here from
 * test/integration/sampling-and-compare.test.ts, which keeps a 400-request run of the same
 * checks (test/fixtures/scenarios/sampling-short.ts) as the fast representative in `npm test`.
 * At 2,000 requests the Wilson interval is tight enough to catch a sampler a few points off.
 */
import { describe, it } from 'vitest';
import { expectSamplingChecksHold } from '../test/integration/experiment-runs.ts';

describe('sampling over 2,000 requests', () => {
  it('rate 0.1 passes the Wilson check, parent-based consistency and no partial traces; the sampler defect fails them', () => expectSamplingChecksHold('sampling-rate', 2000));
});
