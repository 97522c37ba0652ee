import { defineScenario } from '../harness/scenario/scenario-types.ts';

/** Eight cameras at 1 fps each: an open-model constant arrival rate of 8 uploads/s for 60 s. */
export default defineScenario({
  name: 'steady',
  description: '8 cameras at 1 fps (constant-arrival-rate 8/s) for 60 s',
  scenarios: {
    steady: { executor: 'constant-arrival-rate', rate: 8, timeUnit: '1s', duration: '60s', preAllocatedVUs: 8, maxVUs: 64 },
  },
  cameras: [
    { id: 'front_door', fps: 1 },
    { id: 'driveway', fps: 1 },
    { id: 'backyard', fps: 1 },
    { id: 'side_gate', fps: 1, fixtures: 'front_door' },
    { id: 'garage', fps: 1, fixtures: 'driveway' },
    { id: 'patio', fps: 1, fixtures: 'backyard' },
    { id: 'porch', fps: 1, fixtures: 'front_door' },
    { id: 'street', fps: 1, fixtures: 'driveway' },
  ],
  tracing: { sampledFraction: 1 },
  thresholds: {
    // the HSI SLO: 95 % of detect stages under 2 s; the upload answer must be faster still
    'http_req_duration{scenario:steady}': ['p(95)<2000'],
    'http_req_failed{scenario:steady}': [{ threshold: 'rate<0.01', abortOnFail: true, delayAbortEval: '10s' }],
  },
  // Every sampled upload must leave a complete trace in Jaeger (and unsampled ones none).
  expectations: [{ family: 'sampling', checks: ['parent-based', 'no-partial'] }],
  limits: { maxDuration: '3m', maxRequests: 1000 },
});
