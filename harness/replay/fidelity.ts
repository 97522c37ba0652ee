import {
  DEFAULT_FIDELITY_TOLERANCES,
  type ErrorWindowFidelity,
  type FidelityTolerances,
  type HiddenEdge,
  type LoadFidelity,
  type NoiseReference,
  type OperationFidelity,
  type Percentiles,
  type ReplayFidelityView,
  type WindowFidelity,
} from '../report/replay-fidelity.ts';
import type { NormalizedSpan, TraceTree } from '../traces/span-model.ts';
import { HOPS, isError, readIncident, type Incident } from './incident.ts';
import { reconstructHopFaults, type ReconstructedFault } from './reconstruct-faults.ts';
import { ksCritical, ksDistance, percentileOfSorted, relativeDiff, sortedCopy } from './stats.ts';

/**
 * How close a replay came to its incident, both read from traces the same way: per operation
 * p50/p95/p99 and the KS distance of the durations; the fault windows each side's traces show
 * (reconstructed alike, matched by hop and fault type, offsets of start and end); error spans
 * per window (before the first fault, then each fault until the next one starts); the load
 * (uploads, arrivals per second, KS distance of the arrival times). Times are relative to
 * each side's first upload. The verdict is `faithful` when every judged check is within the
 * tolerances.
 */

interface Side {
  incident: Incident;
  t0: number;
  end: number;
  windows: ReconstructedFault[];
}

function sideOf(traces: readonly TraceTree[]): Side {
  const incident = readIncident(traces);
  const t0 = incident.arrivals[0]?.atMs ?? Math.min(...incident.allSpans.map((s) => s.startTimeMs));
  const end = Math.max(t0 + 1000, ...incident.arrivals.map((a) => a.atMs));
  const windows = HOPS.flatMap((hop) => reconstructHopFaults(hop, incident.calls[hop], { startMs: t0, endMs: end }));
  return { incident, t0, end, windows };
}

function percentilesOf(values: readonly number[]): Percentiles {
  const s = sortedCopy(values);
  return { count: s.length, p50Ms: percentileOfSorted(s, 50), p95Ms: percentileOfSorted(s, 95), p99Ms: percentileOfSorted(s, 99) };
}

function byOperation(spans: readonly NormalizedSpan[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const s of spans) {
    const key = `${s.service}\u0000${s.name}`;
    const list = out.get(key);
    if (list) list.push(s.durationMs);
    else out.set(key, [s.durationMs]);
  }
  return out;
}

export function compareOperations(incident: readonly NormalizedSpan[], replay: readonly NormalizedSpan[], tol: FidelityTolerances): OperationFidelity[] {
  const a = byOperation(incident);
  const b = byOperation(replay);
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  return keys.map((key) => {
    const [service = '', name = ''] = key.split('\u0000');
    const x = a.get(key) ?? [];
    const y = b.get(key) ?? [];
    const pi = percentilesOf(x);
    const pr = percentilesOf(y);
    const judged = x.length >= tol.minSpans && y.length >= tol.minSpans;
    const diff = relativeDiff(pi.p95Ms, pr.p95Ms);
    const absDiff = pi.p95Ms !== null && pr.p95Ms !== null ? Math.abs(pr.p95Ms - pi.p95Ms) : Number.POSITIVE_INFINITY;
    const p95Ok = (diff !== null && Math.abs(diff) <= tol.p95Relative) || absDiff <= tol.p95AbsoluteMs;
    const ks = ksDistance(x, y);
    const critical = tol.ksAlpha > 0 && x.length > 0 && y.length > 0 ? ksCritical(x.length, y.length, tol.ksAlpha as 0.05 | 0.01) : null;
    const indistinguishable = critical !== null && ks !== null && ks <= critical;
    const ok = !judged || p95Ok || indistinguishable;
    return { service, name, incident: pi, replay: pr, p95Diff: diff, p95Ok, ks, ksCritical: critical, judged, ok };
  });
}

