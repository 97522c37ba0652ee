import { ConfigError } from '../errors.ts';
import { DEFAULT_FIDELITY_TOLERANCES } from '../report/replay-fidelity.ts';
import type { TraceTree } from '../traces/span-model.ts';
import { HOPS, readIncident, type Incident } from './incident.ts';
import { reconstructHopFaults, type ReconstructedFault } from './reconstruct-faults.ts';
import { reconstructHints, samplingRateFromSpans, type Hint } from './reconstruct-hints.ts';
import { reconstructLoad, type CameraLoad, type ReconstructedLoad } from './reconstruct-load.ts';
import { redactTraces } from './redact.ts';

/**
 * Traces → a replay plan: the load, the faults per hop (times relative to the first upload),
 * the hints, the camera mix mapped onto the fixture images, and the expectations to check.
 * Pure: the fixture sizes come in as data, the writer turns the plan into a scenario file.
 */

export interface PlannedCamera {
  id: string;
  weight: number;
  fixtures: string;
  files?: string[];
  /** observed upload sizes (bytes) the files were matched to */
  sizes: number[];
  arrivals: number;
  firstTraceId: string;
}

export interface PlannedFault extends ReconstructedFault {
  /** ms after the first upload */
  atMs: number;
  durationMs: number;
  /** the window was cut at the load's end */
  clipped: boolean;
}

export interface ReplayPlan {
  name: string;
  /** what was read: a file, a Jaeger query */
  input: string;
  incident: { traces: number; spans: number; services: string[]; uploads: number; firstUploadIso: string };
  load: ReconstructedLoad;
  cameras: PlannedCamera[];
  faults: PlannedFault[];
  hints: Hint[];
  samplingRate: { value: number; source: string };
  expectations: Record<string, unknown>[];
  redacted: boolean;
}

export interface ReconstructOptions {
  name: string;
  input: string;
  /** fixture folder → file → size in bytes */
  fixtures: Record<string, Record<string, number>>;
  samplingRate?: number;
  redact?: boolean;
  minInflationMs?: number;
}

function fileCost(sizes: readonly number[], files: Record<string, number>): number {
  const sizesOf = Object.values(files);
  if (sizesOf.length === 0) return Number.POSITIVE_INFINITY;
  return sizes.reduce((sum, s) => sum + Math.min(...sizesOf.map((f) => Math.abs(Math.log(s / f)))), 0);
}

/** The fixture folder and images closest to a camera's observed upload sizes. */
export function matchFixtures(camera: CameraLoad, fixtures: Record<string, Record<string, number>>, index: number): Pick<PlannedCamera, 'fixtures' | 'files'> {
  const folders = Object.keys(fixtures).sort();
  if (folders.length === 0) throw new ConfigError('no fixture images found: the replay needs fixtures/images/<folder>/*.jpg');
  const own = fixtures[camera.id] ? camera.id : undefined;
  if (camera.sizes.length === 0) return { fixtures: own ?? folders[index % folders.length]! };
  const best = [...folders].sort((a, b) => fileCost(camera.sizes, fixtures[a]!) - fileCost(camera.sizes, fixtures[b]!) || Number(b === own) - Number(a === own))[0]!;
  const entries = Object.entries(fixtures[best]!);
  const files = [...new Set(camera.sizes.map((s) => entries.reduce((x, y) => (Math.abs(Math.log(s / y[1])) < Math.abs(Math.log(s / x[1])) ? y : x))[0]))].sort();
  return files.length === entries.length ? { fixtures: best } : { fixtures: best, files };
}

function planFaults(incident: Incident, load: ReconstructedLoad, minInflationMs: number | undefined): PlannedFault[] {
  const endMs = load.t0Ms + load.durationMs;
  const out: PlannedFault[] = [];
  for (const hop of HOPS) {
    for (const f of reconstructHopFaults(hop, incident.calls[hop], { startMs: load.t0Ms, endMs, ...(minInflationMs !== undefined ? { minInflationMs } : {}) })) {
      const atMs = Math.max(0, Math.round((f.fromMs - load.t0Ms) / 10) * 10);
      const until = Math.min(load.durationMs, Math.round((f.toMs - load.t0Ms) / 10) * 10);
      if (until - atMs < 100) continue;
      out.push({ ...f, atMs, durationMs: until - atMs, clipped: f.toMs - load.t0Ms > load.durationMs });
    }
  }
  return out.sort((a, b) => a.atMs - b.atMs);
}

