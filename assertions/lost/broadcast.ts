import { percentile } from '../../harness/chaos/fault-impact.ts';
import type { BroadcastEvent } from '../hsi/contract.ts';
import type { BroadcastLog } from '../../harness/events/event-stream-recorder.ts';
import { examples, plural, type AssertionResult } from '../result.ts';
import type { PipelineOutcome } from './outcome.ts';

/**
 * What a person sees: every stored event must reach the WebSocket subscribers, and how long
 * after the upload it does. Pure: the stored events (PostgreSQL, via the pipeline outcome), the
 * uploads' send times and the frames a subscriber received during the run.
 *
 * An event is matched to a broadcast by its id, else by its batch id, else by any of its
 * detection ids (a broadcast that lists them). Its upload time is the earliest send time of
 * the uploads whose detections it links (the batch's first upload): upload → event on the
 * WebSocket is what the dashboard shows, batching and analysis included.
 */

export interface UploadSendTime {
  filePath?: string | undefined;
  sentEpochMs: number;
}

export interface EventBroadcast {
  eventId: string;
  batchId?: string;
  traceId?: string;
  /** The batch's earliest upload (epoch ms); null when no upload of the run links to it. */
  firstUploadEpochMs: number | null;
  receivedEpochMs: number | null;
  latencyMs: number | null;
  matchedBy?: 'event id' | 'batch id' | 'detection ids';
}

export interface BroadcastMatch {
  path: string;
  subscribed: boolean;
  note?: string;
  gaps: BroadcastLog['gaps'];
  frames: { single: number; batch: number; other: number; invalid: number };
  /** First problem of an invalid or partly invalid frame. */
  frameProblem?: string;
  events: EventBroadcast[];
  /** Events received that match no stored event of the run (other runs, other cameras). */
  unrelated: number;
}

interface ReceiptIndex {
  byEvent: Map<string, number>;
  byBatch: Map<string, number>;
  byDetection: Map<string, number>;
}

function indexReceipts(log: BroadcastLog): ReceiptIndex {
  const index: ReceiptIndex = { byEvent: new Map(), byBatch: new Map(), byDetection: new Map() };
  const first = (map: Map<string, number>, key: string | undefined, at: number) => {
    if (key !== undefined && !map.has(key)) map.set(key, at);
  };
  for (const r of log.receipts) {
    for (const e of r.events) {
      first(index.byEvent, e.eventId, r.receivedEpochMs);
      first(index.byBatch, e.batchId, r.receivedEpochMs);
      for (const d of e.detectionIds ?? []) first(index.byDetection, d, r.receivedEpochMs);
    }
  }
  return index;
}

/** Earliest upload send time per event id, through event_detections → detections.file_path → the upload. */
function firstUploadPerEvent(outcome: PipelineOutcome, uploads: readonly UploadSendTime[]): Map<string, number> {
  const sentByPath = new Map<string, number>();
  for (const u of uploads) if (u.filePath) sentByPath.set(u.filePath, Math.min(u.sentEpochMs, sentByPath.get(u.filePath) ?? Infinity));
  const pathByDetection = new Map(outcome.detections.map((d) => [String(d.id), d.file_path]));
  const out = new Map<string, number>();
  for (const link of outcome.eventDetections) {
    const path = pathByDetection.get(String(link.detection_id));
    const sent = path === undefined ? undefined : sentByPath.get(path);
    if (sent === undefined) continue;
    const id = String(link.event_id);
    out.set(id, Math.min(sent, out.get(id) ?? Infinity));
  }
  return out;
}

function matchOne(eventId: string, batchId: string | undefined, detectionIds: readonly string[], index: ReceiptIndex): Pick<EventBroadcast, 'receivedEpochMs' | 'matchedBy'> {
  const byId = index.byEvent.get(eventId);
  if (byId !== undefined) return { receivedEpochMs: byId, matchedBy: 'event id' };
  const byBatch = batchId === undefined ? undefined : index.byBatch.get(batchId);
  if (byBatch !== undefined) return { receivedEpochMs: byBatch, matchedBy: 'batch id' };
  const byDetection = detectionIds.map((d) => index.byDetection.get(d)).find((t) => t !== undefined);
  if (byDetection !== undefined) return { receivedEpochMs: byDetection, matchedBy: 'detection ids' };
  return { receivedEpochMs: null };
}

function frameCounts(log: BroadcastLog): Pick<BroadcastMatch, 'frames' | 'frameProblem'> {
  const frames = { single: 0, batch: 0, other: 0, invalid: 0 };
  let frameProblem: string | undefined;
  for (const r of log.receipts) {
    frames[r.form] += 1;
    frameProblem ??= r.problem;
  }
  return { frames, ...(frameProblem !== undefined ? { frameProblem } : {}) };
}

