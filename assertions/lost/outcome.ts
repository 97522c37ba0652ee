import type { TraceTree } from '../../harness/traces/span-model.ts';
import { hsiNames, type HsiNameOptions } from '../hsi-names.ts';
import { examples, type AssertionResult } from '../result.ts';
import { attributeOf, matchesSelector, valueText } from '../selectors.ts';

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
 *   `detection_processing` with `detection_count` 0), so no row and no event: lost unless declared
 *   acceptable;
 * - `lost`: none of these.
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
}

export interface DlqEntry {
  raw: string;
  /** The parsed JSON object, when it was one. */
  payload?: Record<string, unknown>;
  parseError?: string;
}

export interface PipelineOutcome {
  detections: DetectionRow[];
  eventDetections: EventDetectionRow[];
  events: EventRow[];
  dlq: { detection: DlqEntry[]; analysis: DlqEntry[] };
  /** Tables that do not exist (a stack without the analysis stage has no events tables). */
  missingTables?: string[];
}

export type UploadFate = 'event' | 'stored' | 'dlq' | 'no_detections' | 'lost';

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
}

export function parseDlqEntry(raw: string): DlqEntry {
  try {
    const value = JSON.parse(raw) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { raw, payload: value as Record<string, unknown> };
    return { raw, parseError: 'not a JSON object' };
  } catch (error) {
    return { raw, parseError: (error as Error).message };
  }
}

const idText = (id: RowId) => String(id);

/** Detection ids listed in an analysis DLQ entry (`detection_ids`), as strings. */
function dlqDetectionIds(entry: DlqEntry): string[] {
  const ids = entry.payload?.['detection_ids'];
  if (Array.isArray(ids)) return ids.filter((v): v is string | number => typeof v === 'string' || typeof v === 'number').map(String);
  if (typeof ids === 'string') return ids.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return [];
}

export function classifyUploads(uploads: readonly UploadToFollow[], outcome: PipelineOutcome, options: NothingLostOptions = {}): UploadOutcome[] {
  const endStage = options.endStage ?? 'event';
  const rowsByPath = new Map<string, DetectionRow[]>();
  for (const row of outcome.detections) {
    const list = rowsByPath.get(row.file_path);
    if (list) list.push(row);
    else rowsByPath.set(row.file_path, [row]);
  }
  const eventsByDetection = new Map<string, string[]>();
  for (const link of outcome.eventDetections) {
    const key = idText(link.detection_id);
    const list = eventsByDetection.get(key);
    if (list) list.push(idText(link.event_id));
    else eventsByDetection.set(key, [idText(link.event_id)]);
  }
  const eventsById = new Map(outcome.events.map((e) => [idText(e.id), e]));
  const detectionDlqPaths = new Set(outcome.dlq.detection.map((e) => e.payload?.['file_path']).filter((v): v is string => typeof v === 'string'));
  const analysisDlqIds = new Set(outcome.dlq.analysis.flatMap(dlqDetectionIds));

  return uploads
    .filter((u) => u.status === 202)
    .map((u) => {
      const base: Omit<UploadOutcome, 'fate' | 'reason'> = { detectionIds: [], eventIds: [] };
      if (u.uploadId !== undefined) base.uploadId = u.uploadId;
      if (u.filePath !== undefined) base.filePath = u.filePath;
      if (u.traceId !== undefined) base.traceId = u.traceId;
      if (u.filePath === undefined || u.filePath === '') return { ...base, fate: 'lost' as const, reason: 'accepted, but no file_path was recorded to follow it' };
      const rows = rowsByPath.get(u.filePath) ?? [];
      const detectionIds = rows.map((r) => idText(r.id));
      base.detectionIds = detectionIds;
      if (rows.length > 0) {
        const eventIds = [...new Set(detectionIds.flatMap((id) => eventsByDetection.get(id) ?? []))];
        base.eventIds = eventIds;
        if (eventIds.length > 0) {
          const fallback = eventIds.some((id) => eventsById.get(id)?.is_fallback === true);
          return { ...base, fate: 'event' as const, fallbackEvent: fallback, reason: `event ${eventIds.join(', ')}${fallback ? ' (fallback)' : ''}` };
        }
        if (detectionIds.some((id) => analysisDlqIds.has(id))) return { ...base, fate: 'dlq' as const, dlqQueue: 'dlq:analysis_queue' as const, reason: 'detections in dlq:analysis_queue' };
        if (detectionDlqPaths.has(u.filePath)) return { ...base, fate: 'dlq' as const, dlqQueue: 'dlq:detection_queue' as const, reason: 'in dlq:detection_queue (after storing detections)' };
        if (endStage === 'detections') return { ...base, fate: 'stored' as const, reason: `detections ${detectionIds.join(', ')} stored` };
        return { ...base, fate: 'lost' as const, reason: `detections ${detectionIds.join(', ')} stored but in no event and not in dlq:analysis_queue` };
      }
      if (detectionDlqPaths.has(u.filePath)) return { ...base, fate: 'dlq' as const, dlqQueue: 'dlq:detection_queue' as const, reason: 'in dlq:detection_queue' };
      if (options.noDetectionFilePaths?.has(u.filePath)) return { ...base, fate: 'no_detections' as const, reason: 'the detector found nothing: no detections row, so no event' };
      return { ...base, fate: 'lost' as const, reason: 'no detections row and not in dlq:detection_queue' };
    });
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
      if (count !== undefined && Number(valueText(count)) === 0 && path !== undefined) out.add(valueText(path));
    }
  }
  return out;
}

export function checkNothingLost(uploads: readonly UploadToFollow[], outcome: PipelineOutcome, options: NothingLostOptions = {}): AssertionResult {
  const outcomes = classifyUploads(uploads, outcome, options);
  const counts: Record<UploadFate, number> = { event: 0, stored: 0, dlq: 0, no_detections: 0, lost: 0 };
  for (const o of outcomes) counts[o.fate] += 1;
  const bad = outcomes.filter((o) => o.fate === 'lost' || (o.fate === 'no_detections' && options.acceptNoDetections !== true));
  const rejected = uploads.length - outcomes.length;
  const endStage = options.endStage ?? 'event';
  const summary = `${counts.event} event, ${endStage === 'detections' ? `${counts.stored} stored, ` : ''}${counts.dlq} dlq, ${counts.no_detections} no detections, ${counts.lost} lost`;
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
  const measured = { value: bad.length, unit: 'uploads', text: `${bad.length}/${outcomes.length} accepted uploads lost (${summary})` };
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
        : `${bad.length}/${outcomes.length} accepted uploads lost: ${bad.slice(0, 3).map(show).join('; ')}${bad.length > 3 ? `; +${bad.length - 3} more` : ''}`,
    exampleTraceIds: examples(bad.map((o) => o.traceId).filter((t): t is string => t !== undefined)),
    details,
  };
}
