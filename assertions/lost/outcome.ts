import type { TraceTree } from '../../harness/traces/span-model.ts';
import { hsiNames, type HsiNameOptions } from '../hsi/names.ts';
import { examples, type AssertionResult } from '../result.ts';
import { attributeOf, matchesSelector, valueText } from '../selectors.ts';
import { descendantsOf } from '../span-tree/evaluate.ts';
import { parseStoredDlqEntry } from '../hsi/contract.ts';

/**
 * Nothing lost: every accepted upload (HTTP 202) ends as an event, or in a dead-letter queue.
 * The core is pure: uploads as the load driver recorded them, plus what the pipeline holds
 * (PostgreSQL rows and Redis DLQ entries, read by `readPipelineOutcome` once the queues drained).
 *
 * Fates:
 * - `event`: a detections row with the upload's file_path is linked to an event;
 * - `stored`: detections rows exist but no event, and the run only follows uploads that far
 *   (`endStage: 'detections'`, for a stack without the analysis stage);
 * - `dlq`: the upload's job is in `dlq:detection_queue` (by file_path), or one of its detections
 *   is in a `dlq:analysis_queue` entry (by detection_ids);
 * - `no_detections`: the detector answered, with nothing found (known from the traces:
 *   `detection_processing` with `detection_count` 0, and the detector's answer held none), so no
 *   row and no event: lost unless declared acceptable;
 * - `wrong`: accounted for, but not as the contract says: a dead letter the contract does not
 *   allow (an LLM failure must yield the fallback event, `unacceptableDlq`), detections linked to
 *   two events, some of an upload's rows in no event, a fallback event without the fallback text;
 * - `lost`: none of these, or fewer rows stored than the detector returned (`detectorAnswers`,
 *   from the traces: the worker dropped rows).
 *
 * Every stored row of a followed upload is reconciled: each detections row must be linked to
 * exactly one event (or sit in dlq:analysis_queue), each linked event must exist.
 */

export interface UploadToFollow {
  status: number;
  uploadId?: string | undefined;
  filePath?: string | undefined;
  traceId?: string | undefined;
  cameraId?: string | undefined;
}

export type RowId = string | number;

export interface DetectionRow {
  id: RowId;
  file_path: string;
  camera_id?: string | null;
  trace_id?: string | null;
}

export interface EventDetectionRow {
  event_id: RowId;
  detection_id: RowId;
}

export interface EventRow {
  id: RowId;
  batch_id?: string | null;
  trace_id?: string | null;
  is_fallback?: boolean | null;
  summary?: string | null;
  risk_score?: number | string | null;
}

export interface DlqEntry {
  raw: string;
  /** The parsed JSON object, when it was one. */
  payload?: Record<string, unknown>;
  parseError?: string;
  /** The failed job: a nested entry's `original_job`, a flat entry's own fields (either dialect). */
  job?: Record<string, unknown>;
  /** `error_code` (reference) or `error_type` (real HSI). */
  errorCode?: string;
  error?: string;
  /** The Redis list it was read from (`dlq:detection_queue`, `dlq:overflow:detection_queue`, …). */
  key?: string;
  /** Stored as "Z:"+base64(zstd). */
  compressed?: boolean;
}

export interface PipelineOutcome {
  detections: DetectionRow[];
  eventDetections: EventDetectionRow[];
  events: EventRow[];
  dlq: { detection: DlqEntry[]; analysis: DlqEntry[] };
  /** Tables that do not exist (a stack without the analysis stage has no events tables). */
  missingTables?: string[];
}

export type UploadFate = 'event' | 'stored' | 'dlq' | 'no_detections' | 'wrong' | 'lost';

export interface UploadOutcome {
  uploadId?: string;
  filePath?: string;
  traceId?: string;
  fate: UploadFate;
  detectionIds: string[];
  eventIds: string[];
  /** An event exists but it is the fallback one (the LLM failed: risk 50, "Analysis unavailable"). */
  fallbackEvent?: boolean;
  dlqQueue?: 'dlq:detection_queue' | 'dlq:analysis_queue';
  /** One line: why this fate. */
  reason: string;
}

