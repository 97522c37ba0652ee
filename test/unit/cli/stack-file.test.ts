import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeExternalStack, readStackFile, removeStackFile } from '../../../harness/cli/stack-file.ts';
import { ConfigError, EnvironmentError } from '../../../harness/errors.ts';
import { cli as runInProcess, spawnCli } from './in-process-cli.ts';

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

function stackDir(content: string): { root: string; file: string } {
  const root = mkdtempSync(join(tmpdir(), 'hsi-stackfile-'));
  mkdirSync(join(root, 'stack-1'));
  const file = join(root, 'stack-1', 'stack.json');
  writeFileSync(file, content);
  return { root, file };
}

describe('stack.json', () => {
  it('a malformed file is one line naming it', () => {
    const { root, file } = stackDir('{"endpoints": {"backendUrl": "http://127.0.0.1:1"');
    expect(() => readStackFile('stack-1', root)).toThrow(ConfigError);
    expect(() => readStackFile('stack-1', root)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid JSON \\([^\\n]*\\); write it again`));
    const wrong = stackDir('{"endpoints": {"backendUrl": "nope", "jaegerUrl": "http://127.0.0.1:2"}}');
    expect(() => readStackFile(wrong.file, wrong.root)).toThrow(/stack\.json: endpoints\.backendUrl: /);
    expect(() => readStackFile('nothing-here', root)).toThrow(/^--external nothing-here: no stack file/);
  });

  it('carries the span export delay `stack up` writes (the trace wait follows it), a whole positive number of ms', () => {
    const endpoints = { backendUrl: 'http://127.0.0.1:1', jaegerUrl: 'http://127.0.0.1:2' };
    const ok = stackDir(JSON.stringify({ endpoints, spanExportDelayMs: 500 }));
    expect(readStackFile(ok.file, ok.root).spanExportDelayMs).toBe(500);
    const bad = stackDir(JSON.stringify({ endpoints, spanExportDelayMs: 'soon' }));
    expect(() => readStackFile(bad.file, bad.root)).toThrow(/stack\.json: spanExportDelayMs: /);
  });

  it('stack down removes it; a removed stack is one clear line before any load', async () => {
    const port = await closedPort();
    const { root, file } = stackDir(JSON.stringify({ endpoints: { backendUrl: `http://127.0.0.1:${port}`, jaegerUrl: `http://127.0.0.1:${port}` } }));
    const stack = readStackFile('stack-1', root);
    await expect(probeExternalStack(stack, 2_000)).rejects.toThrow(EnvironmentError);
    await expect(probeExternalStack(stack, 2_000)).rejects.toThrow(new RegExp(`stack\\.json: the backend at http://127\\.0\\.0\\.1:${port}/api/system/health does not answer \\(ECONNREFUSED\\); is that stack still up\\?`));
    expect(removeStackFile(root, 'stack-1')).toBe(true);
    expect(existsSync(file)).toBe(false);
    expect(removeStackFile(root, 'stack-1')).toBe(false);
  });

  it('the CLI: malformed stack.json and a removed stack are one line each (exit 2 and 3), no hint naming a flag that does not exist', async () => {
    const port = await closedPort();
    const { root, file } = stackDir('{oops');
    const cfg = join(root, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ resultsDir: root }));
    const bad = await runInProcess(['run', 'smoke', '--config', cfg, '--external', 'stack-1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain(`${file}: not valid JSON`);
    writeFileSync(file, JSON.stringify({ endpoints: { backendUrl: `http://127.0.0.1:${port}`, jaegerUrl: `http://127.0.0.1:${port}` } }));
    // End to end (bin/hsi-chaos.js in its own process): the process's exit code is the table's 3.
    const gone = spawnCli(['run', 'smoke', '--config', cfg, '--external', 'stack-1']);
    expect(gone.code).toBe(3);
    expect(gone.stderr.trim().split('\n')).toHaveLength(1);
    expect(gone.stderr).toMatch(/does not answer \(ECONNREFUSED\)/);
    const help = (await runInProcess(['--help'])).stdout + bad.stderr + gone.stderr;
    expect(help).not.toContain('--toxiproxy-url');
  });
});
