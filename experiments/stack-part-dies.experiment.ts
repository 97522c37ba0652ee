/**
 * Issue 15, reliability: a part of the stack dying mid-run (Jaeger killed while the load runs)
 * is an environment error, exit 3 in the one exit-code table, never 2 (usage); the run's
 * summary.json says the same code, and the error names the endpoint that stopped answering.
 * Nightly (one stack, ~1 min): `npm run experiments`.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hsiExperimentEvaluator } from '../assertions/hsi/experiment-evaluator.ts';
import { loadStackConfig } from '../harness/config/stack-config.ts';
import { ExitCode } from '../harness/errors.ts';
import { runExperiment } from '../harness/experiment/experiment-runner.ts';
import type { RunObserver } from '../harness/experiment/run-session.ts';
import { readRunReport } from '../harness/report/report-schema.ts';
import { loadScenario } from '../harness/scenario/load-scenario.ts';
import { ROLE_LABEL, RUN_ID_LABEL } from '../harness/stack/containers/container-hardening.ts';
import { newRunId } from '../harness/stack/hsi-stack.ts';
import { run } from '../harness/util/exec.ts';

const root = new URL('..', import.meta.url).pathname;
const config = loadStackConfig({ projectRoot: root });

/** Kills this run's Jaeger (by its labels, nothing else) as soon as the load starts. */
function killJaegerAtLoadStart(runId: string): RunObserver {
  return {
    name: 'kill jaeger',
    async onLoadStart() {
      const ps = await run('docker', ['ps', '-q', '--filter', `label=${RUN_ID_LABEL}=${runId}`, '--filter', `label=${ROLE_LABEL}=jaeger`]);
      const ids = ps.stdout.split('\n').filter((l) => l.trim() !== '');
      expect(ids).toHaveLength(1);
      await run('docker', ['kill', ...ids]);
    },
  };
}

describe('a stack part dies mid-run', () => {
  it('Jaeger killed during the load: exit 3 (environment), summary.json agrees, the error names Jaeger', async () => {
    const scenario = await loadScenario(join(root, 'test/fixtures/scenarios/compare-short.ts'), { fixturesDir: config.fixturesDir });
    const runId = newRunId('jaeger-dies');
    const error = await runExperiment({
      scenario,
      config,
      runId,
      target: { kind: 'embedded', backendEnv: scenario.stack?.backend ?? {}, llmEnv: scenario.stack?.llm ?? {} },
      evaluator: hsiExperimentEvaluator({ traceSettleTimeoutMs: 10_000 }),
      observers: [killJaegerAtLoadStart(runId)],
      log: (line) => process.stdout.write(`[jaeger-dies] ${line}\n`),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as { exitCode?: number }).exitCode).toBe(ExitCode.environment);
    expect((error as Error).message).toMatch(/Jaeger GET http:\/\/127\.0\.0\.1:\d+\/api/);
    const summary = readRunReport(join(config.resultsDir, runId));
    expect(summary.exitCode).toBe(ExitCode.environment);
    expect(summary.verdict).toBe('error');
  });
});
