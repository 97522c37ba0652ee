import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { FaultWindowRecord } from '../chaos/toxic-timeline.ts';
import type { StackConfig } from '../config/stack-config.ts';
import type { ExperimentEvaluator } from '../experiment/evaluator.ts';
import { runExperiment, type ExperimentOutcome } from '../experiment/experiment-runner.ts';
import { beyondNoise, noiseOf, type ReplayFidelityView } from '../report/replay-fidelity.ts';
import { loadScenario, PROJECT_ROOT } from '../scenario/load-scenario.ts';
import type { Scenario } from '../scenario/scenario-types.ts';
import { parseDefects } from '../stack/defects.ts';
import { RUN_TRACES_FILE, toLegacyJson } from '../traces/legacy-export.ts';
import { replayFidelityObserver } from './fidelity-observer.ts';
import { noiseReference } from './fidelity.ts';
import { readTraceFile } from './input.ts';
import { reconstruct, type ReplayPlan } from './reconstruct.ts';
import { writeScenarioSource } from './scenario-writer.ts';

/**
 * The replay's acceptance measurement, as code: run a scenario, export its traces to a file,
 * rebuild a scenario from that file alone, run it, and measure how close it came (the fault
 * windows against the original's applied ones, the fidelity view, the expectation verdicts per
 * family). Used by the fast integration test (one scenario) and the nightly suite (all six).
 */

/**
 * How one edge of a replayed window compares with the original's applied edge:
 * - `within`: the replayed edge is within the tolerance (±1 s) of the applied one;
 * - `hidden`: it is not, but no call crossed the hop near that edge: the traces only bracket
 *   it (between the last good call and the first failure, the last failure and the next good
 *   call, or, at a partial error rate, before the first / after the last failure) in a bracket
 *   wider than twice the tolerance, and the applied edge lies inside that bracket. No reading of
 *   these traces can do better; the symptom windows (each side's traces read alike) are then
 *   what the replay is judged by;
 * - `off`: neither (a reconstruction error).
 */
export type EdgeVerdict = 'within' | 'hidden' | 'off';

export interface WindowMeasurement {
  name: string;
  target: string;
  original: { fromSec: number; toSec: number };
  replayed: { fromSec: number; toSec: number; type: string } | null;
  startOffsetSec: number | null;
  endOffsetSec: number | null;
  /** What the incident's traces allow for each edge, seconds from the first upload. */
  startBracketSec: [number, number] | null;
  endBracketSec: [number, number] | null;
  start: EdgeVerdict;
  end: EdgeVerdict;
}

export const WINDOW_TOLERANCE_SEC = 1;
/**
 * How exactly an applied edge is known on the traces' clock: the harness applies faults within
 * 50 ms of plan (the chaos scenarios' bound) and the load clock's zero is the first upload's
 * span start to within the network's few ms. Used only to test that the applied edge lies in
 * the traces' bracket.
 */
export const EDGE_TIMING_SEC = 0.05;

export function edgeVerdict(offsetSec: number | null, appliedSec: number, bracket: [number, number] | null, toleranceSec = WINDOW_TOLERANCE_SEC): EdgeVerdict {
  if (offsetSec === null) return 'off';
  if (Math.abs(offsetSec) <= toleranceSec) return 'within';
  if (bracket !== null && bracket[1] - bracket[0] > 2 * toleranceSec && appliedSec >= bracket[0] - EDGE_TIMING_SEC && appliedSec <= bracket[1] + EDGE_TIMING_SEC) return 'hidden';
  return 'off';
}

export interface RoundTrip {
  scenario: string;
  original: ExperimentOutcome;
  exportFile: string;
  scenarioFile: string;
  plan: ReplayPlan;
  replay: ExperimentOutcome;
  fidelity: ReplayFidelityView;
  windows: WindowMeasurement[];
  /** family → passed, per side */
  verdicts: { original: Record<string, boolean>; replay: Record<string, boolean> };
}

/**
 * The operations a fault acts on (the backend's calls to each hop and the stages around them),
 * judged strictly (p95 ±20 %, no KS guard) when both sides hold at least STRICT_MIN_SPANS of
 * them. Everything else (the upload's own handling, the callees' server spans, SQL) is left to
 * the guarded verdict: its time is CPU and disk, which other work on the machine moves by more
 * than 20 % between two runs of the same scenario (docs/replay.md has the numbers).
 */
