import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { apiUsers, HSI_ONLY_REQUESTS, limitsFor, METRICS, SETUP, STANDARD_THRESHOLDS } from './lib/hsi-api.ts';

const stages = [
  { duration: '20s', target: 5 },
  { duration: '1m', target: 5 },
  { duration: '10s', target: 0 },
];

/** Suite "mutations" of the real HSI k6 tests: mark events reviewed, create cameras, frontend logs (lighter load). */
export default defineScenario({
  name: 'suite-mutations',
  description: 'write users: PATCH events (reviewed), POST cameras, POST frontend logs; 5 VUs',
  scenarios: { mutations: apiUsers(stages, { review_event: 2, create_camera: 1, frontend_log: 1 }, { testSuite: 'mutations' }) },
  cameras: [{ id: 'front_door' }],
  requests: HSI_ONLY_REQUESTS,
  setup: SETUP,
  metrics: METRICS,
  thresholds: {
    ...STANDARD_THRESHOLDS,
    mutation_create_duration: ['p(95)<5000', 'avg<2500'],
    mutation_update_duration: ['p(95)<2500', 'avg<1250'],
    mutation_ok: ['rate>0.95'],
    'http_req_duration{type:mutation}': ['p(95)<2500'],
  },
  limits: limitsFor(stages),
});
