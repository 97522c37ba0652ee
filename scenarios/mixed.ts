import { defineScenario } from '../harness/scenario/scenario-types.ts';
import { DASHBOARD_MIX, DASHBOARD_REQUESTS, METRICS, SETUP } from './lib/hsi-api.ts';

/**
 * A realistic mix on the reference stack: cameras uploading, dashboard users reading the API
 * with think time, and /ws/events subscribers, side by side, every threshold evaluated.
 */
export default defineScenario({
  name: 'mixed',
  description: '3 cameras at 2 fps + 4 dashboard users + 3 /ws/events subscribers for 30 s',
  scenarios: {
    cameras: { executor: 'constant-arrival-rate', rate: 6, timeUnit: '1s', duration: '30s', preAllocatedVUs: 6, maxVUs: 30, gracefulStop: '10s' },
    dashboard: { executor: 'constant-vus', vus: 4, duration: '30s', gracefulStop: '10s', requests: DASHBOARD_MIX, thinkTime: { min: '500ms', max: '2500ms' } },
    subscribers: { executor: 'constant-vus', vus: 3, duration: '30s', gracefulStop: '15s', websocket: 'events' },
  },
  cameras: [{ id: 'front_door' }, { id: 'driveway' }, { id: 'backyard' }],
  requests: DASHBOARD_REQUESTS,
  setup: SETUP,
  metrics: METRICS,
  websockets: { events: { path: '/ws/events', sessionDuration: '10s' } },
  tracing: { sampledFraction: 1 },
  thresholds: {
    'http_req_duration{scenario:cameras}': ['p(95)<2000'],
    'http_req_failed{scenario:cameras}': ['rate<0.01'],
    'http_req_duration{scenario:dashboard}': ['p(95)<2000'],
    'http_req_failed{scenario:dashboard}': ['rate<0.01'],
    'checks{check:status is 200}': ['rate>0.99'],
    event_list_duration: ['p(95)<2000'],
    ws_connecting: ['p(95)<1000'],
    'ws_sessions{status:101}': ['count>=3'],
    'ws_sessions{status:0}': ['count<1'],
    // events must reach the subscribers (fails when /ws/events stays silent)
    ws_msgs_received: ['count>0'],
    ws_event_latency: ['p(95)<2000'],
    http_req_waiting: ['p(95)<2000'],
  },
  limits: { maxDuration: '1m', maxRequests: 2000 },
  // short batches, so events (and their /ws/events messages) appear within the 30 s
  stack: { backend: { BATCH_WINDOW_SECONDS: '5', BATCH_IDLE_TIMEOUT_SECONDS: '3' } },
});
