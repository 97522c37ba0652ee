import { defineScenario } from '../harness/scenario/scenario-types.ts';

/** One upload per fixture camera, one VU: does the path work at all? */
export default defineScenario({
  name: 'smoke',
  description: 'one upload for each of the three fixture cameras, sequentially',
  scenarios: {
    smoke: { executor: 'shared-iterations', vus: 1, iterations: 3, maxDuration: '30s', gracefulStop: '10s' },
  },
  cameras: [{ id: 'front_door' }, { id: 'driveway' }, { id: 'backyard' }],
  thresholds: {
    http_req_failed: ['rate==0'],
    http_req_duration: ['p(95)<5000'],
  },
  limits: { maxDuration: '1m', maxRequests: 10 },
});
