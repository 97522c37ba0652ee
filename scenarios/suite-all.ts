import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { apiUsers, DASHBOARD_MIX, DASHBOARD_REQUESTS, HSI_ONLY_REQUESTS, limitsFor, METRICS, PROFILES, SETUP, STANDARD_THRESHOLDS, WS_THRESHOLDS } from './lib/hsi-api.ts';

/** Suite "all" of the real HSI k6 tests: every API area plus WebSocket subscribers (average profile). */
export default defineScenario({
  name: 'suite-all',
  description: 'dashboard, cameras and mutation users plus /ws/events subscribers; average profile',
  scenarios: {
    dashboard: apiUsers(PROFILES.average, DASHBOARD_MIX, { testSuite: 'all' }),
    cameras: apiUsers(PROFILES.average, { list_cameras: 2, get_camera: 1 }, { testSuite: 'all' }),
    mutations: apiUsers(PROFILES.average, { review_event: 1 }, { testSuite: 'all' }),
    subscribers: { executor: 'constant-vus', vus: 5, duration: '2m', gracefulStop: '35s', websocket: 'events' },
  },
  cameras: [{ id: 'front_door' }],
  requests: { ...DASHBOARD_REQUESTS, ...HSI_ONLY_REQUESTS },
  setup: SETUP,
  metrics: METRICS,
  websockets: { events: { path: '/ws/events', sessionDuration: '30s' } },
  thresholds: { ...STANDARD_THRESHOLDS, ...WS_THRESHOLDS, 'http_req_duration{type:api}': ['p(95)<2000'] },
  limits: limitsFor(PROFILES.average),
});
