import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { hsiExperimentEvaluator } from '../../assertions/hsi/experiment-evaluator.ts';
import { runExperiment } from '../../harness/experiment/experiment-runner.ts';
import type { RunContext, RunObserver } from '../../harness/experiment/run-session.ts';
import { loadScenario } from '../../harness/scenario/load-scenario.ts';
import { run } from '../../harness/util/exec.ts';
import { dockerResourcesOfRun, PROJECT_ROOT, runCli, testConfig, waitFor } from './stack-helpers.ts';

/**
 * A stack started from a compose file laid out like the real project's (compose/hsi-prod-layout.yml:
 * its service names, ports, network, environment names and GPU reservations, our images standing
 * in), rewired through hsi-chaos's Toxiproxy and Jaeger. The main job's expectations hold over
 * 12 s of load, and each backend hop is shown to go through its proxy: with that proxy disabled
 * the backend's health reports exactly that dependency down, and healthy again once re-enabled
 * (a hop left direct would stay healthy). Nothing is left running after it. The 45 s main job on
 * both shipped files is nightly (experiments/compose.experiment.ts).
 */

const LAYOUT = join(PROJECT_ROOT, 'compose/hsi-prod-layout.yml');

interface HealthBody {
  services?: { database?: { status?: string }; redis?: { status?: string }; ai?: { details?: { services?: { yolo26?: string; nemotron?: string } } } };
}

/** Which dependencies the backend's /api/system/health reports unhealthy. */
async function unhealthy(backendUrl: string): Promise<string[]> {
  const res = await request(`${backendUrl}/api/system/health`, { headersTimeout: 15_000, bodyTimeout: 15_000 });
  const body = (await res.body.json()) as HealthBody;
  const s = body.services ?? {};
  const down: [string, boolean][] = [
    ['postgres', s.database?.status !== 'healthy'],
    ['redis', s.redis?.status !== 'healthy'],
    ['detector', s.ai?.details?.services?.yolo26 !== 'healthy'],
    ['llm', s.ai?.details?.services?.nemotron !== 'healthy'],
  ];
  return down.filter(([, d]) => d).map(([n]) => n);
}

/** Per proxy: disabled, the backend loses exactly that dependency; enabled, it is back. */
class HopProof implements RunObserver {
  readonly name = 'hop proof';
  readonly seen: Record<string, string[]> = {};
  error: unknown;

  async onTargetReady(ctx: RunContext): Promise<void> {
    try {
      const toxiproxy = (ctx.target.stack as { getToxiproxyApiUrl(): string }).getToxiproxyApiUrl();
      const backend = ctx.target.endpoints.backendUrl;
      for (const proxy of ['postgres', 'redis', 'detector', 'llm']) {
        await setEnabled(toxiproxy, proxy, false);
        this.seen[proxy] = await waitFor(`${proxy} reported down`, async () => {
          const down = await unhealthy(backend);
          return down.includes(proxy) ? down : undefined;
        }, 30_000, 300);
        await setEnabled(toxiproxy, proxy, true);
        await waitFor(`${proxy} back`, async () => ((await unhealthy(backend)).length === 0 ? true : undefined), 30_000, 300);
      }
    } catch (error) {
      this.error = error;
    }
  }
}

async function setEnabled(toxiproxyUrl: string, proxy: string, enabled: boolean): Promise<void> {
  const res = await request(`${toxiproxyUrl}/proxies/${proxy}`, { method: 'POST', body: JSON.stringify({ enabled }), headers: { 'content-type': 'application/json' } });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`toxiproxy ${proxy} enabled=${enabled}: HTTP ${res.statusCode}`);
}

describe('compose stacks (--compose)', () => {
  it('the main job\'s expectations hold on the real project\'s layout, every backend hop goes through Toxiproxy, nothing is left', async () => {
    const config = testConfig();
    const scenario = await loadScenario(join(PROJECT_ROOT, 'test/fixtures/scenarios/main-job-short.ts'), { fixturesDir: config.fixturesDir });
    const proof = new HopProof();
    const outcome = await runExperiment({
      scenario,
      config,
      target: { kind: 'compose', file: LAYOUT, backendEnv: scenario.stack?.backend ?? {}, llmEnv: scenario.stack?.llm ?? {} },
      evaluator: hsiExperimentEvaluator(),
      log: () => {},
      observers: [proof],
    });
    expect(proof.error).toBeUndefined();
    // Each disabled proxy took down exactly its own dependency: the hop goes through it.
    expect(proof.seen).toEqual({ postgres: ['postgres'], redis: ['redis'], detector: ['detector'], llm: ['llm'] });
    expect(outcome.report.assertions.filter((a) => !a.passed).map((a) => a.message)).toEqual([]);
    expect(outcome.report.errors).toEqual([]);
    expect(outcome.exitCode).toBe(0);
    expect(outcome.report.stack).toMatchObject({ kind: 'compose', composeFile: LAYOUT });
    expect(await dockerResourcesOfRun(outcome.report.runId)).toEqual([]);
    const volumes = await run('docker', ['volume', 'ls', '-q', '--filter', `label=hsi-chaos.run-id=${outcome.report.runId}`]);
    expect(volumes.stdout.trim()).toBe('');
  });

  it('a missing or unreadable compose file is one line, exit 2, before anything starts', async () => {
    const missing = await runCli(['run', '--compose', 'no/such/compose.yml']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toEqual(['hsi-chaos: --compose no/such/compose.yml: no such file; give the path of a compose file (e.g. compose/reference.yml)']);
    // A file compose refuses (this test file is no compose file): compose's own reason, one line.
    const bad = await runCli(['stack', 'up', '--compose', join(PROJECT_ROOT, 'package.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/package\.json: compose cannot read it: /);
  });
});
