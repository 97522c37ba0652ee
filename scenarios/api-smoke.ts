import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { profile } from './lib/hsi-api.ts';

/** Load profile "smoke" of the real HSI k6 suites, as dashboard/API users (scenarios/lib/hsi-api.ts). */
export default defineScenario(profile('smoke', '1 dashboard user for 10 s: does every API route answer?'));