/**
 * One edge of a window on both sides: within the tolerance by the offset of the two estimates,
 * or, when either side's traces bracket the edge more widely than twice the tolerance (no call
 * reached the hop in between: a circuit breaker's open period), by whether the brackets widened
 * by the tolerance overlap: the midpoints of such brackets differ by more than a second between
 * two runs of the same scenario (chaos-detector-down, A/A: trial calls 1.6 s apart).
 */
export function judgeEdge(edge: 'start' | 'end', a: { estimate: number; bracket: [number, number] }, b: { estimate: number; bracket: [number, number] }, tolSec: number): { ok: boolean; hidden?: HiddenEdge } {
  if (Math.abs(b.estimate - a.estimate) <= tolSec) return { ok: true };
  const wide = (x: [number, number]) => x[1] - x[0] > 2 * tolSec;
  if (!wide(a.bracket) && !wide(b.bracket)) return { ok: false };
  const ok = b.bracket[0] <= a.bracket[1] + tolSec && a.bracket[0] <= b.bracket[1] + tolSec;
  return { ok, hidden: { edge, incidentSec: a.bracket, replaySec: b.bracket } };
}

function compareWindows(a: Side, b: Side, tol: FidelityTolerances): WindowFidelity[] {
  const rel = (f: ReconstructedFault, side: Side) => ({ fromSec: (f.fromMs - side.t0) / 1000, toSec: (f.toMs - side.t0) / 1000 });
  const bracket = (x: { lo: number; hi: number }, side: Side): [number, number] => [(x.lo - side.t0) / 1000, (x.hi - side.t0) / 1000];
  const tolSec = tol.windowOffsetMs / 1000;
  const used = new Set<ReconstructedFault>();
  const out: WindowFidelity[] = a.windows.map((w) => {
    const match = b.windows.find((x) => !used.has(x) && x.target === w.target && x.fault.type === w.fault.type);
    const i = rel(w, a);
    if (!match) return { target: w.target, faultType: w.fault.type, incident: i, replay: null, startOffsetSec: null, endOffsetSec: null, ok: false };
    used.add(match);
    const r = rel(match, b);
    const start = judgeEdge('start', { estimate: i.fromSec, bracket: bracket(w.evidence.start, a) }, { estimate: r.fromSec, bracket: bracket(match.evidence.start, b) }, tolSec);
    const end = judgeEdge('end', { estimate: i.toSec, bracket: bracket(w.evidence.end, a) }, { estimate: r.toSec, bracket: bracket(match.evidence.end, b) }, tolSec);
    const hidden = [start.hidden, end.hidden].filter((x): x is HiddenEdge => x !== undefined);
    return { target: w.target, faultType: w.fault.type, incident: i, replay: r, startOffsetSec: r.fromSec - i.fromSec, endOffsetSec: r.toSec - i.toSec, ...(hidden.length > 0 ? { hidden } : {}), ok: start.ok && end.ok };
  });
  for (const x of b.windows.filter((w) => !used.has(w))) {
    out.push({ target: x.target, faultType: x.fault.type, incident: null, replay: rel(x, b), startOffsetSec: null, endOffsetSec: null, ok: false });
  }
  return out;
}

/** Error spans counted per window: before the first fault, then from each fault's start to the next one's. */
function errorBins(side: Side, starts: readonly { name: string; atSec: number }[]): number[] {
  const counts = new Array<number>(starts.length + 1).fill(0);
  for (const s of side.incident.allSpans) {
    if (!isError(s)) continue;
    const t = (s.startTimeMs + s.durationMs - side.t0) / 1000;
    let bin = 0;
    starts.forEach((w, i) => {
      if (t >= w.atSec) bin = i + 1;
    });
    counts[bin]! += 1;
  }
  return counts;
}

