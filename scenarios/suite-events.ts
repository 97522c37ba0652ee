import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { apiUsers, DASHBOARD_REQUESTS, HSI_ONLY_REQUESTS, limitsFor, METRICS, PROFILES, SETUP, STANDARD_THRESHOLDS } from './lib/hsi-api.ts';

/** Suite "events" of the real HSI k6 tests: list, by id, stats, search (average profile). */
export default defineScenario({
  name: 'suite-events',
  description: 'events API users: list, get by id, stats, search; average profile',
  scenarios: { events: apiUsers(PROFILES.average, { list_events: 4, get_event: 3, event_stats: 2, event_search: 1 }, { testSuite: 'events' }) },
  cameras: [{ id: 'front_door' }],
  requests: { ...DASHBOARD_REQUESTS, ...HSI_ONLY_REQUESTS },
  setup: SETUP,
  metrics: METRICS,
  thresholds: { ...STANDARD_THRESHOLDS, event_list_duration: ['p(95)<2000'], 'checks{check:status is 200}': ['rate>0.95'] },
  limits: limitsFor(PROFILES.average),
});
