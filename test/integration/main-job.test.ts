import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerResourcesOfRun, PROJECT_ROOT, runCli } from './stack-helpers.ts';

describe('hsi-chaos trace-check and Ctrl-C', () => {
  it('prints trace ids whose traces hold backend and detector spans, writes summary.json, leaves nothing behind', async () => {
    const res = await runCli(['trace-check', '--uploads', '3']);
    expect(res.code, res.stderr + res.stdout).toBe(0);
    expect(res.stdout).toMatch(/stack started in \d+\.\d s/);
    expect(res.stdout).toMatch(/✓ [0-9a-f]{32} +\d+ spans +.*nemotron-backend.*ai-yolo26-emulator|✓ [0-9a-f]{32} +\d+ spans +.*ai-yolo26-emulator.*nemotron-backend/);
    expect(res.runId).toBeDefined();
    const summaryFile = join(PROJECT_ROOT, 'results', res.runId!, 'summary.json');
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as { status: string; uploads: { accepted: number }; traces: { ok: boolean }[] };
    expect(summary.status).toBe('passed');
    expect(summary.uploads.accepted).toBe(3);
    expect(summary.traces.filter((t) => t.ok)).toHaveLength(3);
    expect(await dockerResourcesOfRun(res.runId!)).toEqual([]);
  });

  it('on Ctrl-C in the middle of an experiment\'s fault window tears the stack down and keeps the results written so far', async () => {
    let interrupted = false;
    const res = await runCli(['run', 'chaos-detector-latency'], (line, kill) => {
      if (!interrupted && /fault detector-latency on detector applied/.test(line)) {
        interrupted = true;
        setTimeout(() => kill('SIGINT'), 1_000);
      }
    });
    expect(interrupted).toBe(true);
    expect(res.code).toBe(130);
    expect(res.runId).toBeDefined();
    expect(await dockerResourcesOfRun(res.runId!)).toEqual([]);
    const dir = join(PROJECT_ROOT, 'results', res.runId!);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { verdict: string; gpu?: { source: string } };
    expect(summary.verdict).toBe('interrupted');
    expect(summary.gpu?.source).toBeDefined(); // the GPU section survives Ctrl-C too
    expect(existsSync(join(dir, 'requests.ndjson'))).toBe(true);
    expect(existsSync(join(dir, 'gpu.ndjson'))).toBe(true);
    expect(readFileSync(join(dir, 'requests.ndjson'), 'utf8').trim().split('\n').length).toBeGreaterThan(10);
  });
});
