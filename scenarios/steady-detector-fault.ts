import { defineScenario } from '../harness/scenario/scenario-types.ts';

/**
 * The default experiment (the README's main job): steady camera uploads, one detector
 * fault in the middle, and every assertion family. Batches close fast so the pipeline
 * drains in seconds; everything else follows the contract's defaults.
 */
export default defineScenario({
  name: 'steady-detector-fault',
  description: '4 cameras at 1 fps for 45 s; the detector answers 600 ms slower from 15 s to 25 s; all assertion families',
  scenarios: {
    steady: { executor: 'constant-arrival-rate', rate: 4, timeUnit: '1s', duration: '45s', preAllocatedVUs: 8, maxVUs: 64 },
  },
  cameras: [
    { id: 'front_door', fps: 1 },
    { id: 'driveway', fps: 1 },
    { id: 'backyard', fps: 1 },
    { id: 'side_gate', fps: 1, fixtures: 'front_door' },
  ],
  // A few requests go out unsampled, so parent-based sampling is checked both ways.
  tracing: { sampledFraction: 0.9 },
  seed: 'steady-detector-fault',
  thresholds: {
    'http_req_duration{scenario:steady}': ['p(95)<2000'],
    'http_req_failed{scenario:steady}': ['rate<0.01'],
  },
  faults: [{ name: 'detector-slow', at: '15s', duration: '10s', target: 'detector', fault: { type: 'latency', latency: 600, jitter: 100 } }],
  expectations: [
    { family: 'span-tree', builtin: 'hsi-upload' },
    { family: 'propagation', hops: 'hsi', baggage: 'hsi', stitching: true },
    { family: 'sampling', checks: ['parent-based', 'no-partial'] },
    { family: 'latency' },
    { family: 'errors' },
    { family: 'nothing-lost' },
  ],
  stack: {
    backend: { BATCH_IDLE_TIMEOUT_SECONDS: '2', BATCH_WINDOW_SECONDS: '10', BATCH_CHECK_INTERVAL_SECONDS: '0.5' },
    llm: { EMULATOR_TIME_SCALE: '0.05' },
  },
  limits: { maxDuration: '2m', maxRequests: 1000 },
});
