import { defineScenario } from '../harness/scenario/scenario-types.ts';

/** Built-in chaos scenario: the LLM holds every answer for 10 s (Toxiproxy timeout): fallback events "Analysis unavailable". */
export default defineScenario({
  name: 'chaos-llm-timeout',
  description: 'the LLM holds every answer for 10 s (Toxiproxy timeout): fallback events "Analysis unavailable"',
  scenarios: {
    load: { executor: 'constant-arrival-rate', rate: 4, timeUnit: '1s', duration: '20s', preAllocatedVUs: 8, maxVUs: 64 },
  },
  cameras: [{ id: 'front_door' }, { id: 'driveway' }, { id: 'backyard' }, { id: 'side_gate', fixtures: 'front_door' }],
  seed: 'chaos-llm-timeout',
  thresholds: { 'http_req_duration{scenario:load}': ['p(95)<5000'] },
  faults: [{ name: 'llm-timeout', at: '4s', duration: '10s', target: 'llm', fault: { type: 'timeout', timeout: 0 } }],
  expectations: [
    { family: 'errors', graceMs: 15000, require: [{ window: 'llm-timeout', service: 'nemotron-backend', name: 'llm_inference', min: 1 }] },
    { family: 'nothing-lost' },
  ],
  stack: {
    backend: { BATCH_IDLE_TIMEOUT_SECONDS: '2', BATCH_WINDOW_SECONDS: '10', BATCH_CHECK_INTERVAL_SECONDS: '0.5', DETECTOR_CB_RECOVERY_SECONDS: '5', NEMOTRON_READ_TIMEOUT: '3', YOLO26_READ_TIMEOUT: '5', NEMOTRON_MAX_RETRIES: '1' },
    llm: { EMULATOR_TIME_SCALE: '0.05' },
  },
  limits: { maxDuration: '2m', maxRequests: 500 },
});
