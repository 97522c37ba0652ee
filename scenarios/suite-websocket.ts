import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { limitsFor, WS_THRESHOLDS } from './lib/hsi-api.ts';

const stages = [
  { duration: '10s', target: 5 },
  { duration: '1m', target: 10 },
  { duration: '10s', target: 0 },
];

/** Suite "websocket" of the real HSI k6 tests: subscribers on /ws/events, 30 s sessions. */
export default defineScenario({
  name: 'suite-websocket',
  description: 'up to 10 /ws/events subscribers, 30 s sessions: connect time, messages, delivery latency',
  scenarios: { subscribers: { executor: 'ramping-vus', startVUs: 0, stages, gracefulStop: '35s', gracefulRampDown: '35s', websocket: 'events', tags: { testSuite: 'websocket' } } },
  cameras: [{ id: 'front_door' }],
  websockets: { events: { path: '/ws/events', sessionDuration: '30s' } },
  thresholds: { ...WS_THRESHOLDS, ws_session_duration: ['avg>2000'], ws_event_latency: ['p(95)<1000'] },
  limits: limitsFor(stages),
});
