import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CliSignalHandler, leftoverMessage, type ProcessEdge } from '../../harness/cli/signals.ts';
import { EnvironmentError } from '../../harness/errors.ts';
import { ownerDead, pidAlive, removeRun, type Resource } from '../../harness/stack/cleanup.ts';
import { TeardownRegistry, type TeardownReason } from '../../harness/stack/teardown.ts';
import { configureTestcontainers, requireTestcontainersConfigured } from '../../harness/stack/testcontainers-env.ts';
import { pollUntilSettled, spanCount } from '../../harness/traces/settle.ts';
import { hostname } from 'node:os';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NODE = join(ROOT, 'node_modules', '.bin', 'node');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('no global side effects outside the CLI edge', () => {
  it('importing the stack, the runner and the evaluator leaves process.env and the signal listeners alone', () => {
    const script = [
      "const before = JSON.stringify(process.env);",
      "await import('testcontainers'); // its own dependencies listen for signals; ours must not add any",
      "const signals = () => process.listenerCount('SIGINT') + process.listenerCount('SIGTERM');",
      "const s0 = signals();",
      "await import('./harness/stack/hsi-stack.ts');",
      "await import('./harness/experiment/experiment-runner.ts');",
      "await import('./assertions/hsi/experiment-evaluator.ts');",
      "const { registerTeardown } = await import('./harness/stack/teardown.ts');",
      "registerTeardown('x', async () => {});",
      "console.log(JSON.stringify({ envSame: before === JSON.stringify(process.env), signalsAdded: signals() - s0 }));",
    ].join('\n');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TESTCONTAINERS_')));
    const res = spawnSync(NODE, ['--input-type=module', '-e', script], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
    expect(res.stderr).toBe('');
    expect(JSON.parse(res.stdout.trim())).toEqual({ envSame: true, signalsAdded: 0 });
  });

  it('only harness/cli/ ends the process or bootstraps Docker; only edges set testcontainers settings', () => {
    const offenders: string[] = [];
    for (const file of [...tsFiles(join(ROOT, 'harness')), ...tsFiles(join(ROOT, 'assertions'))]) {
      const rel = relative(ROOT, file);
      const text = readFileSync(file, 'utf8');
      if (!rel.startsWith('harness/cli/') && /process\.exit\(/.test(text)) offenders.push(`${rel}: process.exit`);
      if (/process\.env\[['"]TESTCONTAINERS_\w+['"]\]\s*(\?\?=|=)/.test(text)) offenders.push(`${rel}: writes TESTCONTAINERS_*`);
      if (!rel.startsWith('harness/cli/') && /ensureDockerEngine\(\{\s*bootstrap:(?!\s*false\b)/.test(text)) offenders.push(`${rel}: bootstraps Docker`);
    }
    expect(offenders).toEqual([]);
  });

  it('no source file writes process.env; the reference services end their process only at their own entry points', () => {
    const write = /process\.env(\.\w+|\[[^\]]+\])\s*(=(?!=)|\?\?=|\|\|=)|delete\s+process\.env|Object\.assign\(\s*process\.env/;
    // A service's main.ts is its CLI edge; lifecycle.ts is the signal handler only those call; build.ts is a script.
    const serviceEdge = /^reference-stack\/([\w-]+\/main\.ts|common\/lifecycle\.ts|build\.ts)$/;
    const offenders: string[] = [];
    for (const dir of ['harness', 'assertions', 'reference-stack', 'scenarios', 'bin']) {
      for (const file of [...tsFiles(join(ROOT, dir)), ...(dir === 'bin' ? [join(ROOT, 'bin', 'hsi-chaos.js')] : [])]) {
        const rel = relative(ROOT, file);
        const text = readFileSync(file, 'utf8');
        if (write.test(text)) offenders.push(`${rel}: writes process.env`);
        if (rel.startsWith('reference-stack/') && !serviceEdge.test(rel) && /process\.exit\(/.test(text)) offenders.push(`${rel}: process.exit outside a service's entry point`);
      }
    }
    expect(offenders).toEqual([]);
    const lifecycleUsers = tsFiles(join(ROOT, 'reference-stack')).filter((f) => /from '\.\.\/common\/lifecycle\.ts'|from '\.\/lifecycle\.ts'/.test(readFileSync(f, 'utf8'))).map((f) => relative(ROOT, f));
    expect(lifecycleUsers.every((f) => f.endsWith('/main.ts')), lifecycleUsers.join(', ')).toBe(true);
  });

  it('configureTestcontainers sets what is missing, keeps a caller\'s value; the stack refuses to start without it', () => {
    const env: NodeJS.ProcessEnv = { TESTCONTAINERS_HOST_OVERRIDE: '10.0.0.1' };
    expect(() => requireTestcontainersConfigured(env)).toThrow(/call configureTestcontainers\(\)/);
    configureTestcontainers(env);
    expect(env).toEqual({ TESTCONTAINERS_HOST_OVERRIDE: '10.0.0.1', TESTCONTAINERS_RYUK_DISABLED: 'true' });
    expect(() => requireTestcontainersConfigured(env)).not.toThrow();
  });
});

describe('teardown registry and the CLI signal handler', () => {
  it('runs newest first, once, passing the reason; pending() names what is left', async () => {
    const r = new TeardownRegistry();
    const seen: string[] = [];
    let reason: TeardownReason | undefined;
    r.register('stack', async () => seen.push('stack'));
    const off = r.register('gone', async () => seen.push('gone'));
    r.register('results', async (why) => {
      reason = why;
      seen.push('results');
    });
    off();
    expect(r.pending()).toEqual(['results', 'stack']);
    await r.run({ signal: 'SIGTERM', exitCode: 143 });
    expect(seen).toEqual(['results', 'stack']);
    expect(reason).toEqual({ signal: 'SIGTERM', exitCode: 143 });
    expect(r.pending()).toEqual([]);
  });

  function fakeEdge() {
    const exits: number[] = [];
    const edge: ProcessEdge = {
      on: () => undefined,
      exit: ((code: number) => {
        exits.push(code);
      }) as ProcessEdge['exit'],
    };
    return { edge, exits };
  }

  it('SIGTERM tears down with exit code 143 (the summary gets the same reason); SIGINT 130', async () => {
    for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
      const registry = new TeardownRegistry();
      let got: TeardownReason | undefined;
      registry.register('results', async (why) => {
        got = why;
      });
      const { edge, exits } = fakeEdge();
      const lines: string[] = [];
      const h = new CliSignalHandler({ registry, edge, write: (l) => lines.push(l) });
      h.onSignal(signal);
      await new Promise((r) => setTimeout(r, 10));
      expect(got).toEqual({ signal, exitCode: code });
      expect(exits).toEqual([code]);
      expect(lines[0]).toContain(`${signal}: tearing the stack down`);
    }
  });

  it('a second Ctrl-C quits at once, naming what is left and `hsi-chaos cleanup`', async () => {
    const registry = new TeardownRegistry();
    let release = () => {};
    registry.register('stack run-1', () => new Promise<void>((r) => (release = r)));
    registry.register('fault rollback', async () => {});
    const { edge, exits } = fakeEdge();
    const lines: string[] = [];
    const h = new CliSignalHandler({ registry, edge, write: (l) => lines.push(l) });
    h.onSignal('SIGINT');
    await new Promise((r) => setTimeout(r, 10));
    expect(registry.isRunning).toBe(true);
    h.onSignal('SIGINT');
    expect(lines[1]).toBe('SIGINT again: quitting without finishing the teardown; left behind: stack run-1. Remove leftovers with: hsi-chaos cleanup');
    expect(exits).toEqual([130]);
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(exits).toEqual([130, 130]); // (the real exit never returns; the fake lets the first teardown finish)
    expect(leftoverMessage('SIGINT', [])).toMatch(/nothing was left to tear down\. Remove leftovers with: hsi-chaos cleanup$/);
  });
});

describe('cleanup: who is dead', () => {
  const mine = (pid: string): Resource => ({ id: 'c1', labels: { 'hsi-chaos.owner-pid': pid, 'hsi-chaos.owner-host': hostname(), 'hsi-chaos.detached': 'false' } });
  const thrower = (code: string) => () => {
    throw Object.assign(new Error(code), { code });
  };

  it('EPERM is a live owner (another user\'s process), only ESRCH is a dead one', () => {
    expect(pidAlive(1234, thrower('EPERM'))).toBe(true);
    expect(pidAlive(1234, thrower('ESRCH'))).toBe(false);
    expect(pidAlive(1234, () => true)).toBe(true);
    expect(pidAlive(process.pid)).toBe(true);
    expect(ownerDead(mine('1234'), (pid) => pidAlive(pid, thrower('EPERM')))).toBe(false);
    expect(ownerDead(mine('1234'), (pid) => pidAlive(pid, thrower('ESRCH')))).toBe(true);
    expect(ownerDead({ ...mine('1234'), labels: { ...mine('1234').labels, 'hsi-chaos.detached': 'true' } }, () => false)).toBe(false);
  });

  it('checks docker\'s exit codes: a failed listing or removal is an error naming it, never "0 removed"', async () => {
    // A stand-in docker first on PATH: `ps` lists one container of the run (or fails), `rm` is refused.
    const dir = mkdtempSync(join(tmpdir(), 'hsi-fake-docker-'));
    const fake = join(dir, 'docker');
    writeFileSync(fake, [
      '#!/bin/sh',
      'if [ "$1" = ps ]; then',
      '  if [ -n "$FAKE_DOCKER_PS_FAILS" ]; then echo "Cannot connect to the Docker daemon" >&2; exit 1; fi',
      '  printf "c0ffee\\thsi-chaos.managed=true,hsi-chaos.run-id=fake-run\\n"; exit 0',
      'fi',
      'if [ "$1" = rm ]; then echo "Error response from daemon: permission denied" >&2; exit 1; fi',
      'exit 0',
    ].join('\n'), { mode: 0o755 });
    const savedPath = process.env['PATH'];
    process.env['PATH'] = `${dir}:${savedPath ?? ''}`;
    try {
      await expect(removeRun('fake-run')).rejects.toThrow(/^cleanup incomplete: docker rm: Error response from daemon: permission denied$/);
      process.env['FAKE_DOCKER_PS_FAILS'] = '1';
      const error = await removeRun('fake-run').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EnvironmentError);
      expect((error as Error).message).toMatch(/^docker ps -a failed \(exit 1\): Cannot connect to the Docker daemon; is the Docker engine running\?/);
    } finally {
      process.env['PATH'] = savedPath;
      delete process.env['FAKE_DOCKER_PS_FAILS'];
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('waiting for traces: until the span count is unchanged across two polls', () => {
  function clock() {
    let t = 0;
    return { now: () => t, sleep: async (ms: number) => void (t += ms) };
  }

  it('keeps polling while spans arrive, stops at the first repeat', async () => {
    const counts = [3, 10, 14, 14, 20];
    let i = 0;
    const c = clock();
    const out = await pollUntilSettled(async () => Array.from({ length: counts[i++]! }, () => ({ spans: [1] })), spanCount, { intervalMs: 2500, timeoutMs: 60_000, ...c });
    expect(out).toMatchObject({ settled: true, polls: 4, counts: [3, 10, 14, 14], waitedMs: 7500 });
  });

  it('gives up at the timeout and says so', async () => {
    let n = 0;
    const out = await pollUntilSettled(async () => ++n, (v) => v, { intervalMs: 1000, timeoutMs: 3500, ...clock() });
    expect(out).toMatchObject({ settled: false, polls: 4, counts: [1, 2, 3, 4] });
  });
});
