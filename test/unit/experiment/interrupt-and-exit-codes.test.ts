import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvironmentError, ExitCode, exitCodeOf, HarnessError } from '../../../harness/errors.ts';
import { validateExperiment } from '../../../harness/experiment/phases.ts';
import { RunSession } from '../../../harness/experiment/run-session.ts';
import type { PlannedFault } from '../../../harness/chaos/fault-schema.ts';
import type { FaultWindowRecord } from '../../../harness/chaos/toxic-timeline.ts';
import { loadScenario } from '../../../harness/scenario/load-scenario.ts';
import { processTeardown } from '../../../harness/stack/teardown.ts';
import { JaegerQueryError } from '../../../harness/traces/jaeger-client.ts';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const NODE = join(ROOT, 'node_modules', '.bin', 'node');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const fault: PlannedFault = { index: 0, name: 'detector-slow', target: 'detector', atMs: 15_000, durationMs: 10_000, fault: { type: 'latency', latency: 600, jitter: 0, stream: 'downstream', toxicity: 1 } };

async function newSession(): Promise<RunSession> {
  const root = mkdtempSync(join(tmpdir(), 'hsi-interrupt-'));
  dirs.push(root);
  const scenario = await loadScenario('smoke');
  return new RunSession({ scenario, target: { kind: 'embedded' }, resultsRoot: root, runId: 'r1', plannedFaults: [fault], log: () => undefined });
}

describe('one table of exit codes', () => {
  it('SIGTERM: the summary says 143 like the process; SIGINT 130; the applied fault keeps its start', async () => {
    for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
      const s = await newSession();
      // The fault was applied at 15.02 s and rolled back by the teardown at 17.5 s (faults.json is written at each).
      const record: FaultWindowRecord = { index: 0, name: 'detector-slow', target: 'detector', faultType: 'latency', plannedStartMs: 15_000, plannedEndMs: 25_000, applyRequestedAtMs: 15_010, appliedAtMs: 15_020, applyLagMs: 20, removedAtMs: 17_500, rolledBack: true };
      s.results.writeJson('faults.json', [record]);
      await processTeardown.run({ signal, exitCode: code });
      expect(s.interrupted).toBe(true);
      expect(s.model.exitCode).toBe(code);
      expect(s.model.verdict).toBe('interrupted');
      expect(s.model.faults[0]).toMatchObject({ name: 'detector-slow', startSec: 15.02, endSec: 17.5, applyLagMs: 20 });
      const onDisk = s.results.readJsonIfExists<{ exitCode: number; faults: { startSec: number }[] }>('summary.json');
      expect(onDisk?.exitCode).toBe(code);
      expect(onDisk?.faults[0]?.startSec).toBe(15.02);
    }
  });

  it('summary.json gets the exit code the process ends with: environment 3, input 2, a bug 70', async () => {
    const cases: [unknown, number][] = [
      [new EnvironmentError('no Docker engine answers'), 3],
      [new JaegerQueryError('Jaeger GET http://127.0.0.1:16686/api/v3/traces failed: fetch failed (ECONNREFUSED)'), 3],
      [new HarnessError('bad flag'), 2],
      [new TypeError('x is undefined'), 70],
    ];
    for (const [error, code] of cases) {
      const s = await newSession();
      s.fail(error);
      expect(s.model.exitCode).toBe(code);
      expect(exitCodeOf(error)).toBe(code);
      await s.close();
    }
    expect(ExitCode).toMatchObject({ pass: 0, expectationFailed: 1, usage: 2, environment: 3, internal: 70, thresholdsFailed: 99, interrupted: 130, terminated: 143 });
  });
});

describe('external stack settings', () => {
  it('faults on an external stack without Toxiproxy: the hint names the stack.json field, not a flag that does not exist', async () => {
    const scenario = await loadScenario('steady-detector-fault');
    const evaluator = { validate: () => undefined, evaluate: () => Promise.reject(new Error('not used')) };
    const run = () => validateExperiment({ scenario, evaluator, target: { kind: 'external', endpoints: { backendUrl: 'http://127.0.0.1:9', jaegerUrl: 'http://127.0.0.1:9' } } });
    expect(run).toThrow(/the external stack file has no "toxiproxyUrl"; add it to the stack\.json/);
    expect(run).not.toThrow(/--toxiproxy-url/);
  });
});

describe('the CLI process', () => {
  const cli = (args: string[]) => spawnSync(NODE, [join(ROOT, 'bin', 'hsi-chaos.js'), ...args], { cwd: ROOT, env: { ...process.env, CI: 'true' }, encoding: 'utf8', timeout: 60_000 });

  it('a scenario file that calls process.exit(0) cannot end the run with exit 0 and no output', () => {
    const res = cli(['run', join(ROOT, 'test/fixtures/scenarios/calls-process-exit.ts')]);
    expect(res.status).toBe(2);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/calls-process-exit\.ts: cannot be loaded: process\.exit\(0\) was called while hsi-chaos was running/);
  });

  it('exits promptly after a failure even when a handle is left open', () => {
    const started = Date.now();
    const res = cli(['run', join(ROOT, 'test/fixtures/scenarios/lingering-handle.ts')]);
    expect(res.status).toBe(2);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(30_000); // without the edge's exit it would hang until the spawn timeout
  });
});

