import { HSI_CORRELATION, hsiNames, type HsiNameOptions } from '../contract/hsi-names.ts';
import type { BulkTraceSource, FindTracesQuery } from './jaeger-client.ts';
import type { NormalizedSpan, TraceTree } from './span-model.ts';
import { attributeOf, matchesSelector, spanEndMs, spanRef, valueText, type SpanRef, type SpanSelector } from './span-selector.ts';
import { descendantsOf, isDescendant } from './tree-walk.ts';

/**
 * Stitching: one pipeline per upload, joined across traces where propagation is broken.
 *
 * Joins, in pipeline order:
 * - `upload → detection`: the upload's server span and `detection_processing` share `file_path`;
 *   linked when the consumer hangs under the upload span in one trace;
 * - `detection → analysis`: the detection's `batch_aggregation` and `analysis_processing` share
 *   `batch_id`; linked when `analysis_processing` hangs under the batch_aggregation span (the
 *   batch's opening detection) or under an `analysis_queue publish` whose span LINKS point at
 *   this detection's spans (the other detections of the batch);
 * - `analysis → event`: `event_creation` under `analysis_processing` (or, failing that, an
 *   `event_creation` span carrying the same `batch_id`).
 * A join is `linked` (parent/child or span link), `stitched` (found only by the correlation
 * attribute, in another trace) or `missing`.
 *
 * `stitchPipelines` is pure: give it every trace you have (upload traces by id, plus the traces
 * the workers started, found by search: see `fetchPipelineTraces`). The propagation family's
 * check (`checkStitching`) lives in assertions/propagation/stitch.ts; the replay reads incidents
 * with the same joins.
 */

export interface StitchSelectors {
  upload: SpanSelector;
  detection: SpanSelector;
  batchAggregation: SpanSelector;
  analysisPublish: SpanSelector;
  analysis: SpanSelector;
  event: SpanSelector;
  filePathAttribute: string;
  batchIdAttribute: string;
  cameraIdAttribute: string;
  /** Boolean attribute of the batch_aggregation span that opened the batch. */
  batchOpenedAttribute: string;
}

export function hsiStitchSelectors(options: HsiNameOptions = {}): StitchSelectors {
  const { services, spans } = hsiNames(options);
  const b = services.backend;
  return {
    upload: { service: b, name: spans.upload, kind: 'server' },
    detection: { service: b, name: spans.detectionProcessing },
    batchAggregation: { service: b, name: spans.batchAggregation },
    analysisPublish: { service: b, name: spans.analysisPublish },
    analysis: { service: b, name: spans.analysisProcessing },
    event: { service: b, name: spans.eventCreation },
    filePathAttribute: HSI_CORRELATION.filePath,
    batchIdAttribute: HSI_CORRELATION.batchId,
    cameraIdAttribute: HSI_CORRELATION.cameraId,
    batchOpenedAttribute: HSI_CORRELATION.batchOpened,
  };
}

export type JoinName = 'upload → detection' | 'detection → analysis' | 'analysis → event';
export const JOIN_NAMES: readonly JoinName[] = ['upload → detection', 'detection → analysis', 'analysis → event'];

export interface PipelineJoin {
  name: JoinName;
  join: 'linked' | 'stitched' | 'missing';
  via?: 'parent' | 'span-link' | 'file_path' | 'batch_id';
}

export interface StitchedPipeline {
  filePath: string;
  uploadId?: string;
  cameraId?: string;
  batchId?: string;
  upload?: SpanRef;
  detection?: SpanRef;
  batchAggregation?: SpanRef;
  analysis?: SpanRef;
  event?: SpanRef;
  /** Distinct traces the pipeline spans, in pipeline order. */
  traceIds: string[];
  joins: PipelineJoin[];
  /** Upload span through `until` (default: the event) found, by any joins. */
  complete: boolean;
  /** At least one join was made by a correlation attribute only. */
  stitched: boolean;
  uploadStartMs?: number;
  eventEndMs?: number;
  /** Upload server span start → event_creation end. */
  endToEndMs?: number;
  /** Upload server span start → detection_processing end (detections stored). */
  uploadToDetectionMs?: number;
  /** The (last) detection_processing span ended in error: the upload went to the dead-letter queue. */
  detectionFailed?: boolean;
  /** Duration of detection_processing. */
  detectStageMs?: number;
  /** Duration of analysis_processing. */
  analyzeStageMs?: number;
  /**
   * Set when the analysis is missing and no collected trace holds the batch_aggregation span that
   * OPENED the batch: the batch's analysis trace follows the opener's sampling decision, so an
   * unsampled opener leaves no analysis trace to follow (by design, not a broken hop).
   */
  analysisUntraced?: string;
}

