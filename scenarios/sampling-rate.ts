import { defineScenario } from '../harness/scenario/scenario-types.ts';

/**
 * Sampling at rate 0.1 over 2,000 requests: 10 % of requests carry the sampled flag;
 * a parent-based sampler must keep exactly those, whole, and nothing else.
 */
export default defineScenario({
  name: 'sampling-rate',
  description: '2,000 uploads at 40/s, 10 % sent sampled; observed rate within a 99 % Wilson interval, parent-based, no partial traces',
  scenarios: {
    load: { executor: 'constant-arrival-rate', rate: 40, timeUnit: '1s', duration: '50s', preAllocatedVUs: 32, maxVUs: 256 },
  },
  cameras: [
    { id: 'front_door' }, { id: 'driveway' }, { id: 'backyard' },
    { id: 'side_gate', fixtures: 'front_door' }, { id: 'garage', fixtures: 'driveway' }, { id: 'patio', fixtures: 'backyard' },
  ],
  tracing: { sampledFraction: 0.1 },
  seed: 'sampling-rate',
  faults: [],
  expectations: [{ family: 'sampling', rate: 0.1, include: 'all', checks: ['rate', 'parent-based', 'no-partial'] }],
  stack: {
    backend: { BATCH_IDLE_TIMEOUT_SECONDS: '2', BATCH_WINDOW_SECONDS: '10', BATCH_CHECK_INTERVAL_SECONDS: '0.5', DETECTION_WORKERS: '4' },
    detector: { EMULATOR_GPU_SLOTS: '4', EMULATOR_SERVICE_MEAN_MS: '20', EMULATOR_SERVICE_P95_MS: '40' },
    llm: { EMULATOR_TIME_SCALE: '0.02', EMULATOR_LLM_SLOTS: '4' },
  },
  limits: { maxDuration: '3m', maxRequests: 2500 },
});
