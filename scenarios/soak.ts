import { defineScenario } from '../harness/scenario/scenario-types.ts';

/** A bounded soak: 4 cameras at 1 fps for 10 minutes (hard stop at 11 min, 3000 requests). */
export default defineScenario({
  name: 'soak',
  description: '4 cameras at 1 fps (constant-arrival-rate 4/s) for 10 min',
  scenarios: {
    soak: { executor: 'constant-arrival-rate', timeUnit: '1s', duration: '10m', preAllocatedVUs: 4, maxVUs: 64 },
  },
  cameras: [
    { id: 'front_door', fps: 1 },
    { id: 'driveway', fps: 1 },
    { id: 'backyard', fps: 1 },
    { id: 'side_gate', fps: 1, fixtures: 'front_door' },
  ],
  tracing: { sampledFraction: 0.5 },
  thresholds: {
    'http_req_duration{scenario:soak}': ['p(95)<2000'],
    'http_req_failed{scenario:soak}': [{ threshold: 'rate<0.01', abortOnFail: true, delayAbortEval: '1m' }],
  },
  limits: { maxDuration: '11m', maxRequests: 3000 },
});