export interface NothingLostOptions {
  /** Where an upload is done: `event` (default) or `detections` (stack without analysis). */
  endStage?: 'event' | 'detections';
  /** File paths whose detection found nothing (see `filePathsWithoutDetections`). */
  noDetectionFilePaths?: ReadonlySet<string>;
  /** Count `no_detections` as fine; default false. */
  acceptNoDetections?: boolean;
  /** Detections the detector returned per file path (see `detectorAnswers`): fewer stored rows are lost rows. */
  detectorAnswers?: ReadonlyMap<string, number>;
  /** Why a dead letter is not an acceptable outcome (undefined: acceptable). The HSI preset refuses LLM failures. */
  unacceptableDlq?: (entry: DlqEntry, queue: 'dlq:detection_queue' | 'dlq:analysis_queue') => string | undefined;
  /** Why an event marked fallback is not the contract's fallback event (undefined: fine). */
  badFallback?: (event: EventRow) => string | undefined;
}

/** A stored dead letter of either dialect (flat or nested, plain or compressed). */
export function parseDlqEntry(raw: string, key?: string): DlqEntry {
  const { shape: _shape, attempts: _attempts, httpStatus: _status, ...fields } = parseStoredDlqEntry(raw);
  return { raw, ...fields, ...(key !== undefined ? { key } : {}) };
}

const idText = (id: RowId) => String(id);

/** The failed job of an entry (`job`; a hand-made entry may only have `payload`). */
function dlqJob(entry: DlqEntry): Record<string, unknown> | undefined {
  return entry.job ?? entry.payload;
}

/** Detection ids listed in an analysis DLQ entry (`detection_ids`), as strings. */
function dlqDetectionIds(entry: DlqEntry): string[] {
  const ids = dlqJob(entry)?.['detection_ids'];
  if (Array.isArray(ids)) return ids.filter((v): v is string | number => typeof v === 'string' || typeof v === 'number').map(String);
  if (typeof ids === 'string') return ids.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return [];
}

interface OutcomeIndex {
  rowsByPath: Map<string, DetectionRow[]>;
  eventsByDetection: Map<string, string[]>;
  eventsById: Map<string, EventRow>;
  detectionDlq: Map<string, DlqEntry>;
  analysisDlq: Map<string, DlqEntry>;
}

function indexOutcome(outcome: PipelineOutcome): OutcomeIndex {
  const rowsByPath = new Map<string, DetectionRow[]>();
  for (const row of outcome.detections) rowsByPath.set(row.file_path, [...(rowsByPath.get(row.file_path) ?? []), row]);
  const eventsByDetection = new Map<string, string[]>();
  for (const link of outcome.eventDetections) {
    const key = idText(link.detection_id);
    eventsByDetection.set(key, [...new Set([...(eventsByDetection.get(key) ?? []), idText(link.event_id)])]);
  }
  const detectionDlq = new Map<string, DlqEntry>();
  for (const e of outcome.dlq.detection) {
    const path = dlqJob(e)?.['file_path'];
    if (typeof path === 'string') detectionDlq.set(path, e);
  }
  const analysisDlq = new Map<string, DlqEntry>();
  for (const e of outcome.dlq.analysis) for (const id of dlqDetectionIds(e)) analysisDlq.set(id, e);
  return { rowsByPath, eventsByDetection, eventsById: new Map(outcome.events.map((e) => [idText(e.id), e])), detectionDlq, analysisDlq };
}

type Classified = Pick<UploadOutcome, 'fate' | 'reason'> & Partial<Pick<UploadOutcome, 'fallbackEvent' | 'dlqQueue' | 'eventIds'>>;

function dlqFate(entry: DlqEntry, queue: 'dlq:detection_queue' | 'dlq:analysis_queue', what: string, options: NothingLostOptions): Classified {
  const refused = options.unacceptableDlq?.(entry, queue);
  const where = entry.key ?? queue;
  if (refused !== undefined) return { fate: 'wrong', dlqQueue: queue, reason: `${what} in ${where}, which the contract does not allow here: ${refused}` };
  return { fate: 'dlq', dlqQueue: queue, reason: `${what} in ${where}` };
}

