import type { ErrorKind, HopCall, HopName } from './incident.ts';
import { MAX_SEED_TRIES, seedForPattern } from './emulator-seed.ts';
import { mad, median, percentile } from './stats.ts';

/**
 * Fault windows per downstream hop, read from the calls to that hop.
 *
 * Error windows: failed calls are grouped (consecutive failures with no success between them,
 * or closer together than a few call gaps); each group is one fault. How the calls failed picks
 * the fault: refused connections → `down`; client timeouts → Toxiproxy `timeout` (0 = hold);
 * resets → `reset_peer` (or `timeout` with the observed close delay); HTTP error answers → an
 * emulator fault with the observed status code and error rate (AI hops), all other failures of
 * an AI hop likewise. A window's edges lie between the last good call and the first failed one
 * (and the last failed and the next good one): the midpoint is taken, and the bracket is kept
 * as the uncertainty. Partial error rates extend the window by one mean gap between errors
 * (the expected distance from a window's edge to its first error).
 *
 * Latency windows: each good call's delay is its duration minus the callee's own server span
 * (the network part, when the callee is instrumented) or its duration alone; the baseline is
 * the lower quartile of the hop's delays (the quiet periods). Calls more than
 * max(minInflationMs, 6 × MAD of the quiet half) above it are inflated (PostgreSQL and Redis,
 * with several calls per job: the rolling median of 9 calls, and 5 ms instead of 100 ms); runs of at least three
 * inflated calls from three different traces (one normal call inside a run is tolerated) are
 * windows. The latency is the
 * median inflation, the jitter Toxiproxy's ± from the 5th..95th percentile spread. Toxiproxy
 * flushes held data when a latency toxic is removed, so a last call that was held for less than
 * the full latency ends at the removal: that end is taken as exact. For PostgreSQL and Redis,
 * an inflation that grows with the payload size becomes a `bandwidth` toxic.
 */

export type ReconstructedFaultSpec =
  | { type: 'down' }
  | { type: 'latency'; latency: number; jitter: number }
  | { type: 'bandwidth'; rate: number }
  | { type: 'timeout'; timeout: number }
  | { type: 'reset_peer'; timeout: number; toxicity?: number }
  | { type: 'emulator'; error_rate: number; status_code: number; seed?: number };

export interface FaultEvidence {
  /** epoch ms bracket of the start: after `lo`, by `hi` */
  start: { lo: number; hi: number };
  end: { lo: number; hi: number };
  calls: number;
  affected: number;
  firstTraceId: string;
  lastTraceId: string;
  exampleTraceIds: string[];
  basis: string;
  statusCodes?: Record<string, number>;
  errorKinds?: Partial<Record<ErrorKind, number>>;
  /** latency windows: baseline delay and threshold, ms */
  baselineMs?: number;
  thresholdMs?: number;
}

export interface ReconstructedFault {
  name: string;
  target: HopName;
  /** epoch ms */
  fromMs: number;
  toMs: number;
  fault: ReconstructedFaultSpec;
  evidence: FaultEvidence;
}

export interface FaultOptions {
  /** Smallest latency inflation taken as a fault (ms); default 100 for the AI hops, 5 for PostgreSQL and Redis (judged on a rolling median). */
  minInflationMs?: number;
  /** End of the observed period (epoch ms), for a window still open at the end. */
  endMs: number;
  startMs: number;
  /**
   * How a client waits between attempts to reconnect: the n-th wait is min(n × stepMs, capMs)
   * (default the reference backend's ioredis: 200 ms × attempt, at most 2 s). Calls the client
   * refused itself while reconnecting (`offline`) do not say the fault was still on: it ended
   * during the last wait before the client was back.
   */
  reconnect?: ReconnectBackoff;
}

export interface ReconnectBackoff {
  stepMs: number;
  capMs: number;
}

export const DEFAULT_RECONNECT: ReconnectBackoff = { stepMs: 200, capMs: 2000 };

/** The wait before the attempt that ends an outage of `outageMs`: the schedule's waits add up to the outage there. */
export function reconnectWaitMs(outageMs: number, backoff: ReconnectBackoff = DEFAULT_RECONNECT): number {
  let waited = 0;
  for (let n = 1; n < 10_000; n++) {
    const wait = Math.min(n * backoff.stepMs, backoff.capMs);
    waited += wait;
    if (waited >= outageMs) return wait;
  }
  return backoff.capMs;
}

