/**
 * Compose stacks, nightly: the main job (steady-detector-fault, 45 s with the detector fault) and
 * a Redis and a PostgreSQL fault on stacks started from both shipped compose files, rewired
 * through hsi-chaos's Toxiproxy and Jaeger (docs/testing-real-hsi.md). `npm test` keeps one
 * representative: test/integration/compose.test.ts (the main job's expectations over 12 s on the
 * real project's layout, with each hop shown to go through its proxy).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { hsiExperimentEvaluator } from '../assertions/hsi/experiment-evaluator.ts';
import { setup as setupMatchers } from '../assertions/vitest-matchers.ts';
import { loadStackConfig } from '../harness/config/stack-config.ts';
import { runExperiment } from '../harness/experiment/experiment-runner.ts';
import { loadScenario } from '../harness/scenario/load-scenario.ts';
import { run } from '../harness/util/exec.ts';

const root = new URL('..', import.meta.url).pathname;
const config = loadStackConfig({ projectRoot: root });

beforeAll(() => setupMatchers());

describe.each(['compose/reference.yml', 'compose/hsi-prod-layout.yml'])('compose: %s', (file) => {
  it.each(['steady-detector-fault', 'chaos-redis-reset', 'chaos-postgres-bandwidth'])('%s meets every expectation and leaves nothing behind', async (name) => {
    const scenario = await loadScenario(name, { fixturesDir: config.fixturesDir });
    const outcome = await runExperiment({
      scenario,
      config,
      target: { kind: 'compose', file: `${root}${file}`, backendEnv: scenario.stack?.backend ?? {}, detectorEnv: scenario.stack?.detector ?? {}, llmEnv: scenario.stack?.llm ?? {} },
      evaluator: hsiExperimentEvaluator(),
      log: (line) => process.stdout.write(`[${file} ${name}] ${line}\n`),
    });
    expect(outcome.report.assertions).toPass();
    expect(outcome.report.thresholds.filter((t) => !t.ok)).toEqual([]);
    expect(outcome.exitCode).toBe(0);
    for (const kind of [['ps', '-aq'], ['network', 'ls', '-q'], ['volume', 'ls', '-q']]) {
      const left = await run('docker', [...kind, '--filter', `label=hsi-chaos.run-id=${outcome.report.runId}`]);
      expect(left.stdout.trim(), kind.join(' ')).toBe('');
    }
  });
});
