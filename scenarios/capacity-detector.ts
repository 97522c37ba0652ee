import { defineScenario } from '../harness/scenario/scenario-types.ts';

/**
 * Capacity (hsi-chaos capacity): a detector-bound stack. The emulated GPU runs one inference at
 * a time for 320 ms on average, so it saturates at 3.125 images/s (its /health prints
 * analytic_capacity_rps); everything else has room (4 detection workers, 16 AI calls at once,
 * the LLM 20x faster than real). The rates stay far below what the CPU of a small CI machine
 * can do, so the knee is the emulated GPU's, not CPU contention's. The search's steps replace the load below: cameras of this
 * mix at their fps, at the rate each step measures.
 */
export default defineScenario({
  name: 'capacity-detector',
  description: 'capacity search, detector-bound: 1 emulated GPU slot × 320 ms = 3.125 images/s (cameras at 0.25 fps)',
  scenarios: {
    capacity: { executor: 'constant-arrival-rate', rate: 4, timeUnit: '1s', duration: '20s', preAllocatedVUs: 8, maxVUs: 64 },
  },
  cameras: [
    { id: 'front_door', fps: 0.25 },
    { id: 'driveway', fps: 0.25 },
    { id: 'backyard', fps: 0.25 },
    { id: 'side_gate', fps: 0.25, fixtures: 'front_door' },
  ],
  tracing: { sampledFraction: 1 },
  thresholds: {
    'http_req_failed{scenario:capacity}': ['rate<0.01'],
    'http_req_duration{scenario:capacity}': ['p(95)<2000'],
  },
  stack: {
    backend: { DETECTION_WORKERS: '4', ANALYSIS_WORKERS: '2', AI_MAX_CONCURRENT_INFERENCES: '16', BATCH_WINDOW_SECONDS: '10', BATCH_IDLE_TIMEOUT_SECONDS: '5', BATCH_CHECK_INTERVAL_SECONDS: '0.5' },
    detector: { EMULATOR_GPU_SLOTS: '1', EMULATOR_SERVICE_MEAN_MS: '320', EMULATOR_SERVICE_P95_MS: '480', EMULATOR_SEED: 'capacity' },
    llm: { EMULATOR_TIME_SCALE: '0.05', EMULATOR_SEED: 'capacity' },
  },
  limits: { maxDuration: '10m', maxRequests: 100000 },
});