export const HOP_OPERATIONS: readonly string[] = ['detection_processing', 'yolo26_detection_request', 'analysis_processing', 'llm_inference'];
export const STRICT_MIN_SPANS = 30;

/** Hop operations whose p95 is outside the band (strict), as text. */
export function strictHopFailures(r: Pick<RoundTrip, 'fidelity'>): string[] {
  return r.fidelity.operations
    .filter((o) => HOP_OPERATIONS.includes(o.name) && o.incident.count >= STRICT_MIN_SPANS && o.replay.count >= STRICT_MIN_SPANS && !o.p95Ok)
    .map((o) => `${o.service} ${o.name}: p95 ${o.incident.p95Ms?.toFixed(1)} → ${o.replay.p95Ms?.toFixed(1)} ms`);
}

/** Hop operations outside the strict band whose miss is also larger than the A/A noise (empty without an A/A run), as text. */
export function hopMissesBeyondNoise(r: Pick<RoundTrip, 'fidelity'>): string[] {
  return r.fidelity.operations
    .filter((o) => HOP_OPERATIONS.includes(o.name) && o.incident.count >= STRICT_MIN_SPANS && o.replay.count >= STRICT_MIN_SPANS && !o.p95Ok && beyondNoise(r.fidelity, o) === true)
    .map((o) => `${o.service} ${o.name}: p95 ${o.p95Diff === null ? '–' : `${(o.p95Diff * 100).toFixed(0)} %`}, A/A ${((noiseOf(r.fidelity, o) ?? 0) * 100).toFixed(0)} %`);
}

/** Families of the original with the same verdict in the replay; extra families of the replay are not compared. */
export function sameVerdicts(r: Pick<RoundTrip, 'verdicts'>): boolean {
  return Object.entries(r.verdicts.original).every(([family, passed]) => r.verdicts.replay[family] === passed);
}

function embedded(scenario: Scenario) {
  return { kind: 'embedded' as const, defects: parseDefects(scenario.stack?.defects ?? []), backendEnv: scenario.stack?.backend ?? {}, detectorEnv: scenario.stack?.detector ?? {}, llmEnv: scenario.stack?.llm ?? {} };
}

function fixtureSizes(dir: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const folder of readdirSync(dir)) {
    const path = join(dir, folder);
    if (!statSync(path).isDirectory()) continue;
    const files = readdirSync(path).filter((f) => /\.(jpe?g|png)$/i.test(f));
    if (files.length > 0) out[folder] = Object.fromEntries(files.map((f) => [f, statSync(join(path, f)).size]));
  }
  return out;
}

function verdicts(outcome: ExperimentOutcome): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const a of outcome.report.assertions) out[a.family] = (out[a.family] ?? true) && a.passed;
  return out;
}

/**
 * Each applied window of the original against the replayed fault on the same target, seconds
 * from the first upload (the replay's time zero). The harness records when it applied a fault
 * on the load's clock; given that clock's zero (epoch ms), the applied times are moved onto the
 * traces' clock, so a first upload that went out late (a loaded machine: 0.6 s at load average
 * 30) does not show as a reconstruction error of that size.
 */
export function measureWindows(records: readonly FaultWindowRecord[], plan: ReplayPlan, loadZeroEpochMs?: number): WindowMeasurement[] {
  const rel = (ms: number) => (ms - plan.load.t0Ms) / 1000;
  const shift = loadZeroEpochMs === undefined ? 0 : (loadZeroEpochMs - plan.load.t0Ms) / 1000;
  return records.map((r) => {
    const fromSec = (r.appliedAtMs ?? r.plannedStartMs) / 1000 + shift;
    const toSec = (r.removedAtMs ?? r.plannedEndMs) / 1000 + shift;
    const candidates = plan.faults.filter((f) => f.target === r.target);
    const best = [...candidates].sort((a, b) => Math.abs(a.atMs / 1000 - fromSec) - Math.abs(b.atMs / 1000 - fromSec))[0];
    const replayed = best ? { fromSec: best.atMs / 1000, toSec: (best.atMs + best.durationMs) / 1000, type: best.fault.type } : null;
    const startOffsetSec = replayed ? replayed.fromSec - fromSec : null;
    const endOffsetSec = replayed ? replayed.toSec - toSec : null;
    const startBracketSec: [number, number] | null = best ? [rel(best.evidence.start.lo), rel(best.evidence.start.hi)] : null;
    const endBracketSec: [number, number] | null = best ? [rel(best.evidence.end.lo), rel(best.evidence.end.hi)] : null;
    return {
      name: r.name,
      target: r.target,
      original: { fromSec, toSec },
      replayed,
      startOffsetSec,
      endOffsetSec,
      startBracketSec,
      endBracketSec,
      start: edgeVerdict(startOffsetSec, fromSec, startBracketSec),
      end: edgeVerdict(endOffsetSec, toSec, endBracketSec),
    };
  });
}