export interface StitchUpload {
  filePath?: string | undefined;
  uploadId?: string | undefined;
  cameraId?: string | undefined;
}

export interface StitchOptions {
  /** One pipeline per upload with a file path; without, one per upload span (then per orphan detection). */
  uploads?: readonly StitchUpload[];
  selectors?: StitchSelectors;
  /** Where a pipeline counts as complete; default `event`. */
  until?: 'detection' | 'event';
}

interface Located {
  span: NormalizedSpan;
  tree: TraceTree;
}

function stringAttr(span: NormalizedSpan, key: string): string | undefined {
  const v = attributeOf(span, key);
  return v === undefined ? undefined : valueText(v);
}

function push(map: Map<string, Located[]>, key: string | undefined, item: Located): void {
  if (key === undefined || key === '') return;
  const list = map.get(key);
  if (list) list.push(item);
  else map.set(key, [item]);
}

function byStart(a: Located, b: Located): number {
  return a.span.startTimeMs - b.span.startTimeMs;
}

const linkKey = (traceId: string, spanId: string) => `${traceId}:${spanId}`;

export function stitchPipelines(traces: readonly TraceTree[], options: StitchOptions = {}): StitchedPipeline[] {
  const index = new SpanIndex(traces, options.selectors ?? hsiStitchSelectors());
  const stitcher = new PipelineStitcher(index, options.until ?? 'event');
  return index.seeds(options.uploads).map((seed) => stitcher.stitch(seed));
}

/** The spans of every trace given, by the correlation attribute each join looks them up by. */
class SpanIndex {
  readonly uploadsByPath = new Map<string, Located[]>();
  readonly detectionsByPath = new Map<string, Located[]>();
  readonly analysesByBatch = new Map<string, Located[]>();
  readonly eventsByBatch = new Map<string, Located[]>();
  readonly publishByLinkTarget = new Map<string, Located>();
  readonly openedBatches = new Set<string>();
  readonly sel: StitchSelectors;

  constructor(traces: readonly TraceTree[], sel: StitchSelectors) {
    this.sel = sel;
    for (const tree of traces) for (const span of tree.spans) this.add({ span, tree });
    for (const map of [this.uploadsByPath, this.detectionsByPath, this.analysesByBatch, this.eventsByBatch]) for (const list of map.values()) list.sort(byStart);
  }

  private add(item: Located): void {
    const { sel } = this;
    const span = item.span;
    if (matchesSelector(span, sel.batchAggregation) && stringAttr(span, sel.batchOpenedAttribute) === 'true') this.openedBatches.add(stringAttr(span, sel.batchIdAttribute) ?? '');
    if (matchesSelector(span, sel.upload)) push(this.uploadsByPath, stringAttr(span, sel.filePathAttribute), item);
    if (matchesSelector(span, sel.detection)) push(this.detectionsByPath, stringAttr(span, sel.filePathAttribute), item);
    if (matchesSelector(span, sel.analysis)) push(this.analysesByBatch, stringAttr(span, sel.batchIdAttribute), item);
    if (matchesSelector(span, sel.event)) push(this.eventsByBatch, stringAttr(span, sel.batchIdAttribute), item);
    if (matchesSelector(span, sel.analysisPublish)) for (const l of span.links) this.publishByLinkTarget.set(linkKey(l.traceId, l.spanId), item);
  }