const AI_HOPS: ReadonlySet<HopName> = new Set(['detector', 'llm']);
const DENSE_HOPS: ReadonlySet<HopName> = new Set(['postgres', 'redis']);

function gapBetweenCalls(calls: readonly HopCall[]): number {
  if (calls.length < 2) return 1000;
  const gaps = calls.slice(1).map((c, i) => c.startMs - calls[i]!.startMs);
  return median(gaps) ?? 1000;
}

function mode<T extends string | number>(values: readonly T[]): T | undefined {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

function tally<T extends string | number>(values: readonly T[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

const round = (v: number, step: number) => Math.round(v / step) * step;
const end = (c: HopCall) => c.startMs + c.durationMs;

/** Groups of failed calls: indexes into `calls` (sorted by start). */
function errorGroups(calls: readonly HopCall[]): number[][] {
  const maxGap = Math.max(2000, 4 * gapBetweenCalls(calls));
  const groups: number[][] = [];
  let current: number[] = [];
  let successSince = false;
  calls.forEach((c, i) => {
    if (!c.error) {
      successSince = current.length > 0 ? true : successSince;
      return;
    }
    const last = current.at(-1);
    if (last !== undefined && successSince && c.startMs - calls[last]!.startMs > maxGap) {
      groups.push(current);
      current = [];
    }
    current.push(i);
    successSince = false;
  });
  if (current.length > 0) groups.push(current);
  return groups;
}

function errorFault(hop: HopName, failed: readonly HopCall[], rate: number): { fault: ReconstructedFaultSpec; basis: string } {
  const kind = mode(failed.map((c) => c.errorKind ?? 'other')) ?? 'other';
  const status = mode(failed.map((c) => c.statusCode).filter((s): s is number => s !== undefined && s >= 400));
  const durations = failed.map((c) => c.durationMs);
  const errorRate = Math.min(1, Math.round(rate * 100) / 100);
  if (kind === 'http' || (kind === 'other' && AI_HOPS.has(hop))) {
    if (AI_HOPS.has(hop)) return { fault: { type: 'emulator', error_rate: errorRate, status_code: status ?? 500 }, basis: `${failed.length} answers ${status ?? 'with errors'} (${Math.round(rate * 100)} % of the calls in the window)` };
    return { fault: { type: 'reset_peer', timeout: 0, ...(rate < 0.9 ? { toxicity: errorRate } : {}) }, basis: `${failed.length} failed calls` };
  }
  if (kind === 'refused') return { fault: { type: 'down' }, basis: `${failed.length} refused connections` };
  if (kind === 'timeout') return { fault: { type: 'timeout', timeout: 0 }, basis: `${failed.length} calls timed out (median ${Math.round(median(durations) ?? 0)} ms: the client's own timeout, nothing answered)` };
  const closeAfter = median(durations) ?? 0;
  if (kind === 'reset' && closeAfter > 100) return heldFault(failed);
  return { fault: { type: 'reset_peer', timeout: 0, ...(rate < 0.9 ? { toxicity: errorRate } : {}) }, basis: `${failed.length} connections reset` };
}

/** Within this of the window's last close, a held connection was closed by the fault's removal. */
const REMOVAL_CLOSE_MS = 100;

/**
 * Connections closed after a delay: a Toxiproxy `timeout` toxic. Its `timeout` is the delay
 * after which it closes a held connection; but when a `timeout` toxic is removed, Toxiproxy
 * closes every connection it still holds, so calls that closed together at the window's end
 * (within 100 ms of its last close) show only when the fault went, not the toxic's delay. The
 * delay is the median of the others; when every close was the removal's (one LLM call held
 * until the fault went), nothing closed on its own: `timeout: 0` (hold until removal). Reading
 * such a call's duration as the delay would close the replay's held calls early and let the
 * next one in, a second failure the incident did not have.
 */
function heldFault(failed: readonly HopCall[]): { fault: ReconstructedFaultSpec; basis: string } {
  const lastClose = Math.max(...failed.map(end));
  const byRemoval = failed.filter((c) => lastClose - end(c) <= REMOVAL_CLOSE_MS);
  const own = failed.filter((c) => lastClose - end(c) > REMOVAL_CLOSE_MS).map((c) => c.durationMs);
  const closeAfter = median(own);
  if (closeAfter === null || closeAfter <= 100) {
    return { fault: { type: 'timeout', timeout: 0 }, basis: `${failed.length} connection(s) held until the fault went (closed together at its end after ${failed.map((c) => Math.round(c.durationMs)).join('/')} ms): held, not closed after a delay` };
  }
  const removal = byRemoval.length > 0 ? `; ${byRemoval.length} more closed together at the window's end (the removal), left out` : '';
  return { fault: { type: 'timeout', timeout: round(closeAfter, 10) }, basis: `${own.length} connections closed after a median ${Math.round(closeAfter)} ms${removal}` };
}

/** The fault a group of failures points at: how they failed and, for HTTP answers, with which status. */
function failureSignature(calls: readonly HopCall[], group: readonly number[]): string {
  const failed = group.map((i) => calls[i]!);
  return `${mode(failed.map((c) => c.errorKind ?? 'other'))}/${mode(failed.map((c) => c.statusCode ?? 0)) ?? 0}`;
}

/**
 * A fault that fails only some calls (an emulator error rate, a reset with toxicity) leaves
 * successes between its failures, and with few calls a gap of a few seconds between two
 * failures: two neighbouring groups that failed the same way are one window when the successes
 * between them are plausible under the failure rate of the two taken together, i.e. k
 * successes in a row have a probability (1 − rate)^k of at least 5 %.
 */
function mergePartialGroups(calls: readonly HopCall[], groups: readonly number[][]): number[][] {
  const out: number[][] = [];
  for (const group of groups) {
    const prev = out.at(-1);
    if (prev && failureSignature(calls, prev) === failureSignature(calls, group)) {
      const failures = prev.length + group.length;
      const span = group.at(-1)! - prev[0]! + 1;
      const between = group[0]! - prev.at(-1)! - 1;
      if ((1 - failures / span) ** between >= 0.05) {
        out[out.length - 1] = [...prev, ...group];
        continue;
      }
    }
    out.push([...group]);
  }
  return out;
}

/**
 * On PostgreSQL and Redis (several calls a second) a single failed call with good calls less
 * than a second before and after it is a blip (one connection's hiccup, a client reconnecting
 * late), not a window a replay could reproduce: no other call crossed it. It is named in the
 * evidence of the hop's windows instead.
 */
function isIsolatedBlip(hop: HopName, calls: readonly HopCall[], group: readonly number[]): boolean {
  if (!DENSE_HOPS.has(hop) || group.length !== 1) return false;
  const i = group[0]!;
  const before = calls[i - 1];
  const after = calls[i + 1];
  return before !== undefined && after !== undefined && !before.error && !after.error && calls[i]!.startMs - before.startMs < 1000 && after.startMs - calls[i]!.startMs < 1000;
}

function errorWindows(hop: HopName, calls: readonly HopCall[], options: FaultOptions): ReconstructedFault[] {
  const groups = mergePartialGroups(calls, errorGroups(calls));
  const blips = groups.filter((g) => isIsolatedBlip(hop, calls, g)).map((g) => calls[g[0]!]!);
  const windows = groups.filter((g) => !isIsolatedBlip(hop, calls, g)).map((group, n) => errorWindow(hop, calls, group, n, options));
  if (blips.length > 0 && windows.length > 0) {
    const at = blips.map((c) => `${((c.startMs - options.startMs) / 1000).toFixed(2)} s (trace ${c.traceId})`).join(', ');
    windows.at(-1)!.evidence.basis += `; ${blips.length} isolated failed call(s) with good calls under a second before and after, not replayed: ${at}`;
  }
  return windows;
}

/**
 * Until when a failed call shows the fault was on. A connection closed or reset after a delay
 * was closed by the fault (or by its removal: Toxiproxy closes what a removed `timeout` toxic
 * held), so the fault lasted until the call ended; so did a refusal or an error answer (they
 * end at once). A client's own timeout says only that the fault was on when the call was sent:
 * the answer it waited for may have been dropped long before the fault went.
 */
function failedUntil(c: HopCall): number {
  return c.errorKind === 'timeout' ? c.startMs : end(c);
}

/**
 * The earliest the fault can have ended: when the last call that reached the hop still failed.
 * Calls the client refused itself while its connection was down (`offline`) reached nothing;
 * when the window ends with them, the client was reconnecting: the fault went during its last
 * wait before the next good call (the wait its backoff had grown to by then). (Taking the last
 * offline call as the end puts the replay's fault end at the incident client's reconnect, and
 * the replay's own client then adds its wait again: more failures than the incident had.)
 */
function endLowerBound(failed: readonly HopCall[], endHi: number, lastWaitMs: number): number {
  const reached = failed.filter((c) => c.errorKind !== 'offline').map(failedUntil);
  const lo = reached.length > 0 ? Math.max(...reached) : Number.NEGATIVE_INFINITY;
  const reconnecting = failed.at(-1)?.errorKind === 'offline';
  return Math.min(endHi, reconnecting ? Math.max(lo, endHi - lastWaitMs) : Math.max(lo, ...failed.map(failedUntil)));
}

/** When the client's breaker opened on the window's failures and the next good call was its trial, the end is hidden in between: said so. */
function breakerNote(failed: readonly HopCall[], next: HopCall | undefined, t0: number): string {
  const opened = failed.filter((c) => c.breakerOpened).at(-1);
  if (!opened || !next) return '';
  const sec = (ms: number) => ((ms - t0) / 1000).toFixed(2);
  const trial = next.breakerState === 'half_open' ? 'its trial call' : 'the next call';
  return `; the breaker opened at ${sec(opened.startMs + opened.durationMs)} s and no call reached the hop until ${trial} at ${sec(next.startMs)} s: the fault ended in between (the traces cannot say when; the midpoint is taken)`;
}

/**
 * The error rate of a partial window, as the replay needs it: the failures the incident had
 * over the calls its replayed window (one gap between failures added on each side) holds, so
 * the replay fails as many calls as the incident did. (The gaps between failures, (n − 1) /
 * (calls from the first to the last failure − 1), estimate the rate inside the failures, but
 * applied to the wider replayed window they add about one failure: 3 of 4 LLM calls gave 0.67,
 * whose 7 replayed calls then fail 4.7 times for the incident's 3, 6 error spans → 8.)
 */
function replayedRate(calls: readonly HopCall[], failures: number, fromMs: number, toMs: number): number {
  const inReplayed = calls.filter((c) => c.startMs >= fromMs && c.startMs <= toMs).length;
  return failures / Math.max(failures, inReplayed);
}

/** Failures an AI hop answered (HTTP errors and the like): replayed as an emulator fault, per request. */
function answeredFailures(hop: HopName, failed: readonly HopCall[]): boolean {
  const kind = mode(failed.map((c) => c.errorKind ?? 'other')) ?? 'other';
  return AI_HOPS.has(hop) && (kind === 'http' || kind === 'other');
}

interface PartialSpan {
  fromMs: number;
  toMs: number;
}

/**
 * Where a window at a partial error rate is replayed. Several failures: one gap between
 * failures added on each side (the expected distance from an edge to its first failure). One
 * failure an AI hop answered between two good calls (an LLM called a few times in the fault,
 * one 503 of them): the window spans the good neighbours (to halfway to the calls beyond them,
 * at most half the larger gap further), so the replay's calls cross it as the incident's did;
 * a full-rate window around the lone failure alone is crossed by no replayed call.
 */
function partialSpan(hop: HopName, calls: readonly HopCall[], group: readonly number[], options: FaultOptions): PartialSpan | undefined {
  const first = calls[group[0]!]!;
  const last = calls[group.at(-1)!]!;
  if (group.length >= 2) {
    const errorGap = (last.startMs - first.startMs) / (group.length - 1);
    return { fromMs: Math.max(options.startMs, first.startMs - errorGap), toMs: Math.min(options.endMs, last.startMs + errorGap) };
  }
  const i = group[0]!;
  const prev = calls[i - 1];
  const next = calls[i + 1];
  if (!answeredFailures(hop, [first]) || prev === undefined || next === undefined || prev.error || next.error) return undefined;
  const reach = Math.max(first.startMs - prev.startMs, next.startMs - first.startMs) / 2;
  const before = calls[i - 2];
  const after = calls[i + 2];
  return {
    fromMs: Math.max(options.startMs, prev.startMs - reach, before ? (before.startMs + prev.startMs) / 2 : Number.NEGATIVE_INFINITY),
    toMs: Math.min(options.endMs, next.startMs + reach, after ? (next.startMs + after.startMs) / 2 : Number.POSITIVE_INFINITY),
  };
}

/**
 * An emulator fault at a partial rate gets the seed that fails the calls the incident's failed,
 * in the order they reached the hop (`emulator-seed.ts`); the comment shows the pattern.
 */
function seedNote(fault: ReconstructedFaultSpec, calls: readonly HopCall[], span: PartialSpan): string {
  if (fault.type !== 'emulator' || fault.error_rate >= 1) return '';
  const pattern = calls.filter((c) => c.startMs >= span.fromMs && c.startMs <= span.toMs).map((c) => c.error);
  const shown = pattern.map((f) => (f ? 'x' : '.')).join('');
  const seed = seedForPattern(pattern, fault.error_rate);
  if (seed === undefined) return `; no seed found (of up to ${MAX_SEED_TRIES}) that fails the incident's pattern ${shown} at this rate: which calls fail is left to chance`;
  fault.seed = seed;
  return `; seed ${seed}: the emulator's draws fail the calls the incident's did, in arrival order (${shown}, x = failed)`;
}

function errorWindow(hop: HopName, calls: readonly HopCall[], group: readonly number[], n: number, options: FaultOptions): ReconstructedFault {
  const first = group[0]!;
  const last = group.at(-1)!;
  const inWindow = calls.slice(first, last + 1);
  const failed = group.map((i) => calls[i]!);
  const rate = failed.length / inWindow.length;
  const prev = calls.slice(0, first).reverse().find((c) => !c.error);
  const next = calls.slice(last + 1).find((c) => !c.error);
  const startLo = prev ? prev.startMs : options.startMs;
  const endHi = next ? next.startMs : options.endMs;
  const endLo = endLowerBound(failed, endHi, reconnectWaitMs(endHi - calls[first]!.startMs, options.reconnect));
  const span = rate < 0.9 || group.length === 1 ? partialSpan(hop, calls, group, options) : undefined;
  const fromMs = span?.fromMs ?? (startLo + calls[first]!.startMs) / 2;
  const toMs = span?.toMs ?? (endLo + endHi) / 2;
  const { fault, basis: failures } = errorFault(hop, failed, span ? replayedRate(calls, failed.length, fromMs, toMs) : rate);
  const basis = `${failures}${span ? seedNote(fault, calls, span) : ''}${breakerNote(failed, next, options.startMs)}`;
  const kinds = tally(failed.map((c) => c.errorKind ?? 'other')) as Partial<Record<ErrorKind, number>>;
  const codes = failed.map((c) => c.statusCode).filter((s): s is number => s !== undefined);
  // A partial rate leaves good calls inside the window: a good call bounds nothing, only the
  // first and last failures do (the fault was on by then, and until then).
  const partial = span !== undefined;
  const evidence: FaultEvidence = {
    start: { lo: partial ? options.startMs : startLo, hi: calls[first]!.startMs },
    end: { lo: endLo, hi: partial ? options.endMs : endHi },
    calls: span ? calls.filter((c) => c.startMs >= span.fromMs && c.startMs <= span.toMs).length : inWindow.length,
    affected: failed.length,
    firstTraceId: calls[first]!.traceId,
    lastTraceId: calls[last]!.traceId,
    exampleTraceIds: [...new Set(failed.map((c) => c.traceId))].slice(0, 3),
    basis,
    errorKinds: kinds,
  };
  if (codes.length > 0) evidence.statusCodes = tally(codes);
  return { name: `${hop}-${fault.type === 'emulator' ? 'errors' : fault.type.replace('_', '-')}${n > 0 ? `-${n + 1}` : ''}`, target: hop, fromMs, toMs, fault, evidence };
}

function delayOf(c: HopCall): number {
  return c.serverMs !== undefined ? Math.max(0, c.durationMs - c.serverMs) : c.durationMs;
}

/** Runs of inflated calls: a single normal call inside a run does not end it. */
function inflatedRuns(flags: readonly boolean[]): [number, number][] {
  const runs: [number, number][] = [];
  let start = -1;
  let lastInflated = -1;
  flags.forEach((inflated, i) => {
    if (inflated) {
      if (start < 0) start = i;
      lastInflated = i;
    } else if (start >= 0 && i - lastInflated >= 2) {
      runs.push([start, lastInflated]);
      start = -1;
    }
  });
  if (start >= 0) runs.push([start, lastInflated]);
  return runs;
}

function correlation(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 3) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
    syy += (ys[i]! - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy);
}

/**
 * PostgreSQL's answer to BEGIN on the wire: CommandComplete ('C', length, "BEGIN\\0": 11 bytes)
 * and ReadyForQuery ('Z', length, status: 6 bytes). The same on every server and client, so it
 * sizes what came back where the spans carry no answer sizes; and BEGIN does no I/O (COMMIT,
 * 18 bytes back, waits for the WAL to reach the disk: 15 ms on this loaded machine, no anchor).
 */
const PG_TRANSACTION_REPLY_BYTES: Readonly<Record<string, number>> = { BEGIN: 17 };

/**
 * A bandwidth limit on PostgreSQL, told apart from a latency by what it does per statement: a
 * latency toxic adds the same to every round trip, a bandwidth toxic adds the answer's size over
 * the rate (Toxiproxy: bytes / rate ms, rate in KB/s of 1000 bytes), so BEGIN (17 bytes back)
 * stays quick while a SELECT of many rows takes seconds. When BEGIN's median inflation is under
 * a third of the slowest statement's, the rate is its answer's size over that inflation. (chaos-postgres-bandwidth, 4 KB/s: BEGIN +4.2 ms, INSERT
 * detections +19 ms, SELECT detections +1.2 s; replayed as a 20 ± 20 ms latency, every statement
 * took ~25 ms and the hop calls' p95 came out +51 %.)
 */
function bandwidthFromTransactions(window: readonly HopCall[], baseline: number): { fault: ReconstructedFaultSpec; basis: string } | undefined {
  const byName = new Map<string, number[]>();
  for (const c of window) byName.set(c.name, [...(byName.get(c.name) ?? []), delayOf(c) - baseline]);
  const medians = [...byName.entries()].filter(([, v]) => v.length >= 3).map(([name, v]) => ({ name, extra: median(v) ?? 0, n: v.length }));
  const anchors = medians.filter((m) => PG_TRANSACTION_REPLY_BYTES[m.name.toUpperCase()] !== undefined && m.extra > 0);
  const slowest = medians.reduce((a, b) => (b.extra > a.extra ? b : a), { name: '', extra: 0, n: 0 });
  if (anchors.length === 0 || slowest.extra <= 0 || anchors.some((a) => a.extra > slowest.extra / 3)) return undefined;
  // Toxiproxy's rate is whole KB/s: the rate is the one whose delay for those bytes lies nearest
  // BEGIN's median inflation (4.9 ms: 4 KB/s's 4.25 ms, not 3's 5.67, which rounding 17 / 4.9 =
  // 3.5 KB/s down picks). The median, not a low quantile: the toxic sends a packet at once when
  // the previous sleep overran (it keeps the overrun as credit), so on a loaded machine some
  // BEGINs in the window cost nothing and others twice the delay.
  const anchor = anchors[0]!;
  const bytes = PG_TRANSACTION_REPLY_BYTES[anchor.name.toUpperCase()]!;
  const inflation = anchor.extra;
  const rate = Array.from({ length: 1000 }, (_, i) => i + 1).reduce((best, r) => (Math.abs(bytes / r - inflation) < Math.abs(bytes / best - inflation) ? r : best), 1);
  const shown = medians.map((m) => `${m.name} +${m.extra.toFixed(1)} ms`).join(', ');
  return { fault: { type: 'bandwidth', rate }, basis: `inflation by statement, not by round trip (${shown}: median of each in the window): BEGIN's 17 bytes back took ${inflation.toFixed(1)} ms more (median), nearest ${bytes / rate} ms at ${rate} KB/s` };
}

/** `window`: the slow calls of the run; `run`: every call from its first to its last (a bandwidth limit leaves small answers under the threshold). */
function latencyFault(hop: HopName, window: readonly HopCall[], baseline: number, run: readonly HopCall[] = window): { fault: ReconstructedFaultSpec; basis: string } {
  const extra = window.map((c) => delayOf(c) - baseline);
  // On PostgreSQL BEGIN's answer sizes the limit first: the query's own size (below) is what went up, not what came back.
  const limited = hop === 'postgres' ? bandwidthFromTransactions(run, baseline) : undefined;
  if (limited) return limited;
  const sized = window.filter((c) => c.bytes !== undefined && c.bytes > 0);
  if (!AI_HOPS.has(hop) && sized.length >= Math.max(3, 0.8 * window.length)) {
    const r = correlation(sized.map((c) => c.bytes!), sized.map((c) => delayOf(c) - baseline));
    if (r >= 0.6) {
      const kbPerS = median(sized.map((c) => c.bytes! / 1024 / Math.max(0.001, (delayOf(c) - baseline) / 1000))) ?? 1;
      return { fault: { type: 'bandwidth', rate: Math.max(1, Math.round(kbPerS)) }, basis: `delay grows with the payload (r = ${r.toFixed(2)}): about ${Math.round(kbPerS)} KB/s` };
    }
  }
  const latency = Math.max(0, round(median(extra) ?? 0, 10));
  const p5 = percentile(extra, 5) ?? latency;
  const p95 = percentile(extra, 95) ?? latency;
  const jitter = Math.max(0, round((p95 - p5) / 1.8, 10));
  return { fault: { type: 'latency', latency, jitter }, basis: `${window.length} calls ${latency} ms slower than the quiet ${Math.round(baseline)} ms (5th..95th percentile ${Math.round(p5)}..${Math.round(p95)} ms)` };
}

function rollingMedian(values: readonly number[], half: number): number[] {
  return values.map((_, i) => median(values.slice(Math.max(0, i - half), i + half + 1)) ?? 0);
}

function latencyWindows(hop: HopName, calls: readonly HopCall[], options: FaultOptions, taken: readonly ReconstructedFault[]): ReconstructedFault[] {
  const good = calls.filter((c) => !c.error && !taken.some((f) => c.startMs >= f.fromMs && c.startMs <= f.toMs));
  if (good.length < 6) return [];
  const delays = good.map(delayOf);
  const baseline = percentile(delays, 25) ?? 0;
  const quiet = delays.filter((d) => d <= (median(delays) ?? 0));
  const dense = DENSE_HOPS.has(hop);
  const threshold = baseline + Math.max(options.minInflationMs ?? (dense ? 5 : 100), 6 * mad(quiet));
  // Dense hops (several SQL/Redis calls per job) are judged on a rolling median of 9 calls, so
  // scattered slow calls on a busy machine do not count and a shift of a few ms does.
  const level = dense ? rollingMedian(good.map(delayOf), 4) : good.map(delayOf);
  const flags = level.map((d) => d > threshold);
  const out: ReconstructedFault[] = [];
  for (const [a, b] of inflatedRuns(flags)) {
    const window = good.slice(a, b + 1).filter((c) => delayOf(c) > threshold);
    // At least three slow calls from three different traces: one job stalled by the machine
    // (a pause, a busy core) slows several of its own calls in a row, and that is no fault.
    if (window.length < 3 || new Set(window.map((c) => c.traceId)).size < 3) continue;
    // A dense hop's window must last: 10 slow calls over 2 s at least (blips of a busy machine are shorter).
    if (dense && (window.length < 10 || window.at(-1)!.startMs - window[0]!.startMs < 2000)) continue;
    const { fault, basis } = latencyFault(hop, window, baseline, good.slice(a, b + 1));
    const first = window[0]!;
    const last = window.at(-1)!;
    const prev = good[a - 1];
    const next = good[b + 1];
    const base = (c: HopCall) => c.serverMs ?? baseline;
    const startLo = prev ? end(prev) : options.startMs;
    const startHi = first.startMs + base(first);
    const fromMs = startLo <= startHi ? (startLo + startHi) / 2 : startHi;
    // Held data is flushed on removal: a last call held for less than the full latency ended at the removal.
    const full = fault.type === 'latency' ? fault.latency - 2 * fault.jitter : Number.POSITIVE_INFINITY;
    const endLo = end(last);
    const endHi = next ? Math.max(endLo, end(next)) : options.endMs;
    const cutShort = delayOf(last) - baseline < full;
    const toMs = cutShort ? endLo : (endLo + endHi) / 2;
    out.push({
      name: `${hop}-${fault.type}${out.length > 0 ? `-${out.length + 1}` : ''}`,
      target: hop,
      fromMs,
      toMs,
      fault,
      evidence: {
        start: { lo: startLo, hi: startHi },
        end: { lo: endLo, hi: cutShort ? endLo : endHi },
        calls: b - a + 1,
        affected: window.length,
        firstTraceId: first.traceId,
        lastTraceId: last.traceId,
        exampleTraceIds: [...new Set(window.map((c) => c.traceId))].slice(0, 3),
        basis: `${basis}${cutShort ? '; the last slow call was cut short by the removal' : ''}`,
        baselineMs: baseline,
        thresholdMs: threshold,
      },
    });
  }
  return out;
}

/**
 * A small latency window starting within a second of a large one's end on the same hop is that
 * fault's recovery tail (the calls held by the toxic cross the link together when it goes): it
 * is folded into the large one, not replayed as a fault of its own.
 */
function withoutRecoveryTails(windows: readonly ReconstructedFault[]): ReconstructedFault[] {
  const out: ReconstructedFault[] = [];
  for (const w of windows) {
    const prev = out.at(-1);
    const latency = (f: ReconstructedFault) => (f.fault.type === 'latency' ? f.fault.latency : Number.NaN);
    if (prev && w.fromMs - prev.toMs < 1000 && latency(w) < 0.25 * latency(prev)) {
      prev.evidence.basis += `; a ${latency(w)} ms tail of ${w.evidence.affected} calls right after it is its recovery, not a fault`;
      continue;
    }
    if (prev && w.fromMs - prev.toMs < 1000 && comparable(prev, w)) {
      joinInto(prev, w);
      continue;
    }
    out.push(w);
  }
  return out;
}

/**
 * Two latency (or bandwidth) windows of about the same size, within 2× of each other; or, on
 * PostgreSQL, a bandwidth window next to a latency or another bandwidth window: one slowdown
 * read two ways (a part of the run with too few BEGINs to tell a limit from a latency, or a rate
 * from BEGIN's few ms, ±1 KB/s on this machine), kept as the larger part's reading.
 */
function comparable(a: ReconstructedFault, b: ReconstructedFault): boolean {
  const size = (f: ReconstructedFault) => (f.fault.type === 'latency' ? f.fault.latency : f.fault.type === 'bandwidth' ? f.fault.rate : Number.NaN);
  const kinds = new Set([a.fault.type, b.fault.type]);
  if (a.target === 'postgres' && kinds.has('bandwidth') && (kinds.size === 1 || kinds.has('latency'))) return true;
  if (a.fault.type !== b.fault.type) return false;
  const [x, y] = [size(a), size(b)];
  return Math.max(x, y) <= 2 * Math.max(1, Math.min(x, y));
}

/**
 * A run of slow calls broken by a few quick ones (on a dense hop, the rolling median dipping
 * for a moment) gives two windows of about the same size less than a second apart: one fault.
 * The second is folded into the first (the larger window's latency and jitter are kept).
 */
function joinInto(prev: ReconstructedFault, w: ReconstructedFault): void {
  const larger = w.evidence.affected > prev.evidence.affected ? w : prev;
  prev.fault = larger.fault;
  prev.name = prev.name.replace(/-(latency|bandwidth)/, `-${larger.fault.type}`);
  prev.toMs = w.toMs;
  prev.evidence.end = w.evidence.end;
  prev.evidence.basis = `${larger.evidence.basis}; joined with ${w === larger ? 'an earlier' : 'a later'} run of ${(w === larger ? prev : w).evidence.affected} slow calls less than a second away (one fault)`;
  prev.evidence.calls += w.evidence.calls;
  prev.evidence.affected += w.evidence.affected;
  prev.evidence.lastTraceId = w.evidence.lastTraceId;
}

/** Every fault window of one hop, error windows first, then latency windows outside them. */
export function reconstructHopFaults(hop: HopName, calls: readonly HopCall[], options: FaultOptions): ReconstructedFault[] {
  // Calls the client's breaker refused never reached the hop: they bound nothing.
  const sorted = calls.filter((c) => c.errorKind !== 'rejected').sort((a, b) => a.startMs - b.startMs);
  const errors = errorWindows(hop, sorted, options);
  return [...errors, ...withoutRecoveryTails(latencyWindows(hop, sorted, options, errors))];
}
