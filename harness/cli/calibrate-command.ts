import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readAiSamples, readCalibration } from '../calibrate/calibration-file.ts';
import { CalibrationError, compareStages, fitDetector, fitLlm, type Calibration, type DistributionFit, type EngineCalibration, type StageComparison } from '../calibrate/fit.ts';
import type { StackConfig } from '../config/stack-config.ts';
import { ConfigError, ExitCode } from '../errors.ts';
import type { ExperimentEvaluator } from '../experiment/evaluator.ts';
import { runExperiment, type ExperimentTarget } from '../experiment/experiment-runner.ts';
import { resolveRunDir } from '../report/compare.ts';
import type { RunReportModel } from '../report/report-model.ts';
import { readRunReport } from '../report/report-schema.ts';
import type { Scenario } from '../scenario/scenario-types.ts';
import { parseDefects } from '../stack/defects.ts';
import { colour, logLine } from './output.ts';

/**
 * `hsi-chaos calibrate [SCENARIO] [--from RUN] [--out FILE] [--verify]`: measure the real AI
 * engines' service times from their spans (a run of SCENARIO with `ai: real`, or an earlier
 * such run), write emulator parameters, report the fit; with --verify, run SCENARIO again on
 * the emulators with those parameters and compare the pipeline's stages (p50, p95, ±15 %).
 */

export interface CalibrateInput {
  scenario: Scenario;
  config: StackConfig;
  evaluator: ExperimentEvaluator;
  from: string | undefined;
  out: string | undefined;
  verify: boolean;
}

function embeddedTarget(scenario: Scenario, ai: 'real' | 'emulated', params?: { detector: Record<string, string>; llm: Record<string, string> }): ExperimentTarget {
  return {
    kind: 'embedded',
    defects: parseDefects(scenario.stack?.defects ?? []),
    backendEnv: scenario.stack?.backend ?? {},
    detectorEnv: { ...(scenario.stack?.detector ?? {}), ...(params?.detector ?? {}) },
    llmEnv: { ...(scenario.stack?.llm ?? {}), ...(params?.llm ?? {}) },
    ai: { detector: ai, llm: ai },
  };
}

async function measuredRun(input: CalibrateInput): Promise<{ runDir: string; report: RunReportModel }> {
  if (input.from !== undefined) {
    const runDir = resolveRunDir(input.from, input.config.resultsDir);
    return { runDir, report: readRunReport(runDir) };
  }
  logLine(`calibrate: measuring the real engines with scenario ${input.scenario.name}`);
  const outcome = await runExperiment({ scenario: input.scenario, config: input.config, target: embeddedTarget(input.scenario, 'real'), evaluator: input.evaluator, log: logLine });
  logLine(`real run ${outcome.report.runId}: ${outcome.report.verdict} (its expectations do not decide the calibration)`);
  return { runDir: outcome.resultsDir, report: outcome.report };
}

function fitLine(name: string, f: DistributionFit | number | undefined, unit: string): string {
  if (f === undefined) return '';
  if (typeof f === 'number') return `    ${name.padEnd(24)} ${f}${unit}`;
  return `    ${name.padEnd(24)} measured p50 ${f.measured.p50}${unit} p95 ${f.measured.p95}${unit} | fitted p50 ${f.fitted.p50}${unit} p95 ${f.fitted.p95}${unit} (${f.samples} samples)`;
}

export function calibrationOf(runDir: string, runId: string, config: StackConfig): Calibration {
  const { modes, samples } = readAiSamples(runDir);
  const cal: Calibration = { source: runId, createdAt: new Date().toISOString() };
  try {
    if (modes.detector === 'real') cal.detector = fitDetector(samples.detector, config.realAi);
    if (modes.llm === 'real') cal.llm = fitLlm(samples.llm, config.realAi);
  } catch (error) {
    if (error instanceof CalibrationError) throw new ConfigError(`calibrate: ${error.message}`);
    throw error;
  }
  if (cal.detector === undefined && cal.llm === undefined) throw new ConfigError(`calibrate: run ${runId} had no real AI engine; run it with --ai real`);
  return cal;
}

