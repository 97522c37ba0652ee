import { describe, expect, it } from 'vitest';
import { cli, spawnCli } from '../cli/in-process-cli.ts';

/** Bad input to `capacity`: one line, exit 2, before any container starts (these run without Docker). */
function expectOneLineError(res: { code: number | null; stderr: string; stdout: string }, pattern: RegExp): void {
  expect(res.code, res.stdout + res.stderr).toBe(2);
  const lines = res.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(res.stdout).not.toMatch(/starting the stack/);
}

describe('hsi-chaos capacity: bad input', () => {
  it('an unknown --set key', async () => {
    expectOneLineError(await cli(['capacity', '--set', 'detector.gpus=2']), /--set detector\.gpus: unknown key; known keys: detector\.slots/);
  });

  it('bounds upside down', async () => {
    expectOneLineError(await cli(['capacity', '--min', '10', '--max', '5']), /--max \(5\) is below --min \(10\): the bounds are upside down/);
  });

  it('a budget that is not a number, a window bound too small', async () => {
    expectOneLineError(await cli(['capacity', '--detect-budget', 'fast']), /--detect-budget must be a number/);
    expectOneLineError(await cli(['capacity', '--max-windows', '1']), /--max-windows must be a number from 2/);
  });

  it('what-ifs on an external stack', async () => {
    expectOneLineError(await cli(['capacity', '--set', 'detector.slots=2', '--external', 'nowhere']), /--set needs the embedded stack/);
  });

  it('the help lists the options', async () => {
    const res = await cli(['capacity', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('--require N');
    expect(spawnCli(['--help']).stdout).toContain('capacity [SCENARIO]'); // end to end
  });
});
