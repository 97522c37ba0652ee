/**
 * The capacity search's cost and accuracy, on the emulated stack:
 *
 *   node bench/capacity.bench.ts [--scenario capacity-detector] [--set detector.slots=2]… [--ai real] [--time-limit S]
 *
 * Runs one whole search (one stack) and prints its wall time (stack start and search apart),
 * the steps it measured, the knee, and the knee's error against the capacity the emulators
 * print in /health (the bottleneck's analytic_capacity_rps), beside the error of the model's
 * own prediction from the same /health (the peer: what the arithmetic alone says, no load).
 * Goals: search ≤ 300 s, |knee error| ≤ 5 %. With --ai real (the real engines, no analytic
 * capacity) the error is against the engines' own figures at the knee (the detector's inference
 * time × its slots, or its work outside the slots, from its spans): goal ±15 %.
 * Loopback only; every step bounded.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { defaultCapacitySettings, embeddedCapacityTarget } from '../harness/capacity/capacity-defaults.ts';
import { AiMode } from '../harness/config/real-ai-config.ts';
import { runCapacity } from '../harness/capacity/capacity-search.ts';
import { loadStackConfig } from '../harness/config/stack-config.ts';
import { loadScenario } from '../harness/scenario/load-scenario.ts';
import { runTeardown } from '../harness/stack/teardown.ts';
import { configureTestcontainers } from '../harness/stack/testcontainers-env.ts';
import { installCliSignalHandlers } from '../harness/cli/signals.ts';

// This script is a program's edge: testcontainers' settings and Ctrl-C teardown are set here.
configureTestcontainers();
installCliSignalHandlers();

const { values: args } = parseArgs({ options: { scenario: { type: 'string', default: 'capacity-detector' }, set: { type: 'string', multiple: true }, ai: { type: 'string' }, 'time-limit': { type: 'string' } } });
const config = loadStackConfig({ projectRoot: new URL('..', import.meta.url).pathname });
const scenario = await loadScenario(args.scenario, { fixturesDir: config.fixturesDir });
const whatIfs = args.set ?? [];
const ai = args.ai === undefined ? undefined : AiMode.parse(args.ai);
const settings = defaultCapacitySettings(scenario, whatIfs);
if (args['time-limit'] !== undefined) settings.timeLimitMs = Number(args['time-limit']) * 1000;
const load0 = loadavg()[0]!;
const started = Date.now();
try {
  const { result } = await runCapacity({
    scenario,
    config,
    target: embeddedCapacityTarget(scenario, whatIfs, ai),
    settings,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const wall = (Date.now() - started) / 1000;
  const bottleneck = result.knee.bottleneck ?? result.prediction.before?.bottleneck;
  const analytic = bottleneck === 'llm' ? result.analytic.llmRps : result.analytic.detectorRps;
  const knee = result.knee.uploadsPerSec;
  const pct = (v: number | null | undefined) => (v === null || v === undefined || analytic === undefined ? 'n/a' : `${(((v - analytic) / analytic) * 100).toFixed(1)} %`);
  const stepSeconds = result.steps.reduce((a, s) => a + s.seconds, 0);
  const lines = [
    `capacity bench: ${scenario.name}${whatIfs.length ? ` (${whatIfs.join(', ')})` : ''}${ai ? ` --ai ${ai}` : ''} on ${cpus().length} cores, load average ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`,
    `  wall time        ${wall.toFixed(0)} s (stack start ${(wall - stepSeconds).toFixed(0)} s incl. image check, ${result.steps.length} steps ${stepSeconds.toFixed(0)} s); goal ≤ 300 s`,
    `  knee             ${knee?.toFixed(2) ?? 'none'} uploads/s, bottleneck ${bottleneck ?? 'n/a'} (${result.knee.kind})`,
    `  analytic         ${analytic?.toFixed(2) ?? 'n/a'} /s (the ${bottleneck ?? '?'} emulator's /health)`,
    `  knee error       ${pct(knee)} (goal within ±5 %)`,
    `  model error      ${pct(result.prediction.before?.uploadsPerSec)} (prediction before the run, same /health: the peer)`,
    `  engines (knee)   ${result.prediction.fromTraces ? `${result.prediction.fromTraces.uploadsPerSec.toFixed(2)}/s from ${result.prediction.fromTraces.basis}; knee/engines ${knee === null ? 'n/a' : (knee / result.prediction.fromTraces.uploadsPerSec).toFixed(3)}` : 'n/a'} (the model from the knee step's spans)`,
    `  steps            ${result.steps.map((s) => `${s.uploadsPerSec.toFixed(2)}${s.sustained ? '✓' : '✗'}`).join(' ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await runTeardown();
}