function detectorFitLines(fit: EngineCalibration['fit']): string[] {
  if (fit['inferenceMs'] === undefined) return [fitLine('service time', fit['serviceMs'], ' ms')];
  const base = fit['hostWorkBaseMs'];
  const perMp = fit['hostWorkPerMegapixelMs'];
  return [
    fitLine('host work (serial)', fit['hostWorkMs'], ' ms'),
    typeof base === 'number' && typeof perMp === 'number' ? `    ${'  its median'.padEnd(24)} ${base} ms + ${perMp} ms per megapixel (decode grows with the image)` : '',
    fitLine('inference (slots)', fit['inferenceMs'], ' ms'),
    fitLine('per image, together', fit['serviceMs'], ' ms'),
  ];
}

function printCalibration(cal: Calibration, file: string): void {
  const lines = [`calibration of run ${cal.source} written to ${file}`];
  if (cal.detector) lines.push('  detector', ...detectorFitLines(cal.detector.fit), `    env ${JSON.stringify(cal.detector.env)}`);
  if (cal.llm) {
    lines.push('  llm', fitLine('prefill', cal.llm.fit['prefillTokensPerSecond'], ' tokens/s'), fitLine('decode', cal.llm.fit['decodeTokensPerSecond'], ' tokens/s'));
    lines.push(fitLine('generated tokens', cal.llm.fit['generatedTokens'], ''), fitLine('call overhead (p50)', cal.llm.fit['callOverheadMs'], ' ms'), fitLine('beyond prefill', cal.llm.fit['callBeyondPrefillMs'], ' ms'), `    env ${JSON.stringify(cal.llm.env)}`);
  }
  process.stdout.write(`${lines.filter((l) => l !== '').join('\n')}\n`);
}

function printComparison(rows: readonly StageComparison[]): void {
  const pct = (d: number | null) => (d === null ? 'n/a' : `${d >= 0 ? '+' : ''}${(d * 100).toFixed(1)} %`);
  const ms = (v: { p50: number; p95: number } | null) => (v === null ? 'missing' : `p50 ${v.p50.toFixed(0)} / p95 ${v.p95.toFixed(0)} ms`);
  const lines = ['stage fit (emulated with the calibration vs real, bound ±15 %):'];
  for (const r of rows) lines.push(`  ${r.within ? colour.green('✓') : colour.red('✗')} ${r.stage.padEnd(26)} real ${ms(r.real)}  emulated ${ms(r.emulated)}  p50 ${pct(r.p50Diff)}  p95 ${pct(r.p95Diff)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function calibrate(input: CalibrateInput): Promise<number> {
  const { runDir, report } = await measuredRun(input);
  const cal = calibrationOf(runDir, report.runId, input.config);
  const file = resolve(input.out ?? join(runDir, 'calibration.json'));
  writeFileSync(file, `${JSON.stringify(cal, null, 2)}\n`);
  printCalibration(cal, file);
  if (!input.verify) return ExitCode.pass;
  logLine('calibrate --verify: the same scenario on the emulators with these parameters');
  const emulated = await runExperiment({ scenario: input.scenario, config: input.config, target: embeddedTarget(input.scenario, 'emulated', readCalibration(file)), evaluator: input.evaluator, log: logLine });
  const rows = compareStages(report.operations, emulated.report.operations);
  writeFileSync(join(emulated.resultsDir, 'calibration-fit.json'), `${JSON.stringify({ real: report.runId, emulated: emulated.report.runId, tolerance: 0.15, stages: rows }, null, 2)}\n`);
  printComparison(rows);
  return rows.every((r) => r.within) ? ExitCode.pass : ExitCode.expectationFailed;
}