  /** Seeds: the uploads given, or every upload span, then detections no upload span explains. */
  seeds(uploads: readonly StitchUpload[] | undefined): StitchUpload[] {
    const seeds: StitchUpload[] = [];
    if (uploads) {
      for (const u of uploads) if (u.filePath !== undefined && u.filePath !== '') seeds.push(u);
    } else {
      for (const filePath of this.uploadsByPath.keys()) seeds.push({ filePath });
      for (const filePath of this.detectionsByPath.keys()) if (!this.uploadsByPath.has(filePath)) seeds.push({ filePath });
    }
    return seeds;
  }
}

/** The first span under `root` (in its trace) matching `selector`. */
function firstUnder(root: Located, selector: SpanSelector): Located | undefined {
  const found = descendantsOf(root.tree, root.span).find((s) => matchesSelector(s, selector));
  return found ? { span: found, tree: root.tree } : undefined;
}

/** The pieces of one pipeline found so far, and how each join was made. */
interface PipelinePieces {
  upload?: Located | undefined;
  detection?: Located | undefined;
  batchAggregation?: Located | undefined;
  batchId?: string | undefined;
  analysis?: Located | undefined;
  event?: Located | undefined;
  joins: PipelineJoin[];
}

/** Follows one upload through the joins, linked where it can, stitched by attribute where it must. */
class PipelineStitcher {
  private readonly index: SpanIndex;
  private readonly sel: StitchSelectors;
  private readonly until: 'detection' | 'event';

  constructor(index: SpanIndex, until: 'detection' | 'event') {
    this.index = index;
    this.sel = index.sel;
    this.until = until;
  }

  stitch(seed: StitchUpload): StitchedPipeline {
    const filePath = seed.filePath!;
    const p: PipelinePieces = { upload: this.index.uploadsByPath.get(filePath)?.[0], joins: [] };
    this.joinDetection(p, filePath);
    p.batchAggregation = p.detection ? firstUnder(p.detection, this.sel.batchAggregation) : undefined;
    p.batchId = (p.batchAggregation && stringAttr(p.batchAggregation.span, this.sel.batchIdAttribute)) ?? (p.detection && stringAttr(p.detection.span, this.sel.batchIdAttribute));
    this.joinAnalysis(p);
    this.joinEvent(p);
    return this.pipeline(seed, filePath, p);
  }

  // upload → detection
  private joinDetection(p: PipelinePieces, filePath: string): void {
    const { upload } = p;
    const detections = this.index.detectionsByPath.get(filePath) ?? [];
    const linkedDetections = upload ? detections.filter((d) => d.tree === upload.tree && isDescendant(d.tree, upload.span, d.span)) : [];
    if (linkedDetections.length > 0) {
      p.detection = linkedDetections.at(-1);
      p.joins.push({ name: 'upload → detection', join: 'linked', via: 'parent' });
    } else if (detections.length > 0) {
      p.detection = detections.at(-1);
      p.joins.push(upload ? { name: 'upload → detection', join: 'stitched', via: 'file_path' } : { name: 'upload → detection', join: 'missing' });
    } else {
      p.joins.push({ name: 'upload → detection', join: 'missing' });
    }
  }

  // detection → analysis
  private joinAnalysis(p: PipelinePieces): void {
    const { batchAggregation, detection, batchId } = p;
    if (batchAggregation) {
      p.analysis = firstUnder(batchAggregation, this.sel.analysis);
      if (p.analysis) p.joins.push({ name: 'detection → analysis', join: 'linked', via: 'parent' });
    }
    if (!p.analysis && detection) {
      p.analysis = this.analysisBySpanLink(detection, batchAggregation);
      if (p.analysis) p.joins.push({ name: 'detection → analysis', join: 'linked', via: 'span-link' });
    }
    if (!p.analysis && batchId !== undefined) {
      // A duplicate delivery leaves a second analysis_processing without an event: prefer the one with it.
      const candidates = this.index.analysesByBatch.get(batchId) ?? [];
      p.analysis = [...candidates].reverse().find((a) => firstUnder(a, this.sel.event) !== undefined) ?? candidates.at(-1);
      if (p.analysis) p.joins.push({ name: 'detection → analysis', join: 'stitched', via: 'batch_id' });
    }
    if (!p.analysis) p.joins.push({ name: 'detection → analysis', join: 'missing' });
  }