/** An upload whose detections rows exist: every row in exactly one event (or the analysis DLQ). */
function classifyStored(rows: readonly DetectionRow[], filePath: string, index: OutcomeIndex, options: NothingLostOptions): Classified {
  const ids = rows.map((r) => idText(r.id));
  const eventIds = [...new Set(ids.flatMap((id) => index.eventsByDetection.get(id) ?? []))];
  const dlqEntry = ids.map((id) => index.analysisDlq.get(id)).find((e) => e !== undefined);
  if (eventIds.length === 0) {
    if (dlqEntry) return dlqFate(dlqEntry, 'dlq:analysis_queue', 'detections', options);
    const detectionDlq = index.detectionDlq.get(filePath);
    if (detectionDlq) return dlqFate(detectionDlq, 'dlq:detection_queue', '(after storing detections)', options);
    if ((options.endStage ?? 'event') === 'detections') return { fate: 'stored', reason: `detections ${ids.join(', ')} stored` };
    return { fate: 'lost', reason: `detections ${ids.join(', ')} stored but in no event and not in dlq:analysis_queue` };
  }
  const fallback = eventIds.some((id) => index.eventsById.get(id)?.is_fallback === true);
  const base = { eventIds, fallbackEvent: fallback };
  const twice = ids.filter((id) => (index.eventsByDetection.get(id) ?? []).length > 1);
  if (twice.length > 0) return { ...base, fate: 'wrong', reason: `detection ${twice[0]} is linked to ${index.eventsByDetection.get(twice[0]!)!.length} events (${index.eventsByDetection.get(twice[0]!)!.join(', ')}): a batch analysed twice` };
  const unlinked = ids.filter((id) => !index.eventsByDetection.has(id) && !index.analysisDlq.has(id));
  if (unlinked.length > 0) return { ...base, fate: 'wrong', reason: `detections ${unlinked.join(', ')} stored but in no event, while ${ids.length - unlinked.length} other row(s) of the upload reached event ${eventIds.join(', ')}` };
  const missing = eventIds.filter((id) => !index.eventsById.has(id));
  if (missing.length > 0) return { ...base, fate: 'wrong', reason: `event_detections links to event ${missing.join(', ')}, which does not exist` };
  for (const id of eventIds) {
    const event = index.eventsById.get(id)!;
    const bad = event.is_fallback === true ? options.badFallback?.(event) : undefined;
    if (bad !== undefined) return { ...base, fate: 'wrong', reason: `event ${id} is marked fallback but ${bad}` };
  }
  return { ...base, fate: 'event', reason: `event ${eventIds.join(', ')}${fallback ? ' (fallback)' : ''}` };
}

function classifyOne(u: UploadToFollow, index: OutcomeIndex, options: NothingLostOptions): UploadOutcome {
  const base: UploadOutcome = { fate: 'lost', reason: '', detectionIds: [], eventIds: [] };
  if (u.uploadId !== undefined) base.uploadId = u.uploadId;
  if (u.filePath !== undefined) base.filePath = u.filePath;
  if (u.traceId !== undefined) base.traceId = u.traceId;
  if (u.filePath === undefined || u.filePath === '') return { ...base, reason: 'accepted, but no file_path was recorded to follow it' };
  const rows = index.rowsByPath.get(u.filePath) ?? [];
  base.detectionIds = rows.map((r) => idText(r.id));
  const answered = options.detectorAnswers?.get(u.filePath);
  if (answered !== undefined && rows.length < answered) {
    const dropped = `the detector returned ${answered} detection${answered === 1 ? '' : 's'} but the worker stored ${rows.length} row${rows.length === 1 ? '' : 's'}: ${answered - rows.length} dropped`;
    // What became of the rows that were stored can be wrong as well: say both.
    const rest = rows.length > 0 ? classifyStored(rows, u.filePath, index, options) : undefined;
    const also = rest !== undefined && (rest.fate === 'wrong' || rest.fate === 'lost') ? `; and the ${rows.length} stored: ${rest.reason}` : '';
    return { ...base, ...(rest ?? {}), fate: 'lost', reason: `${dropped}${also}` };
  }
  if (rows.length > 0) return { ...base, ...classifyStored(rows, u.filePath, index, options) };
  const detectionDlq = index.detectionDlq.get(u.filePath);
  if (detectionDlq) return { ...base, ...dlqFate(detectionDlq, 'dlq:detection_queue', 'job', options) };
  if (options.noDetectionFilePaths?.has(u.filePath)) return { ...base, fate: 'no_detections', reason: 'the detector found nothing: no detections row, so no event' };
  return { ...base, reason: 'no detections row and not in dlq:detection_queue' };
}

export function classifyUploads(uploads: readonly UploadToFollow[], outcome: PipelineOutcome, options: NothingLostOptions = {}): UploadOutcome[] {
  const index = indexOutcome(outcome);
  return uploads.filter((u) => u.status === 202).map((u) => classifyOne(u, index, options));
}

/**
 * Detections the detector returned per file path, from the traces: the successful detector
 * request under each `detection_processing` (attribute `ai.inference.detections` on the client
 * span, else on the detector's server span).
 */
