import { defineScenario } from '../harness/scenario/scenario-types.ts';

/** Arrival rate ramping from 1/s to 30/s over 2 minutes, held for 30 s: where does latency bend? */
export default defineScenario({
  name: 'ramp',
  description: 'ramping-arrival-rate 1 -> 30 uploads/s over 2 min, then 30/s for 30 s',
  scenarios: {
    ramp: {
      executor: 'ramping-arrival-rate', startRate: 1, timeUnit: '1s', preAllocatedVUs: 10, maxVUs: 200,
      stages: [{ target: 30, duration: '2m' }, { target: 30, duration: '30s' }],
    },
  },
  cameras: [
    { id: 'front_door' }, { id: 'driveway' }, { id: 'backyard' },
    { id: 'side_gate', fixtures: 'front_door' }, { id: 'garage', fixtures: 'driveway' }, { id: 'patio', fixtures: 'backyard' },
  ],
  tracing: { sampledFraction: 0.1 },
  thresholds: {
    'http_req_duration{scenario:ramp}': ['p(95)<2000', 'p(99)<5000'],
    'http_req_failed{scenario:ramp}': [{ threshold: 'rate<0.05', abortOnFail: true, delayAbortEval: '30s' }],
  },
  limits: { maxDuration: '4m', maxRequests: 5000 },
});
