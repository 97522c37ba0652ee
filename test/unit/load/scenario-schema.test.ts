import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../harness/errors.ts';
import { listBuiltinScenarios, loadScenario, PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { defineScenario } from '../../../harness/scenario/scenario-types.ts';
import { cameraFolderName, validateScenario } from '../../../harness/scenario/validate-scenario.ts';

const FIXTURES = resolve(PROJECT_ROOT, 'fixtures', 'images');
const base = {
  name: 'unit',
  scenarios: { steady: { executor: 'constant-arrival-rate', rate: 8, timeUnit: '1s', duration: '10s', preAllocatedVUs: 8 } },
  cameras: [{ id: 'front_door' }, { id: 'driveway' }],
};
const validate = (value: unknown) => validateScenario(value, { fixturesDir: FIXTURES, source: 'scenarios/unit.ts', root: PROJECT_ROOT });

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).not.toContain('\n');
    return error as Error;
  }
  throw new Error('expected a ConfigError');
}

describe('scenario validation', () => {
  it('normalizes durations to ms and fills k6 defaults', () => {
    const s = validate(base);
    expect(s.scenarios['steady']).toMatchObject({
      executor: 'constant-arrival-rate', rate: 8, timeUnitMs: 1000, durationMs: 10_000, preAllocatedVUs: 8, maxVUs: 8,
      startTimeMs: 0, gracefulStopMs: 30_000, tags: {}, env: {}, cameraIndexes: [0, 1],
    });
    expect(s.transport).toEqual({ type: 'http', timeoutMs: 60_000 });
    expect(s.tracing).toEqual({ sampledFraction: 1, baggage: {}, requestSource: 'hsi-chaos' });
    expect(s.limits).toEqual({ maxDurationMs: 900_000, maxRequests: 100_000 });
    expect(s.cameras[0]).toMatchObject({ id: 'front_door', name: 'Front Door', weight: 1, fixtures: 'front_door' });
    expect(s.cameras[0]?.files.length).toBeGreaterThan(0);
    expect(s.source).toBe('scenarios/unit.ts');
  });

  it('fills the defaults of every executor', () => {
    const s = validate({
      ...base,
      scenarios: {
        a: { executor: 'shared-iterations' },
        b: { executor: 'per-vu-iterations', vus: 2, iterations: 3 },
        c: { executor: 'constant-vus', duration: '5s' },
        d: { executor: 'ramping-vus', stages: [{ duration: '2s', target: 4 }] },
        e: { executor: 'ramping-arrival-rate', stages: [{ duration: '1m30s', target: 10 }], preAllocatedVUs: 2, maxVUs: 4, startTime: '500ms' },
      },
    });
    expect(s.scenarios['a']).toMatchObject({ vus: 1, iterations: 1, maxDurationMs: 600_000 });
    expect(s.scenarios['b']).toMatchObject({ vus: 2, iterations: 3 });
    expect(s.scenarios['c']).toMatchObject({ vus: 1, durationMs: 5000 });
    expect(s.scenarios['d']).toMatchObject({ startVUs: 1, gracefulRampDownMs: 30_000, stages: [{ durationMs: 2000, target: 4 }] });
    expect(s.scenarios['e']).toMatchObject({ startRate: 0, timeUnitMs: 1000, stages: [{ durationMs: 90_000, target: 10 }], startTimeMs: 500 });
  });

  const bad: [string, unknown, RegExp][] = [
    ['an unknown executor', { ...base, scenarios: { x: { executor: 'externally-controlled', vus: 1 } } }, /^scenarios\/unit\.ts: scenarios\.x\.executor: unknown executor "externally-controlled": use constant-arrival-rate/],
    ['a negative rate', { ...base, scenarios: { x: { executor: 'constant-arrival-rate', rate: -5, duration: '10s', preAllocatedVUs: 1 } } }, /^scenarios\/unit\.ts: scenarios\.x\.rate: rate must be above 0$/],
    ['a fractional rate', { ...base, scenarios: { x: { executor: 'constant-arrival-rate', rate: 1.5, duration: '10s', preAllocatedVUs: 1 } } }, /scenarios\.x\.rate: rate must be a whole number/],
    ['a bad duration', { ...base, scenarios: { x: { executor: 'constant-vus', duration: 'soon' } } }, /scenarios\.x\.duration: not a duration: "soon"/],
    ['a missing duration', { ...base, scenarios: { x: { executor: 'constant-vus' } } }, /scenarios\.x\.duration: /],
    ['an unknown option', { ...base, scenarios: { x: { executor: 'constant-vus', duration: '1s', rps: 5 } } }, /scenarios\.x: Unrecognized key: "rps"/],
    ['a bad scenario name', { ...base, scenarios: { 'a b': { executor: 'constant-vus', duration: '1s' } } }, /scenario names: letters, digits/],
    ['a missing fixture folder', { ...base, cameras: [{ id: 'attic' }] }, /^scenarios\/unit\.ts: cameras\[0\]\.id: no fixture folder fixtures\/images\/attic \(set fixtures: '<folder>'/],
    ['a missing fixture folder by name', { ...base, cameras: [{ id: 'attic', fixtures: 'nowhere' }] }, /^scenarios\/unit\.ts: cameras\[0\]\.fixtures: no fixture folder fixtures\/images\/nowhere$/],
    ['a missing fixture file', { ...base, cameras: [{ id: 'front_door', files: ['porch_deck_640x480.jpg', 'gone.jpg'] }] }, /^scenarios\/unit\.ts: cameras\[0\]\.files\[1\]: no fixture file fixtures\/images\/front_door\/gone\.jpg$/],
    ['a duplicate camera', { ...base, cameras: [{ id: 'front_door' }, { id: 'front_door' }] }, /cameras\[1\]\.id: camera "front_door" appears twice/],
    ['an unknown camera in a scenario', { ...base, scenarios: { x: { executor: 'constant-vus', duration: '1s', cameras: ['garage'] } } }, /scenarios\.x\.cameras\[0\]: unknown camera "garage"/],
    ['maxVUs below preAllocatedVUs', { ...base, scenarios: { x: { executor: 'constant-arrival-rate', rate: 1, duration: '1s', preAllocatedVUs: 5, maxVUs: 2 } } }, /scenarios\.x\.maxVUs: 2 is below preAllocatedVUs \(5\)/],
    ['fewer iterations than VUs', { ...base, scenarios: { x: { executor: 'shared-iterations', vus: 5, iterations: 2 } } }, /scenarios\.x\.iterations: 2 iterations can't be fewer than vus/],
    ['a rate with no camera fps', { ...base, scenarios: { x: { executor: 'constant-arrival-rate', duration: '1s', preAllocatedVUs: 1 } } }, /scenarios\.x\.rate: required \(or give every camera of this scenario an fps\)/],
    ['a sampled fraction above 1', { ...base, tracing: { sampledFraction: 1.5 } }, /tracing\.sampledFraction: sampledFraction must be in 0\.\.1/],
    ['camera.id in baggage', { ...base, tracing: { baggage: { 'camera.id': 'x' } } }, /tracing\.baggage: camera\.id is set per request/],
    ['an unknown transport', { ...base, transport: { type: 'ftp' } }, /transport\.type: unknown transport "ftp"/],
    ['a threshold on an unknown metric', { ...base, thresholds: { http_req_latency: ['p(95)<1'] } }, /thresholds\.http_req_latency\[0\]: no metric named "http_req_latency"/],
    ['an unsupported aggregation', { ...base, thresholds: { 'http_req_failed{scenario:steady}': ['p(95)<1'] } }, /thresholds\["http_req_failed\{scenario:steady\}"\]\[0\]: threshold "p\(95\)<1" on http_req_failed: p\(N\) is not supported on a rate metric \(use rate\)/],
    ['a malformed threshold', { ...base, thresholds: { http_req_duration: ['p95 < 2000'] } }, /malformed threshold expression "p95 < 2000"|unknown aggregation "p95"/],
    ['faults that are not objects', { ...base, faults: ['latency'] }, /faults\[0\]: /],
    ['a run longer than limits.maxDuration', { ...base, limits: { maxDuration: '5s' } }, /scenarios\.steady: runs until 10s, beyond limits\.maxDuration \(5s\)/],
    ['more requests than limits.maxRequests', { ...base, limits: { maxRequests: 50 } }, /limits\.maxRequests: the workload plans 80 requests, above limits\.maxRequests \(50\)/],
    ['a limit above the ceiling', { ...base, limits: { maxDuration: '25h' } }, /limits\.maxDuration: at most 24h/],
    ['an unknown top-level field', { ...base, workload: {} }, /\(root\): Unrecognized key: "workload"/],
    ['an unknown defect', { ...base, stack: { defects: ['no-such-defect'] } }, /^scenarios\/unit\.ts: stack\.defects\[0\]: unknown defect "no-such-defect"; known: /],
    ['a bad environment name', { ...base, stack: { backend: { 'BAD-NAME': '1' } } }, /stack\.backend\.BAD-NAME: not an environment variable name/],
  ];
  for (const [what, value, message] of bad) {
    it(`rejects ${what} in one line naming the field`, () => {
      expect(errorOf(() => validate(value)).message).toMatch(message);
    });
  }

  it('derives a constant arrival rate from the cameras fps', () => {
    const s = validate({ ...base, scenarios: { x: { executor: 'constant-arrival-rate', duration: '1s', preAllocatedVUs: 1 } }, cameras: [{ id: 'front_door', fps: 2 }, { id: 'driveway', fps: 1 }] });
    expect(s.scenarios['x']).toMatchObject({ rate: 3 });
    expect(s.cameras.map((c) => c.weight)).toEqual([2, 1]);
  });

  it('lets cameras reuse another camera folder', () => {
    const s = validate({ ...base, cameras: [{ id: 'side_gate', fixtures: 'front_door', files: ['porch_deck_640x480.jpg'] }] });
    expect(s.cameras[0]).toMatchObject({ id: 'side_gate', name: 'Side Gate', fixtures: 'front_door' });
    expect(s.cameras[0]?.files).toEqual([join(FIXTURES, 'front_door', 'porch_deck_640x480.jpg')]);
  });

  it('keeps threshold objects (abortOnFail, delayAbortEval) as ms', () => {
    const s = validate({ ...base, thresholds: { 'http_req_duration{scenario:steady}': ['p(95)<2000', { threshold: 'max<5000', abortOnFail: true, delayAbortEval: '10s' }] } });
    expect(s.thresholds['http_req_duration{scenario:steady}']).toEqual([
      { threshold: 'p(95)<2000', abortOnFail: false },
      { threshold: 'max<5000', abortOnFail: true, delayAbortEvalMs: 10_000 },
    ]);
  });

  it('keeps the stack settings (defects, environment per service)', () => {
    const s = validate({ ...base, stack: { backend: { BATCH_WINDOW_SECONDS: '10' }, llm: { EMULATOR_TIME_SCALE: '0.05' } } });
    expect(s.stack).toEqual({ backend: { BATCH_WINDOW_SECONDS: '10' }, llm: { EMULATOR_TIME_SCALE: '0.05' } });
    expect(validate(base).stack).toBeUndefined();
  });

  it('says so when the fixtures folder itself is missing', () => {
    const error = errorOf(() => validateScenario(base, { fixturesDir: '/nonexistent/hsi-fixtures', source: 'scenarios/unit.ts' }));
    expect(error.message).toMatch(/^fixtures folder \/nonexistent\/hsi-fixtures does not exist; create it/);
  });

  it('titles camera folders like the watcher expects', () => {
    expect(cameraFolderName('front_door')).toBe('Front Door');
    expect(cameraFolderName('cam_2')).toBe('Cam 2');
  });

  it('defineScenario returns its argument', () => {
    const def = defineScenario({ ...base, scenarios: { s: { executor: 'constant-vus', duration: '1s' } } });
    expect(def.name).toBe('unit');
  });
});

describe('loading scenarios', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hsi-scenario-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads every built-in scenario by name', async () => {
    const names = listBuiltinScenarios();
    expect(names).toEqual(expect.arrayContaining(['smoke', 'steady', 'motion-burst', 'ramp', 'spike', 'soak']));
    for (const name of names) {
      const s = await loadScenario(name);
      expect(s.name).toBe(name);
      expect(s.source).toMatch(new RegExp(`scenarios/${name}\\.ts$`));
    }
  });

  it('steady is 8 cameras at 1 fps: constant-arrival-rate 8/s for 60 s', async () => {
    const s = await loadScenario('steady');
    expect(s.cameras).toHaveLength(8);
    expect(s.cameras.every((c) => c.fps === 1)).toBe(true);
    expect(s.scenarios['steady']).toMatchObject({ executor: 'constant-arrival-rate', rate: 8, timeUnitMs: 1000, durationMs: 60_000 });
  });

  it('bounds the soak to 10 minutes', async () => {
    const s = await loadScenario('soak');
    expect(s.scenarios['soak']).toMatchObject({ rate: 4, durationMs: 600_000 });
    expect(s.limits.maxDurationMs).toBeLessThanOrEqual(11 * 60_000);
  });

  it('loads a scenario file by path and validates its default export', async () => {
    const file = join(dir, 'mine.ts');
    writeFileSync(
      file,
      `import { defineScenario } from '${resolve(PROJECT_ROOT, 'harness/scenario/scenario-types.ts')}';\n` +
        `export default defineScenario({ name: 'mine', scenarios: { one: { executor: 'shared-iterations' } }, cameras: [{ id: 'backyard' }] });\n`,
    );
    const s = await loadScenario(file);
    expect(s.name).toBe('mine');
    const bad = join(dir, 'bad.ts');
    writeFileSync(bad, `export default { name: 'bad', scenarios: { one: { executor: 'shared-iterations', vus: -1 } }, cameras: [{ id: 'backyard' }] };\n`);
    await expect(loadScenario(bad)).rejects.toThrowError(/bad\.ts: scenarios\.one\.vus: /);
  });

  it('names what is missing', async () => {
    await expect(loadScenario('nope')).rejects.toThrowError(/scenario "nope": no built-in scenario of that name \(built-in: .*steady/);
    await expect(loadScenario('./nope/x.ts')).rejects.toThrowError(ConfigError);
    const noDefault = join(dir, 'nodefault.ts');
    writeFileSync(noDefault, 'export const x = 1;\n');
    await expect(loadScenario(noDefault)).rejects.toThrowError(/no default export/);
    const broken = join(dir, 'broken.ts');
    writeFileSync(broken, 'export default {;\n');
    await expect(loadScenario(broken)).rejects.toThrowError(/broken\.ts: cannot be loaded: /);
  });
});
