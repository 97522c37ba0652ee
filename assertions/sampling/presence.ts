import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../harness/errors.ts';
import { JaegerQueryError } from '../../harness/traces/jaeger-client.ts';
import type { TraceTree } from '../../harness/traces/span-model.ts';
import { assessCompleteness, type CompletenessSpec, type SamplingRecord } from './checks.ts';

/**
 * Presence of many trace ids in Jaeger, fast: `getTrace` with bounded concurrency (a sampling
 * run checks ≥ 2,000 ids), retrying only what may pass (Jaeger's retryable errors). One answer
 * per id, in input order; a lookup that keeps failing is recorded with `error`, never thrown.
 * Call it once traces have had time to be flushed (the batch delay plus a margin).
 */

export interface PresenceSource {
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
  const results = new Array<PresenceResult>(traceIds.length);
  const retries = options.retries ?? 2;
  const retryDelayMs = options.retryDelayMs ?? 200;
  let next = 0;
  let done = 0;
  const lookup = async (traceId: string): Promise<PresenceResult> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const tree = await source.getTrace(traceId);
        const c = assessCompleteness(tree, options.expected ?? {});
        const result: PresenceResult = { traceId, found: c.found, spanCount: tree?.spans.length ?? 0, complete: c.complete, missing: c.missing };
        const root = tree?.roots[0];
        if (root) {
          result.rootService = root.service;
          result.rootOperation = root.name;
        }
        if (tree && options.keepTrees) result.tree = tree;
        return result;
      } catch (error) {
        const retryable = error instanceof JaegerQueryError && error.retryable;
        if (!retryable || attempt >= retries) return { traceId, found: false, spanCount: 0, complete: false, missing: [], error: errorMessage(error) };
        await sleep(retryDelayMs * (attempt + 1));
      }
    }
  };
  const worker = async () => {
    while (next < traceIds.length) {
      const index = next++;
      results[index] = await lookup(traceIds[index]!);
      done += 1;
      options.onProgress?.(done, traceIds.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 16, traceIds.length)) }, worker));
  return results;
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
