import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const NODE = join(ROOT, 'node_modules', '.bin', 'node');

function cli(args: string[]) {
  const res = spawnSync(NODE, [join(ROOT, 'bin', 'hsi-chaos.js'), ...args], { cwd: ROOT, env: { ...process.env, CI: 'true' }, encoding: 'utf8', timeout: 60_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Bad input to `capacity`: one line, exit 2, before any container starts (these run without Docker). */
function expectOneLineError(res: { code: number | null; stderr: string; stdout: string }, pattern: RegExp): void {
  expect(res.code, res.stdout + res.stderr).toBe(2);
  const lines = res.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(res.stdout).not.toMatch(/starting the stack/);
}

describe('hsi-chaos capacity: bad input', () => {
  it('an unknown --set key', () => {
    expectOneLineError(cli(['capacity', '--set', 'detector.gpus=2']), /--set detector\.gpus: unknown key; known keys: detector\.slots/);
  });

  it('bounds upside down', () => {
    expectOneLineError(cli(['capacity', '--min', '10', '--max', '5']), /--max \(5\) is below --min \(10\): the bounds are upside down/);
  });

  it('a budget that is not a number, a window bound too small', () => {
    expectOneLineError(cli(['capacity', '--detect-budget', 'fast']), /--detect-budget must be a number/);
    expectOneLineError(cli(['capacity', '--max-windows', '1']), /--max-windows must be a number from 2/);
  });

  it('what-ifs on an external stack', () => {
    expectOneLineError(cli(['capacity', '--set', 'detector.slots=2', '--external', 'nowhere']), /--set needs the embedded stack/);
  });

  it('the help lists the options', () => {
    const res = cli(['capacity', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('--require N');
    expect(cli(['--help']).stdout).toContain('capacity [SCENARIO]');
  });
});
