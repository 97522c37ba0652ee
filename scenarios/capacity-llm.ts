import { defineScenario } from '../harness/scenario/scenario-types.ts';

/**
 * Capacity (hsi-chaos capacity): an LLM-bound stack. Every upload closes its own batch
 * (BATCH_MAX_DETECTIONS=1), so each upload costs one LLM call; the emulated LLM has one slot
 * and generates a fixed 40 tokens at 100 tokens/s (prefill negligible): 400 ms per call,
 * 2.5 calls/s (its /health prints analytic_capacity_rps). The detector (1 slot × 20 ms, 50/s)
 * and the workers have room.
 */
export default defineScenario({
  name: 'capacity-llm',
  description: 'capacity search, LLM-bound: 1 upload per batch, 1 LLM slot × 400 ms = 2.5 analyses/s (cameras at 0.25 fps)',
  scenarios: {
    capacity: { executor: 'constant-arrival-rate', rate: 2, timeUnit: '1s', duration: '20s', preAllocatedVUs: 8, maxVUs: 64 },
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
    backend: { DETECTION_WORKERS: '4', ANALYSIS_WORKERS: '6', AI_MAX_CONCURRENT_INFERENCES: '32', BATCH_MAX_DETECTIONS: '1', BATCH_CHECK_INTERVAL_SECONDS: '0.5' },
    detector: { EMULATOR_GPU_SLOTS: '1', EMULATOR_SERVICE_MEAN_MS: '20', EMULATOR_SERVICE_P95_MS: '30', EMULATOR_SEED: 'capacity' },
    llm: {
      EMULATOR_LLM_SLOTS: '1',
      EMULATOR_PREFILL_TOKENS_PER_S: '1000000',
      EMULATOR_DECODE_TOKENS_PER_S: '100',
      EMULATOR_COMPLETION_TOKENS_MEAN: '40',
      EMULATOR_COMPLETION_TOKENS_SIGMA: '0',
      EMULATOR_SEED: 'capacity',
    },
  },
  limits: { maxDuration: '10m', maxRequests: 100000 },
});
