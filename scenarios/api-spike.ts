import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { profile } from './lib/hsi-api.ts';

/** Load profile "spike" of the real HSI k6 suites, as dashboard/API users (scenarios/lib/hsi-api.ts). */
export default defineScenario(profile('spike', '5 -> 100 dashboard users in 5 s, held 30 s, back to 5: recovery'));
