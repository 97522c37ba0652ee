import type { Arrival } from './incident.ts';

/**
 * The load of an incident from its arrivals: one open-model workload (arrival rate, so the
 * replay sends at the incident's pace whatever the stack does) and the camera mix.
 *
 * - Every trace kept (sampling rate 1): the arrivals are counted per second. When the counts
 *   stay within Poisson noise of their mean (|n − mean| ≤ 3·√mean + 1 in every full second),
 *   the load is a `constant-arrival-rate`; otherwise a `ramping-arrival-rate` whose stages
 *   step to each second's count (a 0 s stage to jump, a 1 s stage to hold), which puts every
 *   second's uploads back in that second.
 * - Sampled trace sets: counts are scaled by 1/rate and taken over bins long enough to hold
 *   about 10 sampled arrivals each, a fitted rate curve rather than exact times.
 * Rates are per minute when that keeps them whole (k6 rates are integers).
 */

export interface LoadBin {
  /** ms from the first arrival */
  fromMs: number;
  toMs: number;
  /** arrivals in the bin, scaled by 1/sampling rate */
  count: number;
}

export interface CameraLoad {
  id: string;
  arrivals: number;
  weight: number;
  /** distinct upload sizes seen, bytes, ascending */
  sizes: number[];
  firstTraceId: string;
}

export interface ReconstructedLoad {
  kind: 'constant' | 'ramping';
  /** epoch ms of the first arrival: time zero of the replay */
  t0Ms: number;
  durationMs: number;
  arrivals: number;
  /** arrivals / sampling rate */
  estimatedUploads: number;
  samplingRate: number;
  binMs: number;
  bins: LoadBin[];
  /** per timeUnit */
  rate: number;
  timeUnit: '1s' | '1m';
  /** for `ramping`: each stage's target per timeUnit */
  stages: { duration: string; target: number }[];
  preAllocatedVUs: number;
  maxVUs: number;
  cameras: CameraLoad[];
  /** arrivals whose upload was refused (HTTP ≥ 400), e.g. while Redis was away */
  refused: number;
}

function meanGapMs(times: readonly number[]): number {
  if (times.length < 2) return 1000;
  return (times[times.length - 1]! - times[0]!) / (times.length - 1);
}

function binsOf(offsets: readonly number[], binMs: number, durationMs: number, scale: number): LoadBin[] {
  const n = Math.max(1, Math.ceil(durationMs / binMs - 1e-9));
  const counts = new Array<number>(n).fill(0);
  for (const t of offsets) counts[Math.min(n - 1, Math.floor(t / binMs))]! += 1;
  return counts.map((c, i) => ({ fromMs: i * binMs, toMs: Math.min(durationMs, (i + 1) * binMs), count: c * scale }));
}

function isSteady(bins: readonly LoadBin[], binMs: number): boolean {
  const full = bins.filter((b) => b.toMs - b.fromMs >= binMs - 1e-6);
  if (full.length < 2) return true;
  const mean = full.reduce((a, b) => a + b.count, 0) / full.length;
  return full.every((b) => Math.abs(b.count - mean) <= 3 * Math.sqrt(mean) + 1);
}

/** A rate per second as a whole number per second if exact, else per minute. */
function wholeRate(perSecond: number): { rate: number; timeUnit: '1s' | '1m' } {
  const perS = Math.round(perSecond);
  if (perS >= 1 && Math.abs(perS - perSecond) < 0.05 * perSecond) return { rate: perS, timeUnit: '1s' };
  return { rate: Math.max(1, Math.round(perSecond * 60)), timeUnit: '1m' };
}

/**
 * The camera mix, cameras in the order of their first upload: the load driver hands uploads to
 * cameras by a smooth weighted round robin in list order, so an incident whose cameras took
 * turns (equal weights) replays with every camera at its own phase, as it was. (Ordered by
 * count, the chaos scenarios' front_door, driveway, backyard, side_gate replayed as backyard,
 * driveway, front_door, side_gate: each camera's batch opened and closed at another time.)
 */
function camerasOf(arrivals: readonly Arrival[]): CameraLoad[] {
  const byCamera = new Map<string, Arrival[]>();
  for (const a of arrivals) {
    const list = byCamera.get(a.cameraId);
    if (list) list.push(a);
    else byCamera.set(a.cameraId, [a]);
  }
  const total = arrivals.length;
  return [...byCamera.entries()]
    .map(([id, list]) => ({
      id,
      arrivals: list.length,
      weight: Math.round((list.length / total) * 1000) / 1000,
      sizes: [...new Set(list.map((a) => a.sizeBytes).filter((s): s is number => s !== undefined))].sort((a, b) => a - b),
      firstTraceId: list[0]!.traceId,
      firstMs: list[0]!.atMs,
    }))
    .sort((a, b) => a.firstMs - b.firstMs || a.id.localeCompare(b.id))
    .map(({ firstMs: _first, ...camera }) => camera);
}

function rampingStages(bins: readonly LoadBin[], binMs: number, unit: '1s' | '1m'): { duration: string; target: number }[] {
  const perUnit = unit === '1s' ? 1000 : 60_000;
  const stages: { duration: string; target: number }[] = [];
  for (const b of bins) {
    const target = Math.round((b.count / (b.toMs - b.fromMs || binMs)) * perUnit);
    stages.push({ duration: '0s', target }, { duration: `${Math.round(b.toMs - b.fromMs)}ms`, target });
  }
  return stages;
}

export function reconstructLoad(arrivals: readonly Arrival[], samplingRate: number): ReconstructedLoad {
  if (arrivals.length === 0) throw new Error('reconstructLoad: no arrivals');
  const times = arrivals.map((a) => a.atMs).sort((a, b) => a - b);
  const t0Ms = times[0]!;
  const gap = meanGapMs(times);
  // The last arrival opens its own interval: the load ran one mean gap past it.
  const durationMs = Math.max(1000, Math.round((times[times.length - 1]! - t0Ms + gap) / 100) * 100);
  const scale = 1 / samplingRate;
  const binMs = samplingRate >= 1 ? 1000 : Math.max(1000, Math.ceil((10 * gap) / 1000) * 1000);
  const offsets = times.map((t) => t - t0Ms);
  const bins = binsOf(offsets, binMs, durationMs, scale);
  const estimatedUploads = arrivals.length * scale;
  const perSecond = estimatedUploads / (durationMs / 1000);
  const steady = isSteady(binsOf(offsets, binMs, durationMs, 1), binMs);
  const constant = wholeRate(perSecond);
  const timeUnit = steady ? constant.timeUnit : samplingRate >= 1 && binMs === 1000 ? '1s' : '1m';
  const rate = steady ? constant.rate : 0;
  const peakPerSecond = Math.max(...bins.map((b) => b.count / ((b.toMs - b.fromMs) / 1000 || 1)));
  const preAllocatedVUs = Math.max(8, Math.ceil(peakPerSecond * 2));
  return {
    kind: steady ? 'constant' : 'ramping',
    t0Ms,
    durationMs,
    arrivals: arrivals.length,
    estimatedUploads,
    samplingRate,
    binMs,
    bins,
    rate,
    timeUnit,
    stages: steady ? [] : rampingStages(bins, binMs, timeUnit),
    preAllocatedVUs,
    maxVUs: Math.max(64, preAllocatedVUs * 4),
    cameras: camerasOf(arrivals),
    refused: arrivals.filter((a) => a.status !== undefined && a.status >= 400).length,
  };
}
