import { dialectFlag, stackAccessOf } from './access-flags.ts';
import { runCapacity, type CapacityOptions } from '../capacity/capacity-search.ts';
import { gpuObserverHook } from '../capacity/gpu-hook.ts';
import { GpuObserver } from '../experiment/gpu-observer.ts';
import type { CapacityResult } from '../capacity/capacity-types.ts';
import { defaultCapacitySettings, embeddedCapacityTarget } from '../capacity/capacity-defaults.ts';
import { CAPACITY_HELP, DEFAULT_CAPACITY_SCENARIO } from './capacity-help.ts';
import { ConfigError } from '../errors.ts';
import type { ExperimentTarget } from '../experiment/phases.ts';
import { loadScenario } from '../scenario/load-scenario.ts';
import type { Scenario } from '../scenario/scenario-types.ts';
import { aiFlag, config, parse, PROJECT_ROOT } from './main.ts';
import { readStackFile } from './stack-file.ts';
import { ensureDockerEngine } from '../stack/docker-engine.ts';
import { colour, logLine } from './output.ts';

function numberFlag(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new ConfigError(`--${name} must be a number from ${min} to ${max} (got "${value}")`);
  return n;
}

function optionalNumber(value: string | undefined, name: string, min: number, max: number): number | undefined {
  return value === undefined ? undefined : numberFlag(value, name, 0, min, max);
}

const FLAGS = {
  min: { type: 'string' },
  max: { type: 'string' },
  'step-factor': { type: 'string' },
  resolution: { type: 'string' },
  'detect-budget': { type: 'string' },
  'analyze-budget': { type: 'string' },
  window: { type: 'string' },
  'max-windows': { type: 'string' },
  warmup: { type: 'string' },
  tolerance: { type: 'string' },
  'backlog-tolerance': { type: 'string' },
  'vram-headroom': { type: 'string' },
  'time-limit': { type: 'string' },
  require: { type: 'string' },
  set: { type: 'string', multiple: true },
  gpus: { type: 'string' },
  external: { type: 'string' },
  'run-id': { type: 'string' },
  ai: { type: 'string' },
  dialect: { type: 'string' },
} as const;

type Values = ReturnType<typeof parse<typeof FLAGS>>['values'];

function settingsFrom(values: Values, scenario: Scenario): CapacityOptions['settings'] {
  const d = defaultCapacitySettings(scenario, values.set ?? []);
  const maxWindows = numberFlag(values['max-windows'], 'max-windows', d.stability.maxWindows, 2, 50);
  const min = optionalNumber(values.min, 'min', 0.01, 100_000);
  const max = optionalNumber(values.max, 'max', 0.01, 100_000);
  const require = optionalNumber(values.require, 'require', 0, 1_000_000);
  return {
    ...d,
    budgets: { detectP95Ms: numberFlag(values['detect-budget'], 'detect-budget', d.budgets.detectP95Ms, 1, 3_600_000), analyzeP95Ms: numberFlag(values['analyze-budget'], 'analyze-budget', d.budgets.analyzeP95Ms, 1, 3_600_000) },
    stability: { ...d.stability, tolerance: numberFlag(values.tolerance, 'tolerance', d.stability.tolerance, 0.001, 10), maxWindows },
    bounds: { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}), factor: numberFlag(values['step-factor'], 'step-factor', d.bounds.factor, 1.001, 10), resolution: numberFlag(values.resolution, 'resolution', d.bounds.resolution, 0.001, 0.99) },
    windowMs: numberFlag(values.window, 'window', d.windowMs / 1000, 1, 600) * 1000,
    warmupMs: numberFlag(values.warmup, 'warmup', d.warmupMs / 1000, 0, 600) * 1000,
    backlogSlopeTolerance: numberFlag(values['backlog-tolerance'], 'backlog-tolerance', d.backlogSlopeTolerance, 0, 1),
    timeLimitMs: numberFlag(values['time-limit'], 'time-limit', d.timeLimitMs / 1000, 10, 86_400) * 1000,
    maxVramUsedFraction: 1 - numberFlag(values['vram-headroom'], 'vram-headroom', 1 - d.maxVramUsedFraction, 0, 1),
    gpus: numberFlag(values.gpus, 'gpus', d.gpus, 1, 1024),
    ...(require !== undefined ? { require } : {}),
  };
}

