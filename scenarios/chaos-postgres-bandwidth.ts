import { defineScenario } from '../harness/scenario/scenario-types.ts';

/** Built-in chaos scenario: PostgreSQL is squeezed to 4 KB/s for 8 s (Toxiproxy bandwidth). */
export default defineScenario({
  name: 'chaos-postgres-bandwidth',
  description: 'PostgreSQL is squeezed to 4 KB/s for 8 s (Toxiproxy bandwidth)',
  scenarios: {
    load: { executor: 'constant-arrival-rate', rate: 4, timeUnit: '1s', duration: '20s', preAllocatedVUs: 8, maxVUs: 64 },
  },
  cameras: [{ id: 'front_door' }, { id: 'driveway' }, { id: 'backyard' }, { id: 'side_gate', fixtures: 'front_door' }],
  seed: 'chaos-postgres-bandwidth',
  thresholds: { 'http_req_duration{scenario:load}': ['p(95)<5000'] },
  faults: [{ name: 'postgres-slow', at: '5s', duration: '8s', target: 'postgres', fault: { type: 'bandwidth', rate: 4 } }],
  expectations: [
    { family: 'errors', graceMs: 15000 },
    { family: 'nothing-lost' },
  ],
  stack: {
    backend: { BATCH_IDLE_TIMEOUT_SECONDS: '2', BATCH_WINDOW_SECONDS: '10', BATCH_CHECK_INTERVAL_SECONDS: '0.5', DETECTOR_CB_RECOVERY_SECONDS: '5', NEMOTRON_READ_TIMEOUT: '3', YOLO26_READ_TIMEOUT: '5' },
    llm: { EMULATOR_TIME_SCALE: '0.05' },
  },
  limits: { maxDuration: '2m', maxRequests: 500 },
});