export function detectorAnswers(traces: readonly TraceTree[], options: HsiNameOptions = {}): Map<string, number> {
  const { services, spans } = hsiNames(options);
  const processing = { service: services.backend, name: spans.detectionProcessing };
  const request = { service: services.backend, name: spans.detectorRequest };
  const out = new Map<string, number>();
  for (const t of traces) {
    for (const s of t.spans) {
      if (!matchesSelector(s, processing)) continue;
      const path = attributeOf(s, 'file_path');
      if (path === undefined) continue;
      for (const r of descendantsOf(t, s)) {
        if (!matchesSelector(r, request) || r.status.code === 'error') continue;
        const server = t.childrenOf(r.spanId).find((c) => c.kind === 'server');
        const n = attributeOf(r, 'ai.inference.detections') ?? (server && attributeOf(server, 'ai.inference.detections'));
        if (n !== undefined && Number.isFinite(Number(valueText(n)))) out.set(valueText(path), Number(valueText(n)));
      }
    }
  }
  return out;
}

/** File paths whose `detection_processing` ended fine with `detection_count` 0 (from traces). */
export function filePathsWithoutDetections(traces: readonly TraceTree[], options: HsiNameOptions = {}): Set<string> {
  const { services, spans } = hsiNames(options);
  const selector = { service: services.backend, name: spans.detectionProcessing };
  const out = new Set<string>();
  for (const t of traces) {
    for (const s of t.spans) {
      if (!matchesSelector(s, selector) || s.status.code === 'error') continue;
      const count = attributeOf(s, 'detection_count');
      const path = attributeOf(s, 'file_path');
      if (count === undefined || Number(valueText(count)) !== 0 || path === undefined) continue;
      // The worker says 0; believe it only if the detector's answer (when traced) held nothing either.
      const answered = detectorAnswers([t], options).get(valueText(path));
      if (answered === undefined || answered === 0) out.add(valueText(path));
    }
  }
  return out;
}

export function checkNothingLost(uploads: readonly UploadToFollow[], outcome: PipelineOutcome, options: NothingLostOptions = {}): AssertionResult {
  const outcomes = classifyUploads(uploads, outcome, options);
  const counts: Record<UploadFate, number> = { event: 0, stored: 0, dlq: 0, no_detections: 0, wrong: 0, lost: 0 };
  for (const o of outcomes) counts[o.fate] += 1;
  const bad = outcomes.filter((o) => o.fate === 'lost' || o.fate === 'wrong' || (o.fate === 'no_detections' && options.acceptNoDetections !== true));
  const rejected = uploads.length - outcomes.length;
  const endStage = options.endStage ?? 'event';
  const summary = `${counts.event} event, ${endStage === 'detections' ? `${counts.stored} stored, ` : ''}${counts.dlq} dlq, ${counts.no_detections} no detections, ${counts.wrong > 0 ? `${counts.wrong} wrong outcome, ` : ''}${counts.lost} lost`;
  const show = (o: UploadOutcome) => `upload ${o.uploadId ?? '?'} (${o.filePath ?? 'no file path'}): ${o.reason}`;
  const details = {
    accepted: outcomes.length,
    notAccepted: rejected,
    endStage,
    counts,
    fallbackEvents: outcomes.filter((o) => o.fallbackEvent === true).length,
    missingTables: outcome.missingTables ?? [],
    lost: bad.slice(0, 50).map((o) => ({ uploadId: o.uploadId ?? null, filePath: o.filePath ?? null, traceId: o.traceId ?? null, fate: o.fate, reason: o.reason })),
  };
  const bound = { op: '==' as const, value: 0, unit: 'uploads', text: `0 accepted uploads lost (each ends as ${endStage === 'event' ? 'an event' : 'detections'} or in a DLQ)` };
  const label = counts.wrong === 0 ? 'lost' : counts.wrong === bad.length ? 'ended wrongly' : 'lost or ended wrongly';
  const measured = { value: bad.length, unit: 'uploads', text: `${bad.length}/${outcomes.length} accepted uploads ${label} (${summary})` };
  if (outcomes.length === 0) {
    return { family: 'nothing-lost', name: 'nothing lost', passed: false, measured: { value: null, unit: 'uploads', text: 'no accepted uploads' }, bound, message: 'nothing lost: no accepted uploads to follow', exampleTraceIds: [], details };
  }
  return {
    family: 'nothing-lost',
    name: 'nothing lost',
    passed: bad.length === 0,
    measured,
    bound,
    message:
      bad.length === 0
        ? `all ${outcomes.length} accepted uploads accounted for: ${summary}`
        : `${bad.length}/${outcomes.length} accepted uploads ${label}: ${bad.slice(0, 3).map(show).join('; ')}${bad.length > 3 ? `; +${bad.length - 3} more` : ''}`,
    exampleTraceIds: examples(bad.map((o) => o.traceId).filter((t): t is string => t !== undefined)),
    details,
  };
}
