import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRunId, claimRunDir, releaseEmptyRunDir, runDirInside } from '../../../harness/cli/run-id.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { cli as runInProcess } from './in-process-cli.ts';

function tempRoot(): string {
  return mkdtempSync(join(tmpdir(), 'hsi-runid-'));
}

describe('--run-id', () => {
  it('allows a safe character set only', () => {
    for (const ok of ['nightly-2026.12.01', 'a', 'run_1', 'A9']) expect(checkRunId(ok)).toBe(ok);
    for (const bad of ['my run', '../x', '..', '.hidden', '-x', 'a/b', 'a\\b', '', 'x'.repeat(101), 'ünïcode', 'a..b']) {
      expect(() => checkRunId(bad), bad).toThrow(ConfigError);
    }
    expect(() => checkRunId('my run')).toThrow(/^--run-id "my run": use 1-100 letters, digits/);
  });

  it('keeps every path inside the results folder', () => {
    const root = tempRoot();
    expect(runDirInside(root, 'x')).toBe(join(root, 'x'));
    expect(() => runDirInside(root, '../x')).toThrow(/outside/);
    expect(() => runDirInside(root, '.')).toThrow(/outside/);
  });

  it('refuses an existing id unless --replace, and refuses --replace while that stack runs', async () => {
    const root = tempRoot();
    const live: string[] = [];
    const claim = (replace: boolean) => claimRunDir({ resultsRoot: root, runId: 'nightly', replace, liveRunIds: async () => live });
    const dir = await claim(false);
    writeFileSync(join(dir, 'summary.json'), '{}');
    await expect(claim(false)).rejects.toThrow(/^--run-id "nightly": .*nightly already exists; choose another id or pass --replace/);
    live.push('nightly');
    await expect(claim(true)).rejects.toThrow(/a stack with that id is still running/);
    expect(existsSync(join(dir, 'summary.json'))).toBe(true);
    live.length = 0;
    await claim(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('of two runs started with one id at once, exactly one gets it', async () => {
    const root = tempRoot();
    const outcomes = await Promise.allSettled([0, 1, 2].map(() => claimRunDir({ resultsRoot: root, runId: 'same', replace: false, liveRunIds: async () => [] })));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(2);
  });

  it('gives an empty folder back, keeps one with results', () => {
    const root = tempRoot();
    mkdirSync(join(root, 'empty'));
    mkdirSync(join(root, 'full'));
    writeFileSync(join(root, 'full', 'summary.json'), '{}');
    releaseEmptyRunDir(join(root, 'empty'));
    releaseEmptyRunDir(join(root, 'full'));
    expect(readdirSync(root)).toEqual(['full']);
  });

  it('the CLI: "my run" is one line, exit 2, before any container; an existing id too', async () => {
    const root = tempRoot();
    const cfg = join(root, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ resultsDir: join(root, 'results') }));
    // DOCKER_HOST pointing nowhere: had the CLI got as far as Docker, the error would say so.
    const cli = (args: string[]) => runInProcess(args, { DOCKER_HOST: 'unix:///tmp/hsi-chaos-no-such.sock' });
    const bad = await cli(['run', 'smoke', '--config', cfg, '--run-id', 'my run']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual(['hsi-chaos: --run-id "my run": use 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit (it names a folder under results/ and the stack\'s containers)']);
    mkdirSync(join(root, 'results', 'taken'), { recursive: true });
    writeFileSync(join(root, 'results', 'taken', 'summary.json'), '{}');
    const taken = await cli(['run', 'smoke', '--config', cfg, '--run-id', 'taken']);
    expect(taken.code).toBe(2);
    expect(taken.stderr.trim().split('\n')).toHaveLength(1);
    expect(taken.stderr).toMatch(/already exists; choose another id or pass --replace/);
    const orphanReplace = await cli(['run', 'smoke', '--config', cfg, '--replace']);
    expect(orphanReplace.code).toBe(2);
    expect(orphanReplace.stderr).toMatch(/--replace needs --run-id/);
  });
});