/** Windows with an edge neither within the tolerance nor hidden from the traces, as text. */
export function windowFailures(r: Pick<RoundTrip, 'windows'>): string[] {
  return r.windows.filter((w) => w.start === 'off' || w.end === 'off').map((w) => `${w.name} on ${w.target}: start ${w.startOffsetSec?.toFixed(2) ?? '–'} s (${w.start}), end ${w.endOffsetSec?.toFixed(2) ?? '–'} s (${w.end})`);
}

/**
 * For the windows with a hidden edge: their symptom windows (each side's traces read alike,
 * docs/replay.md) that are off by more than the tolerance, as text. Windows on other hops (a
 * blip only one side saw) are the fidelity verdict's business, not the window check's.
 */
export function symptomWindowFailures(r: Pick<RoundTrip, 'fidelity' | 'windows'>): string[] {
  const hidden = new Set(r.windows.filter((w) => w.start === 'hidden' || w.end === 'hidden').map((w) => `${w.target}/${w.replayed?.type ?? ''}`));
  return r.fidelity.windows.filter((w) => !w.ok && hidden.has(`${w.target}/${w.faultType}`)).map((w) => `${w.target} ${w.faultType}: ${w.incident && w.replay ? `start ${w.startOffsetSec!.toFixed(2)} s, end ${w.endOffsetSec!.toFixed(2)} s` : w.incident ? 'not in the replay' : 'only in the replay'}`);
}

/** The load clock's zero of a run (epoch ms), from its first request record; undefined when it has none. */
export function loadZeroEpochMs(runDir: string): number | undefined {
  const file = join(runDir, 'requests.ndjson');
  if (!existsSync(file)) return undefined;
  const first = readFileSync(file, 'utf8').split('\n', 1)[0];
  if (!first) return undefined;
  const rec = JSON.parse(first) as { intendedEpochMs?: unknown; intendedMs?: unknown };
  return typeof rec.intendedEpochMs === 'number' && typeof rec.intendedMs === 'number' ? rec.intendedEpochMs - rec.intendedMs : undefined;
}

export interface RoundTripOptions {
  config: StackConfig;
  evaluator: ExperimentEvaluator;
  log: (line: string) => void;
  /** where the export and the scenario go; default results/round-trips/<scenario> */
  workDir?: string;
  /**
   * A/A: run the original scenario once more after the replay and put how far its p95 lie from
   * the original's (per operation) into the fidelity view as the noise reference.
   */
  aa?: boolean;
}

export async function roundTrip(name: string, options: RoundTripOptions): Promise<RoundTrip> {
  const { config, evaluator, log } = options;
  const scenario = await loadScenario(name, { fixturesDir: config.fixturesDir });
  const original = await runExperiment({ scenario, config, target: embedded(scenario), evaluator, log });
  const workDir = options.workDir ?? join(config.resultsDir, 'round-trips', name);
  mkdirSync(workDir, { recursive: true });
  // The export, as `hsi-chaos traces export RUN --out FILE` writes it; everything below reads only this file.
  const exportFile = join(workDir, 'incident-traces.json');
  writeFileSync(exportFile, `${JSON.stringify(toLegacyJson(readTraceFile(join(original.resultsDir, RUN_TRACES_FILE)).traces))}\n`);
  const incident = readTraceFile(exportFile);
  const plan = reconstruct(incident.traces, { name: `replay-${name}`, input: exportFile, fixtures: fixtureSizes(config.fixturesDir) });
  const scenarioFile = join(workDir, `replay-${name}.ts`);
  let importPath = relative(dirname(scenarioFile), join(PROJECT_ROOT, 'harness', 'scenario', 'scenario-types.ts')).split('\\').join('/');
  if (!importPath.startsWith('.')) importPath = `./${importPath}`;
  writeFileSync(scenarioFile, writeScenarioSource(plan, importPath));
  const replayScenario = await loadScenario(scenarioFile, { fixturesDir: config.fixturesDir });
  const replay = await runExperiment({ scenario: replayScenario, config, target: embedded(replayScenario), evaluator, log, observers: [replayFidelityObserver(incident)] });
  const fidelity = replay.report.replayFidelity;
  if (!fidelity) throw new Error(`${name}: the replay run ${replay.report.runId} has no fidelity section (${replay.report.errors.join('; ') || 'no traces collected'})`);
  if (options.aa) {
    const rerun = await runExperiment({ scenario, config, target: embedded(scenario), evaluator, log });
    fidelity.noise = noiseReference(readTraceFile(join(original.resultsDir, RUN_TRACES_FILE)).traces, readTraceFile(join(rerun.resultsDir, RUN_TRACES_FILE)).traces, `${name} (run ${original.report.runId} and its rerun ${rerun.report.runId})`);
  }
  const records = JSON.parse(readFileSync(join(original.resultsDir, 'faults.json'), 'utf8')) as FaultWindowRecord[];
  const windows = measureWindows(records, plan, loadZeroEpochMs(original.resultsDir));
  return { scenario: name, original, exportFile, scenarioFile, plan, replay, fidelity, windows, verdicts: { original: verdicts(original), replay: verdicts(replay) } };
}

