import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hsiExperimentEvaluator } from '../../assertions/hsi/experiment-evaluator.ts';
import { ConfigError } from '../../harness/errors.ts';
import { validateExperiment } from '../../harness/experiment/phases.ts';
import { fixtureProblem } from '../../harness/scenario/fixture-check.ts';
import { listBuiltinScenarios, loadScenario } from '../../harness/scenario/load-scenario.ts';
import { cli as runInProcess } from './cli/in-process-cli.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NODE = join(ROOT, 'node_modules', '.bin', 'node');
const evaluator = hsiExperimentEvaluator();

/** One-line exit-2 check of the CLI (in-process), with no Docker reachable: had it got that far, the error would be exit 3. */
async function cli(args: string[], env: Record<string, string> = {}) {
  const res = await runInProcess(args, { DOCKER_HOST: 'unix:///tmp/hsi-chaos-no-such.sock', ...env });
  return { code: res.code, lines: res.stderr.trim().split('\n') };
}

function scenarioFile(dir: string, body: string): string {
  const file = join(dir, 'scenario.ts');
  writeFileSync(file, `import smoke from '${join(ROOT, 'scenarios/smoke.ts')}';\nexport default { ...smoke, ${body} };\n`);
  return file;
}

describe('checks knowable before the stack starts', () => {
  it('every built-in scenario passes them', async () => {
    for (const name of listBuiltinScenarios(ROOT)) {
      const scenario = await loadScenario(name);
      expect(() => validateExperiment({ scenario, evaluator, target: { kind: 'embedded' } }), name).not.toThrow();
    }
  });

  it('an errors window naming no fault, a budget for a span the stack never emits', async () => {
    const base = await loadScenario('chaos-detector-down');
    const window = { ...base, expectations: [{ family: 'errors', require: [{ window: 'detector-dwon' }] }] };
    expect(() => validateExperiment({ scenario: window, evaluator, target: { kind: 'embedded' } })).toThrow(ConfigError);
    expect(() => validateExperiment({ scenario: window, evaluator, target: { kind: 'embedded' } })).toThrow(/expectations\.0\.require\.0\.window: "detector-dwon" names no fault \(the scenario's faults: /);
    const budget = { ...base, expectations: [{ family: 'latency', budgets: [{ operation: { name: 'detection_procesing' }, percentile: 95, maxMs: 2000 }] }] };
    expect(() => validateExperiment({ scenario: budget, evaluator, target: { kind: 'embedded' } })).toThrow(/expectations\.0\.budgets\.0\.operation\.name: "detection_procesing" is not a span the stack emits/);
    const optional = { ...base, expectations: [{ family: 'latency', budgets: [{ operation: { name: 'redis BRPOP' }, percentile: 95, maxMs: 20, optional: true }] }] };
    expect(() => validateExperiment({ scenario: optional, evaluator, target: { kind: 'embedded' } })).not.toThrow();
  });

  it('a zero-byte or non-JPEG fixture', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsi-fixture-'));
    const empty = join(dir, 'a.jpg');
    writeFileSync(empty, '');
    const text = join(dir, 'b.jpg');
    writeFileSync(text, 'hello, not an image');
    const png = join(dir, 'c.png');
    writeFileSync(png, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0]));
    expect(fixtureProblem(empty)).toBe('is empty (0 bytes)');
    expect(fixtureProblem(text)).toBe('is not a JPEG (starts with 68656c, not ffd8ff)');
    expect(fixtureProblem(png)).toBe('is not a PNG (no PNG signature)');
    expect(fixtureProblem(join(ROOT, 'fixtures/images/front_door/porch_deck_640x480.jpg'))).toBeUndefined();
  });

  it('the CLI says each in one line, exit 2, before any container', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsi-preflight-'));
    const fixtures = join(dir, 'fixtures');
    for (const camera of ['front_door', 'driveway', 'backyard']) {
      mkdirSync(join(fixtures, camera), { recursive: true });
      writeFileSync(join(fixtures, camera, 'x.jpg'), camera === 'driveway' ? '' : Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]));
    }
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ resultsDir: join(dir, 'results'), fixturesDir: fixtures }));
    const fixture = await cli(['run', 'smoke', '--config', cfg]);
    expect(fixture.code).toBe(2);
    expect(fixture.lines).toHaveLength(1);
    expect(fixture.lines[0]).toMatch(/x\.jpg is empty \(0 bytes\); replace or remove it/);

    const k6 = await cli(['run', 'smoke', '--driver', 'k6'], { PATH: dirname(NODE) });
    expect(k6.code).toBe(2);
    expect(k6.lines).toEqual(['hsi-chaos: --driver k6: k6 is not on PATH; install k6 or use --driver native']);

    const windowFile = scenarioFile(dir, "expectations: [{ family: 'errors', require: [{ window: 'nope' }] }]");
    const windowRes = await cli(['run', windowFile]);
    expect(windowRes.code).toBe(2);
    expect(windowRes.lines).toHaveLength(1);
    expect(windowRes.lines[0]).toMatch(/"nope" names no fault \(the scenario has no faults\)/);
  });
});
