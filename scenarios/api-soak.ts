import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { profile } from './lib/hsi-api.ts';

/** Load profile "soak" of the real HSI k6 suites, as dashboard/API users (scenarios/lib/hsi-api.ts). */
export default defineScenario(profile('soak', '30 dashboard users for 11.5 min: leaks and drift'));
