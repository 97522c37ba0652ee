import { defineScenario } from '../harness/scenario/scenario-types.ts';

/** 5/s, a spike to 80/s for 10 s, back to 5/s: does the pipeline recover? */
export default defineScenario({
  name: 'spike',
  description: 'ramping-arrival-rate 5/s for 30 s, up to 80/s in 5 s, 10 s at 80/s, down to 5/s for 30 s',
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate', startRate: 5, timeUnit: '1s', preAllocatedVUs: 20, maxVUs: 400,
      stages: [
        { target: 5, duration: '30s' },
        { target: 80, duration: '5s' },
        { target: 80, duration: '10s' },
        { target: 5, duration: '5s' },
        { target: 5, duration: '30s' },
      ],
    },
  },
  cameras: [
    { id: 'front_door' }, { id: 'driveway' }, { id: 'backyard' },
    { id: 'side_gate', fixtures: 'front_door' }, { id: 'garage', fixtures: 'driveway' }, { id: 'patio', fixtures: 'backyard' },
    { id: 'porch', fixtures: 'front_door' }, { id: 'street', fixtures: 'driveway' },
  ],
  tracing: { sampledFraction: 0.1, baggage: { 'event.priority': 'high' } },
  thresholds: {
    'http_req_failed{scenario:spike}': ['rate<0.05'],
    'http_req_duration{scenario:spike}': ['p(99)<10000'],
  },
  limits: { maxDuration: '3m', maxRequests: 3000 },
});