/** One line per measurement, for logs and the closing note. */
export function describeRoundTrip(r: RoundTrip): string[] {
  const lines = [`${r.scenario}: original ${r.original.report.verdict}, replay ${r.replay.report.verdict}, fidelity ${r.fidelity.verdict}`];
  const bracket = (b: [number, number] | null) => (b ? `${b[0].toFixed(2)}..${b[1].toFixed(2)}` : '–');
  for (const w of r.windows) {
    lines.push(
      `  window ${w.name} on ${w.target}: original ${w.original.fromSec.toFixed(2)}–${w.original.toSec.toFixed(2)} s, replayed ${w.replayed ? `${w.replayed.type} ${w.replayed.fromSec.toFixed(2)}–${w.replayed.toSec.toFixed(2)} s (start ${w.startOffsetSec!.toFixed(2)} s ${w.start}, end ${w.endOffsetSec!.toFixed(2)} s ${w.end}; traces bracket start ${bracket(w.startBracketSec)}, end ${bracket(w.endBracketSec)})` : 'not found'}`,
    );
  }
  for (const w of r.fidelity.windows) {
    lines.push(`  symptom window ${w.target} ${w.faultType}: incident ${w.incident ? `${w.incident.fromSec.toFixed(2)}–${w.incident.toSec.toFixed(2)}` : '–'} s, replay ${w.replay ? `${w.replay.fromSec.toFixed(2)}–${w.replay.toSec.toFixed(2)}` : '–'} s (start ${w.startOffsetSec?.toFixed(2) ?? '–'} s, end ${w.endOffsetSec?.toFixed(2) ?? '–'} s)${w.ok ? '' : ' OUT'}`);
  }
  const pct = (d: number | null) => (d === null ? '–' : `${(d * 100).toFixed(0)} %`);
  for (const o of r.fidelity.operations.filter((x) => x.judged)) {
    const beyond = beyondNoise(r.fidelity, o);
    const aa = r.fidelity.noise ? `, A/A ${pct(noiseOf(r.fidelity, o))}${beyond === true ? ' (miss beyond the noise)' : beyond === false ? ' (within the noise)' : ''}` : '';
    lines.push(`  p95 ${o.service} ${o.name}: ${o.incident.p95Ms?.toFixed(1)} → ${o.replay.p95Ms?.toFixed(1)} ms (${pct(o.p95Diff)}${o.p95Ok ? '' : ' OUT'})${aa}, KS ${o.ks?.toFixed(2)} / ${o.ksCritical?.toFixed(2) ?? '–'}, n ${o.incident.count}/${o.replay.count}`);
  }
  for (const e of r.fidelity.errors) lines.push(`  error spans ${e.window}: ${e.incident} → ${e.replay}`);
  if (r.fidelity.noise) lines.push(`  hop p95 misses beyond the A/A noise: ${hopMissesBeyondNoise(r).join('; ') || 'none'}`);
  lines.push(`  verdicts original ${JSON.stringify(r.verdicts.original)} replay ${JSON.stringify(r.verdicts.replay)}`);
  return lines;
}
