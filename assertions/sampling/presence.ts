import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../harness/errors.ts';
import { JaegerQueryError, type BulkTraceSource } from '../../harness/traces/jaeger-client.ts';
import type { TraceTree } from '../../harness/traces/span-model.ts';
import { assessCompleteness, type CompletenessSpec, type SamplingRecord } from './checks.ts';

/**
 * Presence of many trace ids in Jaeger, fast: `getTrace` with bounded concurrency (a sampling
 * run checks ≥ 2,000 ids), retrying only what may pass (Jaeger's retryable errors). One answer
 * per id, in input order; a lookup that keeps failing is recorded with `error`, never thrown.
 * Call it once traces have had time to be flushed (the batch delay plus a margin).
 */

export interface PresenceSource extends Partial<BulkTraceSource> {
  getTrace(traceId: string): Promise<TraceTree | undefined>;
}

export interface PresenceOptions {
  /** Lookups at once; default 16. */
  concurrency?: number;
  /** Extra attempts after a retryable error; default 2. */
  retries?: number;
  retryDelayMs?: number;
  /** What a complete trace holds; without it, found = complete. */
  expected?: CompletenessSpec;
  /** Keep each found tree in the answer (memory: a few KB per trace). Default false. */
  keepTrees?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface PresenceResult {
  traceId: string;
  found: boolean;
  spanCount: number;
  complete: boolean;
  missing: string[];
  /** Root span's service and name (the operation that made the sampling decision). */
  rootService?: string;
  rootOperation?: string;
  tree?: TraceTree;
  error?: string;
}

export async function checkTracePresence(source: PresenceSource, traceIds: readonly string[], options: PresenceOptions = {}): Promise<PresenceResult[]> {
  const lookups = new PresenceLookups(source, traceIds.length, options);
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 16, traceIds.length));
  let pending: number[] = traceIds.map((_, index) => index);
  if (source.forEachTrace) {
    // one pass with the bulk reader (Jaeger works while answers are read); what may pass on a retry is retried below
    pending = [];
    await source.forEachTrace(traceIds, { concurrency }, (r, index) => {
      if (r.ok) lookups.store(index, lookups.result(r.traceId, r.tree));
      else if (lookups.retryable(r.error) && lookups.retries > 0) pending.push(index);
      else lookups.store(index, lookups.failed(r.traceId, r.error));
    });
  }
  const firstAttempt = source.forEachTrace ? 1 : 0;
  let next = 0;
  const worker = async () => {
    while (next < pending.length) {
      const index = pending[next++]!;
      lookups.store(index, await lookups.lookup(traceIds[index]!, firstAttempt));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, pending.length)) }, worker));
  return lookups.results;
}

/** Presence lookups of one call: results by input position, the retry rule, progress. */
class PresenceLookups {
  readonly results: PresenceResult[];
  readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly source: PresenceSource;
  private readonly options: PresenceOptions;
  private done = 0;

  constructor(source: PresenceSource, count: number, options: PresenceOptions) {
    this.source = source;
    this.options = options;
    this.results = new Array<PresenceResult>(count);
    this.retries = options.retries ?? 2;
    this.retryDelayMs = options.retryDelayMs ?? 200;
  }

  store(index: number, result: PresenceResult): void {
    this.results[index] = result;
    this.done += 1;
    this.options.onProgress?.(this.done, this.results.length);
  }

  retryable(error: unknown): boolean {
    return error instanceof JaegerQueryError && error.retryable;
  }

  /** getTrace from attempt `first` (a later attempt waits `retryDelayMs × attempt` first) until it answers or may not be retried. */
  async lookup(traceId: string, first: number): Promise<PresenceResult> {
    for (let attempt = first; ; attempt++) {
      if (attempt > 0) await sleep(this.retryDelayMs * attempt);
      try {
        return this.result(traceId, await this.source.getTrace(traceId));
      } catch (error) {
        if (!this.retryable(error) || attempt >= this.retries) return this.failed(traceId, error);
      }
    }
  }

  result(traceId: string, tree: TraceTree | undefined): PresenceResult {
    const c = assessCompleteness(tree, this.options.expected ?? {});
    const result: PresenceResult = { traceId, found: c.found, spanCount: tree?.spans.length ?? 0, complete: c.complete, missing: c.missing };
    const root = tree?.roots[0];
    if (root) {
      result.rootService = root.service;
      result.rootOperation = root.name;
    }
    if (tree && this.options.keepTrees) result.tree = tree;
    return result;
  }

  failed(traceId: string, error: unknown): PresenceResult {
    return { traceId, found: false, spanCount: 0, complete: false, missing: [], error: errorMessage(error) };
  }
}

/** What the load driver knows of one request. */
export interface SentRequest {
  /** The traceparent's sampled flag; undefined when no traceparent was sent. */
  sampled?: boolean | undefined;
  /** The root operation the request hits (for per-operation rates); it must come from the request side, since unsampled requests leave no span to read it from. */
  service?: string;
  operation?: string;
}

/** Sampling records from presence answers and what each request sent, by trace id. */
export function toSamplingRecords(presence: readonly PresenceResult[], sent: ReadonlyMap<string, SentRequest> = new Map()): SamplingRecord[] {
  return presence.map((p) => {
    const request = sent.get(p.traceId);
    const r: SamplingRecord = { traceId: p.traceId, sentSampledFlag: request?.sampled, foundInJaeger: p.found, complete: p.complete };
    if (p.missing.length > 0) r.missing = p.missing;
    if (request?.service !== undefined) r.service = request.service;
    if (request?.operation !== undefined) r.operation = request.operation;
    if (p.error !== undefined) r.error = p.error;
    return r;
  });
}