function compareErrors(a: Side, b: Side, tol: FidelityTolerances): ErrorWindowFidelity[] {
  const starts = [...a.windows].sort((x, y) => x.fromMs - y.fromMs).map((w) => ({ name: w.name, atSec: (w.fromMs - a.t0) / 1000 }));
  const x = errorBins(a, starts);
  const y = errorBins(b, starts);
  return x.map((count, i) => {
    const other = y[i] ?? 0;
    const ok = Math.abs(other - count) <= Math.max(tol.errorsAbsolute, tol.errorsRelative * count);
    return { window: i === 0 ? (starts.length > 0 ? 'before the first fault' : 'whole run') : `${starts[i - 1]!.name} (from ${starts[i - 1]!.atSec.toFixed(1)} s)`, incident: count, replay: other, ok };
  });
}

function perSecond(side: Side): number[] {
  const n = Math.max(1, Math.ceil((side.end - side.t0) / 1000 + 1e-9));
  const out = new Array<number>(n).fill(0);
  for (const a of side.incident.arrivals) out[Math.min(n - 1, Math.floor((a.atMs - side.t0) / 1000))]! += 1;
  return out;
}

function compareLoad(a: Side, b: Side, tol: FidelityTolerances): LoadFidelity {
  const incidentUploads = a.incident.arrivals.length;
  const replayUploads = b.incident.arrivals.length;
  const ks = ksDistance(a.incident.arrivals.map((x) => x.atMs - a.t0), b.incident.arrivals.map((x) => x.atMs - b.t0));
  const diff = relativeDiff(incidentUploads, replayUploads);
  return { incidentUploads, replayUploads, ks, incidentPerSecond: perSecond(a), replayPerSecond: perSecond(b), ok: diff !== null && Math.abs(diff) <= tol.loadRelative };
}

/** The noise reference (A/A) from two runs of one scenario: per operation judged on both, the relative p95 difference. */
export function noiseReference(first: readonly TraceTree[], second: readonly TraceTree[], reference: string, tolerances?: Partial<FidelityTolerances>): NoiseReference {
  const tol: FidelityTolerances = { ...DEFAULT_FIDELITY_TOLERANCES, ...tolerances };
  const ops = compareOperations(readIncident(first).allSpans, readIncident(second).allSpans, tol).filter((o) => o.judged);
  return { reference, operations: ops.map((o) => ({ service: o.service, name: o.name, counts: [o.incident.count, o.replay.count], p95Diff: o.p95Diff })) };
}

export function compareFidelity(incidentTraces: readonly TraceTree[], replayTraces: readonly TraceTree[], options: { incident: string; tolerances?: Partial<FidelityTolerances> }): ReplayFidelityView {
  const tol: FidelityTolerances = { ...DEFAULT_FIDELITY_TOLERANCES, ...options.tolerances };
  const a = sideOf(incidentTraces);
  const b = sideOf(replayTraces);
  const operations = compareOperations(a.incident.allSpans, b.incident.allSpans, tol);
  const windows = compareWindows(a, b, tol);
  const errors = compareErrors(a, b, tol);
  const load = compareLoad(a, b, tol);
  const failures = [
    ...(load.ok ? [] : [`load: ${load.replayUploads} uploads replayed for ${load.incidentUploads}`]),
    ...windows.filter((w) => !w.ok).map((w) => `fault window ${w.target} ${w.faultType}: ${w.incident && w.replay ? `start ${w.startOffsetSec!.toFixed(2)} s, end ${w.endOffsetSec!.toFixed(2)} s off` : w.incident ? 'not seen in the replay' : 'seen only in the replay'}`),
    ...errors.filter((e) => !e.ok).map((e) => `error spans ${e.window}: ${e.replay} in the replay, ${e.incident} in the incident`),
    ...operations.filter((o) => !o.ok).map((o) => `${o.service} ${o.name}: p95 ${o.replay.p95Ms?.toFixed(1)} ms vs ${o.incident.p95Ms?.toFixed(1)} ms (${o.p95Diff === null ? '–' : `${(o.p95Diff * 100).toFixed(0)} %`}, KS ${o.ks?.toFixed(2)} > ${o.ksCritical?.toFixed(2) ?? '–'})`),
  ];
  return { incident: options.incident, verdict: failures.length === 0 ? 'faithful' : 'unfaithful', failures, tolerances: tol, operations, windows, errors, load };
}
