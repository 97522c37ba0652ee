import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { profile } from './lib/hsi-api.ts';

/** Load profile "average" of the real HSI k6 suites, as dashboard/API users (scenarios/lib/hsi-api.ts). */
export default defineScenario(profile('average', '10 dashboard users for 2 min (typical traffic)'));
