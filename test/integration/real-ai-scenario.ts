import { defineScenario } from '../../harness/scenario/scenario-types.ts';

/** The CI's real-inference run: a few uploads through the real detector and llama.cpp, events checked. */
export default defineScenario({
  name: 'real-ai-smoke',
  description: '2 cameras at 1 fps for 6 s through the real engines; batches close fast so every upload gets its event',
  scenarios: {
    steady: { executor: 'constant-arrival-rate', rate: 2, timeUnit: '1s', duration: '6s', preAllocatedVUs: 4, maxVUs: 8 },
  },
  cameras: [{ id: 'front_door', fps: 1 }, { id: 'backyard', fps: 1 }],
  seed: 'real-ai-smoke',
  thresholds: { 'http_req_failed{scenario:steady}': ['rate<0.01'] },
  expectations: [
    { family: 'span-tree', builtin: 'hsi-upload' },
    { family: 'nothing-lost' },
  ],
  stack: {
    ai: 'real',
    backend: { BATCH_IDLE_TIMEOUT_SECONDS: '1', BATCH_WINDOW_SECONDS: '3', BATCH_CHECK_INTERVAL_SECONDS: '0.5' },
  },
  limits: { maxDuration: '1m', maxRequests: 100 },
});