  /** The analysis under an `analysis_queue publish` whose span links point at this detection's spans. */
  private analysisBySpanLink(detection: Located, batchAggregation: Located | undefined): Located | undefined {
    const targets = [detection, ...(batchAggregation ? [batchAggregation] : []), ...descendantsOf(detection.tree, detection.span).map((span) => ({ span, tree: detection.tree }))];
    for (const t of targets) {
      const producer = this.index.publishByLinkTarget.get(linkKey(t.span.traceId, t.span.spanId));
      const found = producer ? firstUnder(producer, this.sel.analysis) : undefined;
      if (found) return found;
    }
    return undefined;
  }

  // analysis → event
  private joinEvent(p: PipelinePieces): void {
    const { analysis, batchId } = p;
    if (analysis) {
      p.event = firstUnder(analysis, this.sel.event);
      if (p.event) p.joins.push({ name: 'analysis → event', join: 'linked', via: 'parent' });
    }
    const eventBatch = batchId ?? (analysis && stringAttr(analysis.span, this.sel.batchIdAttribute));
    if (!p.event && eventBatch !== undefined) {
      p.event = this.index.eventsByBatch.get(eventBatch)?.at(-1);
      if (p.event) p.joins.push({ name: 'analysis → event', join: 'stitched', via: 'batch_id' });
    }
    if (!p.event) p.joins.push({ name: 'analysis → event', join: 'missing' });
  }

  private pipeline(seed: StitchUpload, filePath: string, p: PipelinePieces): StitchedPipeline {
    const { upload, detection, analysis, event, batchId, joins } = p;
    const pipeline: StitchedPipeline = {
      filePath,
      traceIds: [...new Set([upload, detection, analysis, event].filter((x): x is Located => x !== undefined).map((x) => x.tree.traceId))],
      joins,
      complete: this.until === 'detection' ? upload !== undefined && detection !== undefined : upload !== undefined && detection !== undefined && analysis !== undefined && event !== undefined,
      stitched: joins.some((j) => j.join === 'stitched'),
    };
    if (seed.uploadId !== undefined) pipeline.uploadId = seed.uploadId;
    const cameraId = seed.cameraId ?? (detection && stringAttr(detection.span, this.sel.cameraIdAttribute));
    if (cameraId !== undefined) pipeline.cameraId = cameraId;
    if (batchId !== undefined) pipeline.batchId = batchId;
    this.addSpans(pipeline, p);
    if (!analysis && batchId !== undefined && !this.index.openedBatches.has(batchId)) pipeline.analysisUntraced = `batch ${batchId} was opened by an upload whose trace was not collected (not sampled)`;
    return pipeline;
  }

  /** The pieces' span references and the stage durations they give. */
  private addSpans(pipeline: StitchedPipeline, { upload, detection, batchAggregation, analysis, event }: PipelinePieces): void {
    if (upload) {
      pipeline.upload = spanRef(upload.span);
      pipeline.uploadStartMs = upload.span.startTimeMs;
    }
    if (detection) {
      pipeline.detection = spanRef(detection.span);
      pipeline.detectStageMs = detection.span.durationMs;
    }
    if (batchAggregation) pipeline.batchAggregation = spanRef(batchAggregation.span);
    if (analysis) {
      pipeline.analysis = spanRef(analysis.span);
      pipeline.analyzeStageMs = analysis.span.durationMs;
    }
    if (event) {
      pipeline.event = spanRef(event.span);
      pipeline.eventEndMs = spanEndMs(event.span);
    }
    if (upload && event) pipeline.endToEndMs = spanEndMs(event.span) - upload.span.startTimeMs;
    if (upload && detection) pipeline.uploadToDetectionMs = spanEndMs(detection.span) - upload.span.startTimeMs;
    if (detection) pipeline.detectionFailed = detection.span.status.code === 'error';
  }
}

