import type { ThresholdSpec } from '../load/thresholds.ts';
import type { CheckParsed, RequestKindParsed, SetupParamParsed, WebSocketParsed } from './request-schema.ts';
import type { ExecutorInput, ScenarioSchemaInput } from './scenario-schema.ts';
import type { AiModesSetting } from '../config/real-ai-config.ts';

/**
 * The public types of scenario definitions. A scenario module imports only this file:
 *
 *   import { defineScenario } from '../harness/scenario/scenario-types.ts';
 *   export default defineScenario({ name: 'steady', scenarios: { ... }, cameras: [...] });
 *
 * The harness never imports a scenario statically: load-scenario.ts imports it by name or
 * path at run time and validates the default export.
 */

/** What a scenario file writes (durations as k6 strings or ms; defaults are k6's). */
export type ScenarioInput = ScenarioSchemaInput;
/** One k6 scenario of the workload, in k6's vocabulary (`executor`, `rate`, `stages`...). */
export type WorkloadInput = ExecutorInput;

/** Typing helper for scenario files; returns its argument unchanged. */
export function defineScenario(definition: ScenarioInput): ScenarioInput {
  return definition;
}

// ---- the validated, normalized form the drivers use (durations in ms, defaults filled) ----

interface CommonOptions {
  startTimeMs: number;
  gracefulStopMs: number;
  tags: Record<string, string>;
  env: Record<string, string>;
  /** indexes into Scenario.cameras this k6 scenario uploads for */
  cameraIndexes: number[];
  /** request kinds by name -> weight (absent: the scenario uploads) */
  requests?: Record<string, number>;
  /** a WebSocket subscriber scenario: the Scenario.websockets entry it opens */
  websocket?: string;
  /** sleep after each iteration, uniform in [minMs, maxMs] */
  thinkTime?: { minMs: number; maxMs: number };
}

/** A named request kind, validated against the HSI route catalog (harness/contract/hsi-api-routes.ts). */
export type RequestKind = RequestKindParsed & { name: string };
export type RequestCheck = CheckParsed;
export type SetupParam = SetupParamParsed;
export type WebSocketSubscriber = WebSocketParsed & { name: string };

export interface Stage {
  durationMs: number;
  target: number;
}

export type Workload = CommonOptions &
  (
    | { executor: 'shared-iterations'; vus: number; iterations: number; maxDurationMs: number }
    | { executor: 'per-vu-iterations'; vus: number; iterations: number; maxDurationMs: number }
    | { executor: 'constant-vus'; vus: number; durationMs: number }
    | { executor: 'ramping-vus'; startVUs: number; stages: Stage[]; gracefulRampDownMs: number }
    | { executor: 'constant-arrival-rate'; rate: number; timeUnitMs: number; durationMs: number; preAllocatedVUs: number; maxVUs: number }
    | { executor: 'ramping-arrival-rate'; startRate: number; timeUnitMs: number; stages: Stage[]; preAllocatedVUs: number; maxVUs: number }
  );

export type ExecutorName = Workload['executor'];
export const EXECUTORS: readonly ExecutorName[] = [
  'constant-arrival-rate',
  'ramping-arrival-rate',
  'constant-vus',
  'ramping-vus',
  'per-vu-iterations',
  'shared-iterations',
];

export interface CameraSpec {
  id: string;
  /** drop-folder name, e.g. "Front Door" */
  name: string;
  weight: number;
  fps?: number;
  /** fixture folder name under the fixtures dir */
  fixtures: string;
  /** absolute paths of the images this camera uploads */
  files: string[];
}

export type Transport = { type: 'http'; timeoutMs: number } | { type: 'drop-folder' };

export interface Tracing {
  sampledFraction: number;
  baggage: Record<string, string>;
  requestSource: string;
}

export interface Limits {
  maxDurationMs: number;
  maxRequests: number;
}

/** Settings of the embedded reference stack (defect switches, extra environment per service). */
export interface StackSettings {
  defects?: string[];
  backend?: Record<string, string>;
  detector?: Record<string, string>;
  llm?: Record<string, string>;
  /** Emulators (default) or real inference engines: one mode for both AI services, or per service. */
  ai?: AiModesSetting;
}

export interface CustomMetric {
  type: 'counter' | 'gauge' | 'rate' | 'trend';
  contains: 'default' | 'time' | 'data';
}

export interface Scenario {
  name: string;
  description: string;
  /** where it came from, for messages (`scenarios/steady.ts`) */
  source: string;
  scenarios: Record<string, Workload>;
  cameras: CameraSpec[];
  transport: Transport;
  tracing: Tracing;
  thresholds: Record<string, ThresholdSpec[]>;
  /** custom metrics by name */
  metrics: Record<string, CustomMetric>;
  /** request kinds by name */
  requests: Record<string, RequestKind>;
  /** setup() data: values of path parameters */
  setupParams: Record<string, SetupParam>;
  websockets: Record<string, WebSocketSubscriber>;
  limits: Limits;
  faults: Record<string, unknown>[];
  expectations: Record<string, unknown>[];
  seed?: string | number;
  stack?: StackSettings;
}
