import { resolveAiModes, type AiMode } from '../config/real-ai-config.ts';
import type { ExperimentTarget } from '../experiment/phases.ts';
import type { Scenario } from '../scenario/scenario-types.ts';
import type { CapacityOptions } from './capacity-search.ts';
import { DEFAULT_STABILITY } from './stability.ts';
import { applyWhatIfs, parseWhatIf } from './what-if.ts';

/** The search's defaults in one place: the CLI's flags and the nightly experiments start from these. */
export const CAPACITY_DEFAULTS = {
  detectP95Ms: 2_000,
  analyzeP95Ms: 30_000,
  factor: 1.25,
  resolution: 0.03,
  windowMs: 6_000,
  warmupMs: 3_000,
  traceLagMs: 3_500,
  backlogSlopeTolerance: 0,
  timeLimitMs: 300_000,
  drainTimeoutMs: 60_000,
  vramHeadroom: 0.1,
} as const;

/** Cameras' mean fps; 1 when none is given. */
export function scenarioFps(scenario: Scenario): number {
  const fps = scenario.cameras.map((c) => c.fps).filter((f): f is number => f !== undefined);
  return fps.length === 0 ? 1 : fps.reduce((a, b) => a + b, 0) / fps.length;
}

export function defaultCapacitySettings(scenario: Scenario, whatIfs: readonly string[] = []): CapacityOptions['settings'] {
  return {
    budgets: { detectP95Ms: CAPACITY_DEFAULTS.detectP95Ms, analyzeP95Ms: CAPACITY_DEFAULTS.analyzeP95Ms },
    stability: { ...DEFAULT_STABILITY },
    bounds: { factor: CAPACITY_DEFAULTS.factor, resolution: CAPACITY_DEFAULTS.resolution },
    windowMs: CAPACITY_DEFAULTS.windowMs,
    warmupMs: CAPACITY_DEFAULTS.warmupMs,
    traceLagMs: CAPACITY_DEFAULTS.traceLagMs,
    backlogSlopeTolerance: CAPACITY_DEFAULTS.backlogSlopeTolerance,
    timeLimitMs: CAPACITY_DEFAULTS.timeLimitMs,
    drainTimeoutMs: CAPACITY_DEFAULTS.drainTimeoutMs,
    maxVramUsedFraction: 1 - CAPACITY_DEFAULTS.vramHeadroom,
    fps: scenarioFps(scenario),
    gpus: 1,
    whatIfs: whatIfs.map(parseWhatIf).map((w) => ({ key: w.key, value: w.value })),
  };
}

/** The embedded stack with the scenario's settings and the what-ifs (`detector.slots=2`) on top; `ai` overrides the scenario's AI mode. */
export function embeddedCapacityTarget(scenario: Scenario, whatIfs: readonly string[] = [], ai?: AiMode): ExperimentTarget {
  const stack = applyWhatIfs(scenario.stack, whatIfs.map(parseWhatIf));
  return { kind: 'embedded', defects: [], backendEnv: stack.backend, detectorEnv: stack.detector, llmEnv: stack.llm, ai: resolveAiModes(scenario.stack?.ai, ai) };
}
