import { defineScenario } from '../harness/scenario/scenario-types.ts';

/**
 * Motion everywhere at once: a background of 4 cameras at 1 fps, then 12 cameras each push a
 * burst of 10 frames back to back (per-vu-iterations, one VU per camera) at t = 10 s.
 */
const burstCameras = [
  'front_door', 'driveway', 'backyard', 'side_gate', 'garage', 'patio',
  'porch', 'street', 'mailbox', 'shed', 'pool', 'alley',
] as const;
const folders = ['front_door', 'driveway', 'backyard'] as const;

export default defineScenario({
  name: 'motion-burst',
  description: 'background 4/s for 40 s; at 10 s twelve cameras send 10 frames each as fast as answers come',
  scenarios: {
    background: {
      executor: 'constant-arrival-rate', rate: 4, timeUnit: '1s', duration: '40s', preAllocatedVUs: 4, maxVUs: 32,
      cameras: ['front_door', 'driveway', 'backyard', 'side_gate'],
    },
    burst: {
      executor: 'per-vu-iterations', vus: 12, iterations: 10, startTime: '10s', maxDuration: '30s', gracefulStop: '10s',
      cameras: [...burstCameras],
    },
  },
  cameras: burstCameras.map((id, i) => ({ id, fixtures: folders[i % folders.length] })),
  thresholds: {
    'http_req_duration{scenario:background}': ['p(95)<2000'],
    'http_req_failed{scenario:burst}': ['rate<0.05'],
  },
  limits: { maxDuration: '2m', maxRequests: 1000 },
});
