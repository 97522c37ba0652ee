import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { profile } from './lib/hsi-api.ts';

/** Load profile "stress" of the real HSI k6 suites, as dashboard/API users (scenarios/lib/hsi-api.ts). */
export default defineScenario(profile('stress', 'up to 100 dashboard users over 5 min: where does it break?'));
