import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { limitsFor, WS_THRESHOLDS } from './lib/hsi-api.ts';

const stages = [
  { duration: '30s', target: 50 },
  { duration: '1m', target: 200 },
  { duration: '1m', target: 200 },
  { duration: '30s', target: 0 },
];

/** Suite "websocket-scale" of the real HSI k6 tests: many concurrent /ws/events subscribers. */
export default defineScenario({
  name: 'suite-websocket-scale',
  description: 'up to 200 concurrent /ws/events subscribers, 60 s sessions',
  scenarios: { subscribers: { executor: 'ramping-vus', startVUs: 0, stages, gracefulStop: '65s', gracefulRampDown: '65s', websocket: 'events', tags: { testSuite: 'websocket-scale' } } },
  cameras: [{ id: 'front_door' }],
  websockets: { events: { path: '/ws/events', sessionDuration: '60s' } },
  thresholds: { ...WS_THRESHOLDS, ws_event_latency: ['p(95)<2000'] },
  limits: limitsFor(stages),
});
