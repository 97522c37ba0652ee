import { defineScenario } from '../harness/scenario/scenario-types.ts';

/** Built-in chaos scenario: the LLM answers 503 to 20 % of requests for 12 s (emulator fault, per request). */
export default defineScenario({
  name: 'chaos-llm-503-burst',
  description: 'the LLM answers 503 to 20 % of requests for 12 s (emulator fault, per request)',
  scenarios: {
    load: { executor: 'constant-arrival-rate', rate: 4, timeUnit: '1s', duration: '20s', preAllocatedVUs: 8, maxVUs: 64 },
  },
  cameras: [{ id: 'front_door' }, { id: 'driveway' }, { id: 'backyard' }, { id: 'side_gate', fixtures: 'front_door' }],
  seed: 'chaos-llm-503-burst',
  thresholds: { 'http_req_duration{scenario:load}': ['p(95)<5000'] },
  faults: [{ name: 'llm-503', at: '3s', duration: '12s', target: 'llm', fault: { type: 'emulator', error_rate: 0.2, status_code: 503, seed: 7 } }],
  expectations: [
    { family: 'errors', graceMs: 10000 },
    { family: 'nothing-lost' },
  ],
  stack: {
    backend: { BATCH_IDLE_TIMEOUT_SECONDS: '2', BATCH_WINDOW_SECONDS: '10', BATCH_CHECK_INTERVAL_SECONDS: '0.5', DETECTOR_CB_RECOVERY_SECONDS: '5', NEMOTRON_READ_TIMEOUT: '3', YOLO26_READ_TIMEOUT: '5' },
    llm: { EMULATOR_TIME_SCALE: '0.05' },
  },
  limits: { maxDuration: '2m', maxRequests: 500 },
});
