import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { apiUsers, DASHBOARD_REQUESTS, limitsFor, METRICS, PROFILES, SETUP, STANDARD_THRESHOLDS } from './lib/hsi-api.ts';

/** Suite "redis" of the real HSI k6 tests: the Redis-backed reads (queue status, DLQ, health) under load. */
export default defineScenario({
  name: 'suite-redis',
  description: 'Redis-backed reads: queue status, DLQ stats, health; average profile',
  scenarios: { redis: apiUsers(PROFILES.average, { queue_status: 3, dlq_stats: 2, system_health: 1 }, { testSuite: 'redis' }) },
  cameras: [{ id: 'front_door' }],
  requests: {
    ...DASHBOARD_REQUESTS,
    dlq_stats: { method: 'GET', path: '/api/dlq/stats', tags: { type: 'system' }, checks: { 'status is 200': { status: 200 } } },
  },
  setup: SETUP,
  metrics: METRICS,
  thresholds: { ...STANDARD_THRESHOLDS, 'http_req_duration{type:system}': ['p(95)<500'] },
  limits: limitsFor(PROFILES.average),
});