export function matchBroadcasts(outcome: PipelineOutcome, uploads: readonly UploadSendTime[], log: BroadcastLog): BroadcastMatch {
  const index = indexReceipts(log);
  const firstUpload = firstUploadPerEvent(outcome, uploads);
  const detectionsByEvent = new Map<string, string[]>();
  for (const l of outcome.eventDetections) detectionsByEvent.set(String(l.event_id), [...(detectionsByEvent.get(String(l.event_id)) ?? []), String(l.detection_id)]);
  const events = outcome.events.map((row): EventBroadcast => {
    const eventId = String(row.id);
    const batchId = row.batch_id ?? undefined;
    const matched = matchOne(eventId, batchId, detectionsByEvent.get(eventId) ?? [], index);
    const first = firstUpload.get(eventId) ?? null;
    const latencyMs = matched.receivedEpochMs !== null && first !== null ? Math.max(0, matched.receivedEpochMs - first) : null;
    return { eventId, ...(batchId ? { batchId } : {}), ...(row.trace_id ? { traceId: row.trace_id } : {}), firstUploadEpochMs: first, latencyMs, ...matched };
  });
  const stored = new Set(events.map((e) => e.eventId));
  const storedBatches = new Set(events.flatMap((e) => (e.batchId ? [e.batchId] : [])));
  const related = (e: BroadcastEvent) => (e.eventId !== undefined && stored.has(e.eventId)) || (e.batchId !== undefined && storedBatches.has(e.batchId));
  const unrelated = log.receipts.reduce((n, r) => n + r.events.filter((e) => !related(e)).length, 0);
  return { path: log.path, subscribed: log.subscribed, ...(log.note !== undefined ? { note: log.note } : {}), gaps: log.gaps, ...frameCounts(log), events, unrelated };
}

export interface LatencySummary {
  count: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

/** Upload → event on the WebSocket over the matched events. */
export function broadcastLatency(match: BroadcastMatch): LatencySummary {
  const values = match.events.flatMap((e) => (e.latencyMs === null ? [] : [e.latencyMs])).sort((a, b) => a - b);
  return { count: values.length, p50Ms: percentile(values, 50), p95Ms: percentile(values, 95), p99Ms: percentile(values, 99), maxMs: values.at(-1) ?? null };
}

function inGap(match: BroadcastMatch): string {
  if (match.gaps.length === 0) return '';
  return ` (the subscription was down ${plural(match.gaps.length, 'time')}: events broadcast then could not be seen)`;
}

/** nothing-lost, the WebSocket half: every stored event of the run was broadcast within `graceMs` of the drain. */
export function checkEveryEventBroadcast(match: BroadcastMatch, options: { graceMs: number }): AssertionResult {
  const name = `every event broadcast on ${match.path}`;
  const total = match.events.length;
  const bound = { op: '==' as const, value: 0, unit: 'events', text: `0 stored events missing from ${match.path} (grace ${options.graceMs} ms after the drain)` };
  const details = { path: match.path, subscribed: match.subscribed, frames: match.frames, gaps: match.gaps, stored: total, unrelated: match.unrelated };
  if (!match.subscribed) {
    const message = `no subscription to ${match.path}: ${match.note ?? 'it never opened'}; the broadcasts of ${plural(total, 'stored event')} cannot be checked (turn it off with {"family": "nothing-lost", "broadcasts": false} for a stack without it)`;
    return { family: 'nothing-lost', name, passed: false, measured: { value: null, unit: 'events', text: 'not subscribed' }, bound, message, exampleTraceIds: [], details };
  }
  const missing = match.events.filter((e) => e.receivedEpochMs === null);
  const show = (e: EventBroadcast) => `event ${e.eventId}${e.batchId ? ` (batch ${e.batchId})` : ''}`;
  const measured = { value: missing.length, unit: 'events', text: `${missing.length}/${total} stored events never broadcast` };
  const message =
    missing.length === 0
      ? `all ${plural(total, 'stored event')} of the run reached ${match.path} (${match.frames.single} single, ${match.frames.batch} batched frames)`
      : `${missing.length}/${total} stored events never reached ${match.path}: ${missing.slice(0, 3).map(show).join(', ')}${missing.length > 3 ? `, +${missing.length - 3} more` : ''}: stored in PostgreSQL, received by no subscriber${inGap(match)}`;
  return {
    family: 'nothing-lost',
    name,
    passed: missing.length === 0,
    measured,
    bound,
    message,
    exampleTraceIds: examples(missing.flatMap((e) => (e.traceId ? [e.traceId] : []))),
    details: { ...details, missing: missing.slice(0, 50).map((e) => ({ eventId: e.eventId, batchId: e.batchId ?? null })) },
  };
}
