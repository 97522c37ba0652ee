/**
 * How honest is `compare`? False-positive rate over healthy runs of the main job compared
 * pairwise, and detection rate over runs with a planted +300 ms on `llm_inference`.
 *
 *   node_modules/.bin/node bench/compare-sensitivity.ts [--healthy 5] [--slowed 3] [--prefix ID]
 *
 * 1. runs the main job (`steady-detector-fault`) `--healthy` times and
 *    `test/fixtures/scenarios/main-job-llm-slow.ts` (every LLM request +300 ms, emulator fault for
 *    the whole load) `--slowed` times, one after the other, each through the CLI with
 *    `--run-id <prefix>-healthy-<i>` / `<prefix>-slow-<i>` (a run whose summary.json exists is
 *    reused, so an interrupted measurement resumes with the same --prefix);
 * 2. compares every ordered pair of healthy runs (n·(n−1) comparisons): a pair with any
 *    `regressed` metric is a false positive;
 * 3. compares every slowed run against every healthy run: detected when
 *    `operation nemotron-backend llm_inference p95` is `regressed`;
 * 4. prints both rates and writes them to `results/<prefix>-compare-sensitivity.json`.
 * Each run is bounded by the scenario's own limits (2 min) plus the stack start; loopback only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compareRunDirs, type ComparisonReport } from '../harness/report/compare.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'results');
const SLOW_SCENARIO = join(ROOT, 'test/fixtures/scenarios/main-job-llm-slow.ts');
const TARGET_METRIC = 'operation nemotron-backend llm_inference p95';

interface Options {
  healthy: number;
  slowed: number;
  prefix: string;
}

function options(): Options {
  const { values } = parseArgs({ options: { healthy: { type: 'string', default: '5' }, slowed: { type: 'string', default: '3' }, prefix: { type: 'string' } } });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').toLowerCase();
  return { healthy: Number(values.healthy), slowed: Number(values.slowed), prefix: values.prefix ?? `cmpsens-${stamp}` };
}

/** Runs one experiment through the CLI unless its summary.json already exists; returns its folder. */
function runOnce(scenario: string, runId: string): string {
  const dir = join(RESULTS, runId);
  if (existsSync(join(dir, 'summary.json'))) {
    console.log(`reuse ${runId}`);
    return dir;
  }
  const started = Date.now();
  const child = spawnSync(process.execPath, [join(ROOT, 'bin/hsi-chaos.js'), 'run', scenario, '--run-id', runId], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', timeout: 10 * 60_000 });
  const first = (child.stdout ?? '').split('\n').find((l) => l.startsWith('hsi-chaos run')) ?? `${runId}: no verdict line`;
  console.log(`${first} [${((Date.now() - started) / 1000).toFixed(0)} s]`);
  if (![0, 1, 99].includes(child.status ?? -1)) throw new Error(`${runId}: hsi-chaos run exited ${child.status ?? child.signal}; see ${dir}`);
  return dir;
}

function regressedMetrics(c: ComparisonReport): string[] {
  return [...c.metrics, ...c.operations].filter((m) => m.verdict === 'regressed').map((m) => `${m.metric}: ${m.reason}`);
}

function main(): void {
  const o = options();
  const healthy = Array.from({ length: o.healthy }, (_, i) => runOnce('steady-detector-fault', `${o.prefix}-healthy-${i + 1}`));
  const slowed = Array.from({ length: o.slowed }, (_, i) => runOnce(SLOW_SCENARIO, `${o.prefix}-slow-${i + 1}`));
  let pairs = 0;
  let falsePositives = 0;
  const falseDetails: string[] = [];
  for (const current of healthy) {
    for (const baseline of healthy) {
      if (current === baseline) continue;
      pairs += 1;
      const regressed = regressedMetrics(compareRunDirs(current, baseline));
      if (regressed.length > 0) {
        falsePositives += 1;
        falseDetails.push(`${current} vs ${baseline}: ${regressed.join('; ')}`);
      }
    }
  }
  let slowPairs = 0;
  let detected = 0;
  const missed: string[] = [];
  for (const current of slowed) {
    for (const baseline of healthy) {
      slowPairs += 1;
      const m = compareRunDirs(current, baseline).operations.find((x) => x.metric === TARGET_METRIC);
      if (m?.verdict === 'regressed') detected += 1;
      else missed.push(`${current} vs ${baseline}: ${m ? m.reason : 'llm_inference not in both runs'}`);
    }
  }
  const summary = {
    command: `node_modules/.bin/node bench/compare-sensitivity.ts --healthy ${o.healthy} --slowed ${o.slowed} --prefix ${o.prefix}`,
    healthyRuns: o.healthy,
    slowedRuns: o.slowed,
    falsePositiveRate: { pairs, falsePositives, rate: pairs === 0 ? null : falsePositives / pairs, details: falseDetails },
    detectionRate: { pairs: slowPairs, detected, rate: slowPairs === 0 ? null : detected / slowPairs, missed },
  };
  writeFileSync(join(RESULTS, `${o.prefix}-compare-sensitivity.json`), `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`false positives: ${falsePositives}/${pairs} ordered pairs of healthy runs (${((100 * falsePositives) / Math.max(1, pairs)).toFixed(0)} %)`);
  for (const d of falseDetails) console.log(`  ${d}`);
  console.log(`detection: ${detected}/${slowPairs} slowed-vs-healthy pairs flag ${TARGET_METRIC} (${((100 * detected) / Math.max(1, slowPairs)).toFixed(0)} %)`);
  for (const d of missed) console.log(`  missed ${d}`);
}

main();
