import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../harness/errors.ts';
import type { ExperimentEvaluator } from '../../../harness/experiment/evaluator.ts';
import { decideVerdict, validateExperiment, type AttachedTarget } from '../../../harness/experiment/phases.ts';
import { RunSession, type RunObserver } from '../../../harness/experiment/run-session.ts';
import { loadScenario } from '../../../harness/scenario/load-scenario.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const noEvaluator: ExperimentEvaluator = { validate: () => undefined, evaluate: () => Promise.reject(new Error('not used')) };
const external: AttachedTarget = { kind: 'external', endpoints: { backendUrl: 'http://127.0.0.1:9', jaegerUrl: 'http://127.0.0.1:9' }, emulatorUrls: {} };

async function session(observers: RunObserver[], lines: string[]): Promise<RunSession> {
  const root = mkdtempSync(join(tmpdir(), 'hsi-session-'));
  dirs.push(root);
  const scenario = await loadScenario('smoke');
  return new RunSession({ scenario, target: { kind: 'external', endpoints: external.endpoints }, resultsRoot: root, runId: 'r1', plannedFaults: [], log: (l) => lines.push(l), observers });
}

describe('the run phases', () => {
  it('validation refuses network faults on an external stack without Toxiproxy, before anything starts', async () => {
    const scenario = await loadScenario('steady-detector-fault');
    expect(() => validateExperiment({ scenario, evaluator: noEvaluator, target: { kind: 'external', endpoints: external.endpoints } })).toThrow(ConfigError);
    expect(validateExperiment({ scenario, evaluator: noEvaluator, target: { kind: 'embedded' } }).plannedFaults.length).toBeGreaterThan(0);
  });

  it('the verdict: assertion or steady state → 1, threshold → 99, else 0', async () => {
    const s = await session([], []);
    const ok = { ok: true, detail: '' };
    decideVerdict(s.model, { before: ok, after: ok });
    expect([s.model.exitCode, s.model.verdict]).toEqual([0, 'passed']);
    s.model.thresholds.push({ metric: 'm', expression: 'p(95)<1', ok: false, abortOnFail: false });
    decideVerdict(s.model, { before: ok, after: ok });
    expect(s.model.exitCode).toBe(99);
    decideVerdict(s.model, { before: ok, after: { ok: false, detail: 'down' } });
    expect([s.model.exitCode, s.model.verdict]).toEqual([1, 'failed']);
    await s.close();
  });

  it('a session calls its observers in order, survives a failing one, and writes the reports on close', async () => {
    const calls: string[] = [];
    const lines: string[] = [];
    const recorder: RunObserver = {
      name: 'recorder',
      onTargetReady: (ctx) => void calls.push(`ready ${ctx.target.endpoints.backendUrl}`),
      onLoadStart: (_ctx, t) => void calls.push(`start ${t}`),
      onLoadEnd: (_ctx, t) => void calls.push(`end ${t}`),
      onFinish: (ctx) => {
        calls.push('finish');
        ctx.model.errors.push('added by an observer');
      },
    };
    const broken: RunObserver = { name: 'broken', onTargetReady: () => Promise.reject(new Error('boom')) };
    const s = await session([broken, recorder], lines);
    await s.adopt(external);
    s.loadStarted(1);
    await s.loadEnded(2);
    s.fail(new ConfigError('bad input'));
    await s.close();
    expect(calls).toEqual(['ready http://127.0.0.1:9', 'start 1', 'end 2', 'finish']);
    expect(lines).toContain('broken: onTargetReady failed: boom');
    const summary = JSON.parse(readFileSync(join(s.results.dir, 'summary.json'), 'utf8')) as { verdict: string; exitCode: number; errors: string[] };
    expect(summary).toMatchObject({ verdict: 'error', exitCode: 2, errors: ['bad input', 'added by an observer'] });
    expect(readFileSync(join(s.results.dir, 'summary.md'), 'utf8')).toContain('r1');
  });
});