/**
 * The errors an AI hop's error window must show in the replay: at least one, when the incident's
 * count less the fidelity's count tolerance (±10 % or 1) still leaves one. A window that held a
 * single failure (one 503 among an LLM's few calls) may fairly hold none in a replay at that rate.
 */
export function requiredErrors(faults: readonly Pick<PlannedFault, 'name' | 'target' | 'evidence'>[]): { window: string; service: string; name: string; min: number }[] {
  const tolerance = (n: number) => Math.max(DEFAULT_FIDELITY_TOLERANCES.errorsAbsolute, DEFAULT_FIDELITY_TOLERANCES.errorsRelative * n);
  return faults
    .filter((f) => f.evidence.errorKinds !== undefined && (f.target === 'detector' || f.target === 'llm'))
    .filter((f) => f.evidence.affected - tolerance(f.evidence.affected) >= 1)
    .map((f) => ({ window: f.name, service: 'nemotron-backend', name: f.target === 'detector' ? 'yolo26_detection_request' : 'llm_inference', min: 1 }));
}

/** propagation (when the incident's context crossed the queues), errors (grace from how long errors outlasted the windows, errors required where failures were seen) and nothing-lost. */
function expectationsFor(incident: Incident, faults: readonly PlannedFault[], load: ReconstructedLoad): Record<string, unknown>[] {
  const lastErrorEnd = Math.max(0, ...incident.allSpans.filter((s) => s.status.code === 'error').map((s) => s.startTimeMs + s.durationMs - load.t0Ms));
  const lastWindowEnd = Math.max(0, ...faults.map((f) => f.atMs + f.durationMs));
  const graceMs = Math.max(5000, Math.ceil((lastErrorEnd - lastWindowEnd + 2000) / 5000) * 5000);
  const require = requiredErrors(faults);
  // Context kept across both queues and every upload followed through (no error window): check
  // the replay keeps it too. With failures, pipelines end in the dead-letter queue and the hop
  // checks have nothing to follow, so the incident could not have passed them either.
  const errorWindows = faults.some((f) => f.evidence.errorKinds !== undefined);
  const propagation = incident.linkedJoins > 0 && incident.stitchedJoins === 0 && !errorWindows ? [{ family: 'propagation', hops: 'hsi' }] : [];
  return [...propagation, { family: 'errors', graceMs, ...(require.length > 0 ? { require } : {}) }, { family: 'nothing-lost' }];
}

function samplingOf(incident: Incident, given: number | undefined): { value: number; source: string } {
  if (given !== undefined) return { value: given, source: '--sampling-rate' };
  const fromSpans = samplingRateFromSpans(incident.allSpans);
  if (fromSpans !== undefined) return { value: fromSpans, source: 'sampling.rate on the root spans' };
  return { value: 1, source: 'assumed: no sampling.rate on the root spans and no --sampling-rate' };
}

export function reconstruct(input: readonly TraceTree[], options: ReconstructOptions): ReplayPlan {
  const traces = options.redact ? redactTraces(input).traces : [...input];
  const incident = readIncident(traces);
  if (incident.arrivals.length === 0) {
    throw new ConfigError(`${options.input}: no uploads in these traces (no upload server span and no detection_processing span with a camera_id); is this the HSI backend's service?`);
  }
  const sampling = samplingOf(incident, options.samplingRate);
  const load = reconstructLoad(incident.arrivals, sampling.value);
  const cameras: PlannedCamera[] = load.cameras.map((c, i) => ({ id: c.id, weight: c.weight, sizes: c.sizes, arrivals: c.arrivals, firstTraceId: c.firstTraceId, ...matchFixtures(c, options.fixtures, i) }));
  const faults = planFaults(incident, load, options.minInflationMs);
  return {
    name: options.name,
    input: options.input,
    incident: { traces: incident.traces, spans: incident.spans, services: incident.services, uploads: incident.arrivals.length, firstUploadIso: new Date(load.t0Ms).toISOString() },
    load,
    cameras,
    faults,
    hints: reconstructHints(incident),
    samplingRate: sampling,
    expectations: expectationsFor(incident, faults, load),
    redacted: options.redact === true,
  };
}
