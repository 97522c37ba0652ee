import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { apiUsers, HSI_ONLY_REQUESTS, limitsFor, METRICS, PROFILES, SETUP, STANDARD_THRESHOLDS } from './lib/hsi-api.ts';

/** Suite "cameras" of the real HSI k6 tests: list, by id, snapshot (average profile). */
export default defineScenario({
  name: 'suite-cameras',
  description: 'cameras API users: list, get by id, snapshot; average profile',
  scenarios: { cameras: apiUsers(PROFILES.average, { list_cameras: 3, get_camera: 2, camera_snapshot: 2 }, { testSuite: 'cameras' }) },
  cameras: [{ id: 'front_door' }],
  requests: HSI_ONLY_REQUESTS,
  setup: SETUP,
  metrics: METRICS,
  thresholds: { ...STANDARD_THRESHOLDS, 'http_req_duration{name:GET /api/cameras/{camera_id}/snapshot}': ['p(95)<3000'] },
  limits: limitsFor(PROFILES.average),
});