export async function cmdCapacity(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, FLAGS, 1);
  if (values.help) {
    process.stdout.write(`hsi-chaos capacity [SCENARIO] [options]\n${CAPACITY_HELP}\n`);
    return 0;
  }
  const cfg = config(values);
  const scenario = await loadScenario(positionals[0] ?? DEFAULT_CAPACITY_SCENARIO, { fixturesDir: cfg.fixturesDir, projectRoot: PROJECT_ROOT });
  const settings = settingsFrom(values, scenario);
  const ai = aiFlag(values.ai);
  const dialect = dialectFlag(values.dialect);
  let target: ExperimentTarget;
  if (values.external !== undefined) {
    if (settings.whatIfs.length > 0) throw new ConfigError('--set needs the embedded stack (an external stack has its own configuration); drop --set or --external');
    if (ai !== undefined) throw new ConfigError('--ai needs the embedded stack (an external stack runs what it runs); drop --ai or --external');
    const { file: _file, ...stack } = readStackFile(values.external, cfg.resultsDir);
    target = { kind: 'external', ...stack, ...stackAccessOf({ flag: dialect, file: stack, config: cfg.dialect, env: process.env }) };
  } else {
    target = { ...embeddedCapacityTarget(scenario, values.set ?? [], ai), ...stackAccessOf({ flag: dialect, config: cfg.dialect, env: process.env }) };
  }
  if (target.kind === 'embedded') await ensureDockerEngine({ bootstrap: cfg.dockerBootstrap, log: logLine });
  const gpu = new GpuObserver();
  const outcome = await runCapacity({ scenario, config: cfg, target, settings, log: logLine, observers: [gpu], gpu: gpuObserverHook(gpu), onKnee: (tSec, label) => gpu.setKnee(tSec, label), ...(values['run-id'] ? { runId: values['run-id'] } : {}) });
  process.stdout.write(capacitySummary(outcome.result, outcome.resultsDir));
  return outcome.exitCode;
}

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '  -  ' : `${(v * 100).toFixed(0).padStart(4)} %`);
const msText = (v: number | null) => (v === null ? '     -' : v.toFixed(1).padStart(7));

/** The closing block: knee, what limited it, the per-stage table, model vs measurement. */
export function capacitySummary(r: CapacityResult, dir: string): string {
  const ok = r.exitCode === 0;
  const lines = ['', `${colour.bold('hsi-chaos capacity')} ${r.scenario.name} (${r.runId}): ${ok ? colour.green('PASSED') : colour.red(r.verdict.toUpperCase())} (exit ${r.exitCode})`];
  const k = r.knee;
  lines.push(`  knee             ${k.uploadsPerSec === null ? 'none: the lowest load failed' : `${k.uploadsPerSec.toFixed(2)} uploads/s = ${k.cameras} cameras at ${r.settings.fps} fps`} (${k.kind}${k.failedAtUploadsPerSec !== null ? `, failed at ${k.failedAtUploadsPerSec.toFixed(2)}/s` : ''})`);
  lines.push(`  per GPU          ${r.perGpu.statement}`);
  if (k.limitedBy.length > 0) lines.push(`  limited by       ${k.limitedBy.join(', ')}`);
  if (k.bottleneck) lines.push(`  bottleneck       ${k.bottleneck}`);
  const before = r.prediction.before;
  const measured = k.uploadsPerSec;
  if (before) lines.push(`  model (before)   ${before.uploadsPerSec.toFixed(2)} uploads/s, bottleneck ${before.bottleneck}${measured !== null ? `; measured/predicted ${(measured / before.uploadsPerSec).toFixed(3)}` : ''}`);
  const traced = r.prediction.fromTraces;
  if (traced) lines.push(`  model (traces)   ${traced.uploadsPerSec.toFixed(2)} uploads/s from ${traced.basis}${measured !== null ? `; measured/model ${(measured / traced.uploadsPerSec).toFixed(3)}` : ''}`);
  if (r.analytic.detectorRps !== undefined || r.analytic.llmRps !== undefined) lines.push(`  analytic         detector ${r.analytic.detectorRps?.toFixed(2) ?? '-'}/s, llm ${r.analytic.llmRps?.toFixed(2) ?? '-'}/s (the emulators' /health)`);
  if (r.stages.length > 0) {
    lines.push('  stage                    X/s     S ms    W ms   p95 ms   c      U    cap/s');
    for (const s of r.stages) {
      lines.push(`  ${s.label.padEnd(22)} ${s.throughputPerSec.toFixed(2).padStart(6)} ${msText(s.serviceMs)} ${msText(s.waitMs)} ${msText(s.p95Ms)} ${String(s.slots ?? '-').padStart(3)} ${pct(s.utilisation)} ${s.capacityUploadsPerSec === null ? '     -' : s.capacityUploadsPerSec.toFixed(2).padStart(8)}`);
    }
  }
  if (r.little) lines.push(`  Little's law     L ${r.little.observedL.toFixed(2)} (queue status) vs X·R ${r.little.predictedL.toFixed(2)} (traces): ${r.little.ok ? 'consistent' : colour.red('inconsistent')} (${(r.little.relativeError * 100).toFixed(0)} %)`);
  lines.push(`  search           ${r.steps.length} steps in ${r.wallSeconds.toFixed(0)} s`);
  for (const e of r.errors) lines.push(`  ${colour.red('error')}            ${e}`);
  lines.push(`  capacity         ${dir}/capacity.json`, `  report           ${dir}/report.html`, '');
  return lines.join('\n');
}