/** Per join: how many pipelines were linked, stitched, missing. */
export function joinCounts(pipelines: readonly StitchedPipeline[]): Record<JoinName, { linked: number; stitched: number; missing: number }> {
  const out = Object.fromEntries(JOIN_NAMES.map((n) => [n, { linked: 0, stitched: 0, missing: 0 }])) as Record<JoinName, { linked: number; stitched: number; missing: number }>;
  for (const p of pipelines) for (const j of p.joins) out[j.name][j.join] += 1;
  return out;
}

// ------------------------------------------------------------------ fetching

/** What the fetcher needs of JaegerQueryClient (tests pass a fake; with `forEachTrace`, lookups by id go through it). */
export interface TraceSearchSource extends Partial<BulkTraceSource> {
  findTraces(query: FindTracesQuery): Promise<TraceTree[]>;
  getTrace(traceId: string): Promise<TraceTree | undefined>;
}

export interface FetchPipelineTracesOptions {
  startMin: Date;
  startMax: Date;
  /** Default `nemotron-backend`. */
  service?: string;
  /** Root operations of the pieces; default upload, detection_processing, analysis_processing. */
  operations?: readonly string[];
  /** Traces fetched by id as well (the uploads' own traces). */
  traceIds?: readonly string[];
  /** Per search; a window that returns this many is split in two. Default 100. */
  limit?: number;
  /** Windows are not split below this. Default 1000 ms. */
  minSliceMs?: number;
  /** getTrace calls at once. Default 8. */
  concurrency?: number;
}

/** Keeps, per trace id, the copy with the most spans (a later answer may hold more). */
export function mergeTraces(lists: Iterable<readonly TraceTree[]>): TraceTree[] {
  const byId = new Map<string, TraceTree>();
  for (const list of lists) {
    for (const t of list) {
      const known = byId.get(t.traceId);
      if (!known || t.spans.length > known.spans.length) byId.set(t.traceId, t);
    }
  }
  return [...byId.values()];
}

/**
 * Every trace of the pipeline's pieces in a time window: searches per operation (this Jaeger
 * build ignores attribute filters, so nothing is filtered server-side; `stitchPipelines` joins
 * by attributes), splitting a window whose answer is full, plus the given trace ids by lookup.
 */
export async function fetchPipelineTraces(source: TraceSearchSource, options: FetchPipelineTracesOptions): Promise<TraceTree[]> {
  const names = hsiNames();
  const service = options.service ?? names.services.backend;
  const operations = options.operations ?? [names.spans.upload, names.spans.detectionProcessing, names.spans.analysisProcessing];
  const limit = options.limit ?? 100;
  // At least 2 ms, so that a split window's halves are both non-empty (Jaeger wants min < max).
  const minSliceMs = Math.max(2, options.minSliceMs ?? 1000);
  const lists: TraceTree[][] = [];

  const search = async (operation: string, from: number, to: number): Promise<TraceTree[]> => {
    const found = await source.findTraces({ service, operation, startMin: new Date(from), startMax: new Date(to), limit });
    if (found.length < limit || to - from <= minSliceMs) return found;
    const mid = Math.floor((from + to) / 2);
    return [...(await search(operation, from, mid)), ...(await search(operation, mid, to))];
  };
  for (const operation of operations) lists.push(await search(operation, options.startMin.getTime(), options.startMax.getTime()));

  const ids = [...new Set(options.traceIds ?? [])];
  lists.push(await tracesById(source, ids, Math.max(1, Math.min(options.concurrency ?? 8, ids.length))));
  return mergeTraces(lists);
}

/** The traces of `ids` Jaeger has; the first failed lookup rejects (through the bulk reader: once every lookup has answered). */
async function tracesById(source: TraceSearchSource, ids: readonly string[], concurrency: number): Promise<TraceTree[]> {
  const byId: TraceTree[] = [];
  if (source.forEachTrace) {
    let failure: Error | undefined;
    await source.forEachTrace(ids, { concurrency }, (r) => {
      if (!r.ok) failure ??= r.error;
      else if (r.tree) byId.push(r.tree);
    });
    if (failure) throw failure;
    return byId;
  }
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      const tree = await source.getTrace(id);
      if (tree) byId.push(tree);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return byId;
}
