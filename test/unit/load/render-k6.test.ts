import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderExecutor, renderK6 } from '../../../harness/load/k6/render-k6.ts';
import { cameraSequence } from '../../../harness/load/camera-mix.ts';
import { PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { validateScenario } from '../../../harness/scenario/validate-scenario.ts';

const FIXTURES = resolve(PROJECT_ROOT, 'fixtures', 'images');
const scenario = validateScenario(
  {
    name: 'render',
    scenarios: {
      car: { executor: 'constant-arrival-rate', rate: 8, timeUnit: '1s', duration: '1m', preAllocatedVUs: 8, maxVUs: 16, tags: { kind: 'steady' } },
      rar: { executor: 'ramping-arrival-rate', startRate: 2, stages: [{ duration: '30s', target: 20 }, { duration: '1m30s', target: 20 }], preAllocatedVUs: 4, startTime: '10s', cameras: ['driveway'] },
      cv: { executor: 'constant-vus', vus: 3, duration: '20s', env: { MODE: 'x' } },
      rv: { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: '5s', target: 5 }], gracefulRampDown: '2s' },
      pvi: { executor: 'per-vu-iterations', vus: 2, iterations: 5, maxDuration: '1m' },
      si: { executor: 'shared-iterations', vus: 2, iterations: 10, gracefulStop: '500ms' },
    },
    cameras: [{ id: 'front_door', weight: 3 }, { id: 'driveway' }, { id: 'patio', fixtures: 'backyard', files: ['garden_creek_640x480.jpg'] }],
    tracing: { sampledFraction: 0.25, baggage: { 'event.priority': 'high' } },
    thresholds: {
      'http_req_duration{scenario:car}': ['p(95)<2000', { threshold: 'p(99)<5000', abortOnFail: true, delayAbortEval: '10s' }],
      http_req_failed: [{ threshold: 'rate<0.01', abortOnFail: true }],
    },
    limits: { maxDuration: '5m', maxRequests: 5000 },
  },
  { fixturesDir: FIXTURES, source: 'render.ts' },
);

describe('rendering a scenario for k6', () => {
  const r = renderK6(scenario, { backendUrl: 'http://127.0.0.1:8000/' });

  it('writes each executor in k6 vocabulary with duration strings', () => {
    expect(r.options.scenarios).toEqual({
      car: { executor: 'constant-arrival-rate', startTime: '0ms', gracefulStop: '30s', tags: { kind: 'steady' }, rate: 8, timeUnit: '1s', duration: '1m', preAllocatedVUs: 8, maxVUs: 16 },
      rar: {
        executor: 'ramping-arrival-rate', startTime: '10s', gracefulStop: '30s', startRate: 2, timeUnit: '1s',
        stages: [{ duration: '30s', target: 20 }, { duration: '1m30s', target: 20 }], preAllocatedVUs: 4, maxVUs: 4,
      },
      cv: { executor: 'constant-vus', startTime: '0ms', gracefulStop: '30s', env: { MODE: 'x' }, vus: 3, duration: '20s' },
      rv: { executor: 'ramping-vus', startTime: '0ms', gracefulStop: '30s', startVUs: 0, stages: [{ duration: '5s', target: 5 }], gracefulRampDown: '2s' },
      pvi: { executor: 'per-vu-iterations', startTime: '0ms', gracefulStop: '30s', vus: 2, iterations: 5, maxDuration: '1m' },
      si: { executor: 'shared-iterations', startTime: '0ms', gracefulStop: '500ms', vus: 2, iterations: 10, maxDuration: '5m' },
    });
    expect(renderExecutor(scenario.scenarios['car']!)).toEqual(r.options.scenarios['car']);
  });

  it('writes thresholds in k6 syntax, objects only where needed', () => {
    expect(r.options.thresholds).toMatchObject({
      'http_req_duration{scenario:car}': ['p(95)<2000', { threshold: 'p(99)<5000', abortOnFail: true, delayAbortEval: '10s' }],
      http_req_failed: [{ threshold: 'rate<0.01', abortOnFail: true }],
    });
    // always-true per-scenario thresholds, so k6's summary carries each scenario's counts
    expect(r.options.thresholds['http_reqs{scenario:car}']).toEqual(['count>=0']);
    expect(r.options.thresholds['dropped_iterations{scenario:rar}']).toEqual(['count>=0']);
    expect(r.options.thresholds['http_req_duration{scenario:rar}']).toEqual(['max>=0']);
    expect(r.options.summaryTrendStats).toContain('p(99)');
  });

  it('carries cameras, their fixture files, the camera mix and tracing', () => {
    expect(r.backendUrl).toBe('http://127.0.0.1:8000');
    expect(r.cameras.map((c) => c.id)).toEqual(['front_door', 'driveway', 'patio']);
    expect(r.cameras[2]).toEqual({ id: 'patio', name: 'Patio', files: [{ path: join(FIXTURES, 'backyard', 'garden_creek_640x480.jpg'), name: 'garden_creek_640x480.jpg' }] });
    expect(r.sequences['car']).toEqual([0, 1, 0, 2, 0]); // weights 3:1:1, smoothly interleaved
    expect(r.sequences['rar']).toEqual([1]);
    expect(r.tracing).toEqual({ sampledFraction: 0.25, baggage: { 'event.priority': 'high' }, requestSource: 'hsi-chaos' });
    expect(r.timeout).toBe('1m');
    expect(r.limits).toEqual({ maxRequests: 5000 });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('re-roots fixtures on another fixtures folder', () => {
    const moved = renderK6(scenario, { backendUrl: 'http://x', fixturesDir: '/data/fixtures' });
    expect(moved.cameras[2]?.files[0]?.path).toBe('/data/fixtures/backyard/garden_creek_640x480.jpg');
  });
});

describe('camera mix', () => {
  it('is exact over a period and interleaved', () => {
    expect(cameraSequence([1, 1, 1])).toEqual([0, 1, 2]);
    const seq = cameraSequence([5, 1, 1]);
    expect(seq).toHaveLength(7);
    expect(seq.filter((i) => i === 0)).toHaveLength(5);
    expect(cameraSequence([0.5, 1.5])).toEqual([1, 0, 1, 1]);
  });
});

describe('the k6 script', () => {
  it('shares each fixture across VUs (k6/experimental/fs), no per-VU copy with open(f, "b")', () => {
    const script = readFileSync(join(PROJECT_ROOT, 'scenarios', 'k6', 'camera-uploads.ts'), 'utf8');
    expect(script).toContain("from 'k6/experimental/fs'");
    expect(script).not.toMatch(/open\([^)]*, 'b'\)/);
  });
  it('type-checks with its own tsconfig (types: k6, no node types)', () => {
    const tsc = join(PROJECT_ROOT, 'node_modules', '.bin', 'tsc');
    const run = spawnSync(tsc, ['-p', join(PROJECT_ROOT, 'scenarios', 'k6', 'tsconfig.json')], { encoding: 'utf8', timeout: 120_000 });
    expect(run.stdout + run.stderr).toBe('');
    expect(run.status).toBe(0);
  }, 120_000);
});
