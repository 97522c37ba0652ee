import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { ExitCode, HarnessError, errorMessage } from '../errors.ts';
import { SharedDeadline } from '../util/shared-deadline.ts';
import { AfterWrites } from './after-writes.ts';
import {
  JaegerQueryError,
  legacyServicesResponseSchema,
  parseJaegerJson,
  parseLegacyTraces,
  parseV3Traces,
  v3ErrorResponseSchema,
  v3ServicesResponseSchema,
} from './jaeger-schemas.ts';
import { buildTraceTree, groupTraces, normalizeTraceId, type AttributeValue, type NormalizedSpan, type TraceTree } from './span-model.ts';

export { JaegerQueryError } from './jaeger-schemas.ts';

/**
 * Reads traces from Jaeger's query service (the UI port, 16686).
 *
 * API: `api/v3` (OTLP JSON) when Jaeger serves it, else the legacy 1.x JSON API. With
 * `api: 'auto'` (the default) the first call asks `GET /api/v3/services` once: a JSON answer
 * means v3; a 404/405/501 or a non-JSON answer (Jaeger's UI answers unknown paths with its
 * HTML page and 200) means no v3, and then `GET /api/services` must answer legacy JSON.
 * The answer is remembered; a failed detection (Jaeger not up yet) is retried on the next call.
 *
 * Jaeger v2 facts this relies on (checked on a v2 binary, see test/fixtures/jaeger/):
 * api/v3 answers with `content-type: text/plain` (so bodies are parsed whatever the type);
 * a lookup or search that finds nothing answers 404 `{"error":{"httpCode":404,...}}`;
 * a search without a depth fails (500); the depth parameter was renamed: the v2 build tested
 * (Go module jaegertracing/jaeger v1.76.0) reads only `query.num_traces` and ignores
 * `query.attributes`, newer ones read `query.search_depth` and honour attributes. Both depth
 * names are sent, and attributes are also filtered here.
 */

export type JaegerApi = 'v3' | 'legacy';

export interface JaegerQueryClientOptions {
  /** Query service base URL, e.g. `http://127.0.0.1:16686` (a base path such as `/jaeger` is kept). */
  baseUrl: string;
  /** Default `auto`. */
  api?: JaegerApi | 'auto';
  /** Per request (headers and body, overall), default 10 000 ms; a request is aborted after at most 1.1 × this. */
  requestTimeoutMs?: number;
}

export interface FindTracesQuery {
  service: string;
  operation?: string;
  /**
   * A trace matches when one span of `service` (named `operation`, when given) has every one of
   * these attributes (span or resource attributes, compared as strings).
   */
  attributes?: Record<string, string | number | boolean>;
  startMin: Date;
  startMax: Date;
  /** At most this many traces (also Jaeger's search depth), default 20. */
  limit?: number;
}

export interface WaitForTraceOptions {
  /** Services that must each own at least one span. */
  expectedServices?: readonly string[];
  /** Span names (exact) that must each appear at least once. */
  expectedSpanNames?: readonly string[];
  /** Overall bound, from the first poll. */
  timeoutMs: number;
  /** Default 500 ms. */
  pollIntervalMs?: number;
}

export interface WaitForTracesOptions extends WaitForTraceOptions {
  /** Traces awaited at once, default 8. */
  concurrency?: number;
}

/** One lookup of `forEachTrace`: the trace (undefined when Jaeger does not have it), or what getTrace would have thrown. */
export type TraceLookup = { traceId: string; ok: true; tree: TraceTree | undefined } | { traceId: string; ok: false; error: Error };

export interface ForEachTraceOptions {
  /** Requests in flight at once, default 16. */
  concurrency?: number;
}

/** What bulk readers need of JaegerQueryClient (presence, pipeline fetches; tests pass fakes without it). */
export interface BulkTraceSource {
  forEachTrace(traceIds: readonly string[], options: ForEachTraceOptions, onTrace: (result: TraceLookup, index: number) => void): Promise<void>;
}

export type TraceWaitResult = { traceId: string; ok: true; tree: TraceTree } | { traceId: string; ok: false; error: Error };

export interface TraceCompleteness {
  found: boolean;
  spanCount: number;
  services: string[];
  missingServices: string[];
  missingSpanNames: string[];
}

/** What a trace lacks against the expectations (stability across polls is the caller's part). */
export function assessTrace(tree: TraceTree | undefined, expected: Pick<WaitForTraceOptions, 'expectedServices' | 'expectedSpanNames'>): TraceCompleteness {
  const services = tree?.services() ?? [];
  const names = new Set(tree?.spanNames() ?? []);
  return {
    found: tree !== undefined,
    spanCount: tree?.spans.length ?? 0,
    services,
    missingServices: [...new Set(expected.expectedServices ?? [])].filter((s) => !services.includes(s)),
    missingSpanNames: [...new Set(expected.expectedSpanNames ?? [])].filter((n) => !names.has(n)),
  };
}

/** A trace did not become complete in time. Exit code 1: an expectation failed. */
export class TraceIncompleteError extends HarnessError {
  readonly traceId: string;
  readonly found: boolean;
  readonly spanCount: number;
  readonly services: string[];
  readonly missingServices: string[];
  readonly missingSpanNames: string[];
  /** The last answer seen, if the trace was found at all. */
  readonly lastTree: TraceTree | undefined;
  constructor(traceId: string, timeoutMs: number, polls: number, state: TraceCompleteness, lastTree: TraceTree | undefined, detail: { stillChanging?: string; lastError?: string }) {
    const parts: string[] = [];
    const pollText = `${polls} poll${polls === 1 ? '' : 's'}`;
    if (!state.found) {
      parts.push(`trace ${traceId}: trace not found in Jaeger after ${timeoutMs} ms (${pollText})`);
    } else {
      parts.push(`trace ${traceId}: incomplete after ${timeoutMs} ms (${pollText}): ${state.spanCount} span(s) seen from ${state.services.join(', ') || 'no service'}`);
      if (state.missingServices.length > 0) parts.push(`missing services: ${state.missingServices.join(', ')}`);
      if (state.missingSpanNames.length > 0) parts.push(`missing spans: ${state.missingSpanNames.join(', ')}`);
      if (detail.stillChanging) parts.push(`span count still changing (${detail.stillChanging})`);
      else if (state.missingServices.length + state.missingSpanNames.length === 0) parts.push('span count not yet confirmed by a second poll');
    }
    if (detail.lastError) parts.push(`last error: ${detail.lastError}`);
    super(parts.join('; '), ExitCode.expectationFailed);
    this.name = 'TraceIncompleteError';
    this.traceId = traceId;
    this.found = state.found;
    this.spanCount = state.spanCount;
    this.services = state.services;
    this.missingServices = state.missingServices;
    this.missingSpanNames = state.missingSpanNames;
    this.lastTree = lastTree;
  }
}

interface HttpAnswer {
  path: string;
  status: number;
  text: string;
}

const NOT_JSON: unique symbol = Symbol('not JSON');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

/**
 * An api/v3 traces body: one JSON object, or (grpc-gateway streaming in older Jaeger) one
 * `{"result":{...}}` object per line, merged here into one.
 */
function parseV3Body(text: string): unknown {
  const whole = parseJson(text);
  if (whole !== NOT_JSON) return whole;
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return NOT_JSON;
  const resourceSpans: unknown[] = [];
  for (const line of lines) {
    const chunk = parseJson(line);
    if (chunk === NOT_JSON || typeof chunk !== 'object' || chunk === null) return NOT_JSON;
    const result = (chunk as { result?: { resourceSpans?: unknown } }).result;
    if (!result) return chunk; // an error object: let the schema report it
    if (Array.isArray(result.resourceSpans)) resourceSpans.push(...(result.resourceSpans as unknown[]));
  }
  return { result: { resourceSpans } };
}

function tracePath(api: JaegerApi, id: string): string {
  return api === 'v3' ? `/api/v3/traces/${id}` : `/api/traces/${id}`;
}

/** Whether every span is of trace `id` (a loop: `every` with a closure over the id allocated per answer). */
function allOfTrace(spans: readonly NormalizedSpan[], id: string): boolean {
  for (let i = 0; i < spans.length; i++) if (spans[i]!.traceId !== id) return false;
  return true;
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 120)}…` : flat || '(empty body)';
}

function attributeMatches(value: AttributeValue | undefined, wanted: string | number | boolean): boolean {
  if (value === undefined) return false;
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text === String(wanted);
}

function traceMatches(tree: TraceTree, query: FindTracesQuery): boolean {
  const wanted = Object.entries(query.attributes ?? {});
  return tree.spans.some(
    (s: NormalizedSpan) =>
      s.service === query.service &&
      (query.operation === undefined || s.name === query.operation) &&
      wanted.every(([key, value]) => attributeMatches(s.attributes[key] ?? s.resource[key], value)),
  );
}

export class JaegerQueryClient {
  readonly baseUrl: string;
  private readonly requestedApi: JaegerApi | 'auto';
  private readonly requestTimeoutMs: number;
  /** The overall limit of each request (headers and body); one timer per slot, not per request. */
  private readonly deadline: SharedDeadline;
  private apiPromise: Promise<JaegerApi> | undefined;

  constructor(options: JaegerQueryClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new JaegerQueryError(`Jaeger query URL "${options.baseUrl}" is not a URL (expected e.g. http://127.0.0.1:16686)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new JaegerQueryError(`Jaeger query URL "${options.baseUrl}" must be http or https`);
    this.baseUrl = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    this.requestedApi = options.api ?? 'auto';
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    if (!(this.requestTimeoutMs > 0)) throw new JaegerQueryError(`Jaeger query client: requestTimeoutMs must be positive, got ${this.requestTimeoutMs}`);
    this.deadline = new SharedDeadline(this.requestTimeoutMs);
    if (this.requestedApi !== 'auto') this.apiPromise = Promise.resolve(this.requestedApi);
  }

  /** The API in use: the configured one, or the one detected on first use. */
  api(): Promise<JaegerApi> {
    this.apiPromise ??= this.detectApi().catch((error: unknown) => {
      this.apiPromise = undefined;
      throw error;
    });
    return this.apiPromise;
  }

  /** One trace, or undefined while Jaeger does not have it (404). */
  async getTrace(traceId: string): Promise<TraceTree | undefined> {
    const id = this.traceIdOrThrow(traceId);
    const api = await this.api();
    return this.readTrace(id, api, await this.get(tracePath(api, id)));
  }

  /**
   * Many lookups, `concurrency` requests in flight: each answer is read into a tree exactly as
   * getTrace reads it, but only after the next requests are written (after-writes.ts), so Jaeger
   * works while this process parses. `onTrace` gets one result per id (with its index), in
   * completion order; a lookup that fails comes as `ok: false` with what getTrace would have
   * thrown. Resolves once every result is handed over; rejects with the first error `onTrace`
   * throws (after the rest are handed over).
   */
  async forEachTrace(traceIds: readonly string[], options: ForEachTraceOptions, onTrace: (result: TraceLookup, index: number) => void): Promise<void> {
    const later = new AfterWrites();
    const detected = await this.api().then(
      (api) => ({ api }),
      (error: unknown) => ({ error: asError(error) }),
    );
    let next = 0;
    const worker = async () => {
      while (next < traceIds.length) {
        const index = next++;
        const traceId = traceIds[index]!;
        try {
          if ('error' in detected) throw detected.error;
          const id = this.traceIdOrThrow(traceId);
          const answer = await this.get(tracePath(detected.api, id));
          later.add(() => onTrace(this.lookupResult(traceId, id, detected.api, answer), index));
        } catch (error) {
          later.add(() => onTrace({ traceId, ok: false, error: asError(error) }, index));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 16, traceIds.length)) }, worker));
    await later.drained();
  }

  /** Traces of a service started in [startMin, startMax], newest first; empty when none (404). */
  async findTraces(query: FindTracesQuery): Promise<TraceTree[]> {
    const limit = query.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1) throw new JaegerQueryError(`findTraces: limit must be a positive integer, got ${limit}`);
    if (!(query.startMin.getTime() < query.startMax.getTime())) {
      throw new JaegerQueryError(`findTraces: startMin (${query.startMin.toISOString()}) must be before startMax (${query.startMax.toISOString()})`);
    }
    const api = await this.api();
    const stringAttributes = Object.fromEntries(Object.entries(query.attributes ?? {}).map(([k, v]) => [k, String(v)]));
    const hasAttributes = Object.keys(stringAttributes).length > 0;
    let params: URLSearchParams;
    if (api === 'v3') {
      params = new URLSearchParams({
        'query.service_name': query.service,
        'query.start_time_min': query.startMin.toISOString(),
        'query.start_time_max': query.startMax.toISOString(),
        'query.search_depth': String(limit),
        'query.num_traces': String(limit),
      });
      if (query.operation !== undefined) params.set('query.operation_name', query.operation);
      if (hasAttributes) params.set('query.attributes', JSON.stringify(stringAttributes));
    } else {
      params = new URLSearchParams({
        service: query.service,
        start: String(query.startMin.getTime() * 1000),
        end: String(query.startMax.getTime() * 1000),
        limit: String(limit),
      });
      if (query.operation !== undefined) params.set('operation', query.operation);
      if (hasAttributes) params.set('tags', JSON.stringify(stringAttributes));
    }
    const answer = await this.get(`${api === 'v3' ? '/api/v3/traces' : '/api/traces'}?${params.toString()}`);
    if (answer.status === 404) return [];
    if (answer.status !== 200) throw this.httpError(answer);
    const traces = groupTraces(this.parseTraces(api, answer)).filter((t) => traceMatches(t, query));
    const started = (t: TraceTree) => t.spans[0]?.startTimeUnixNano ?? 0n;
    traces.sort((a, b) => (started(a) === started(b) ? 0 : started(a) > started(b) ? -1 : 1));
    return traces.slice(0, limit);
  }

  /** Service names Jaeger knows, sorted. */
  async services(): Promise<string[]> {
    const api = await this.api();
    const answer = await this.get(api === 'v3' ? '/api/v3/services' : '/api/services');
    if (answer.status !== 200) throw this.httpError(answer);
    const body = this.jsonOrThrow(answer, parseJson(answer.text));
    const list = api === 'v3' ? parseJaegerJson(v3ServicesResponseSchema, body, this.source(answer)).services : parseJaegerJson(legacyServicesResponseSchema, body, this.source(answer)).data;
    return [...(list ?? [])].sort();
  }

  /**
   * Polls until the trace is complete: found, every expected service and span name present,
   * and the span count unchanged since the previous poll. Jaeger errors that may pass (no
   * answer, 5xx) are retried until the timeout; a bad trace id or a malformed answer throws
   * at once. On timeout throws TraceIncompleteError saying what was missing.
   */
  async waitForTrace(traceId: string, options: WaitForTraceOptions): Promise<TraceTree> {
    const id = this.traceIdOrThrow(traceId);
    const pollIntervalMs = Math.max(1, options.pollIntervalMs ?? 500);
    const deadline = Date.now() + Math.max(0, options.timeoutMs);
    let polls = 0;
    let previousCount: number | undefined;
    let lastTree: TraceTree | undefined;
    let lastError: string | undefined;
    let stillChanging: string | undefined;
    for (;;) {
      polls += 1;
      let tree: TraceTree | undefined;
      let answered = false;
      try {
        tree = await this.getTrace(id);
        answered = true;
        lastError = undefined;
      } catch (error) {
        if (!(error instanceof JaegerQueryError) || !error.retryable) throw error;
        lastError = error.message;
      }
      if (answered) {
        lastTree = tree;
        const state = assessTrace(tree, options);
        const count = tree ? state.spanCount : undefined;
        const missing = state.missingServices.length + state.missingSpanNames.length;
        if (tree && missing === 0 && count === previousCount) return tree;
        stillChanging = previousCount !== undefined && count !== undefined && count !== previousCount ? `${previousCount} → ${count}` : undefined;
        previousCount = count;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      await sleep(Math.min(pollIntervalMs, remaining));
    }
    const detail: { stillChanging?: string; lastError?: string } = {};
    if (stillChanging !== undefined) detail.stillChanging = stillChanging;
    if (lastError !== undefined) detail.lastError = lastError;
    throw new TraceIncompleteError(id, options.timeoutMs, polls, assessTrace(lastTree, options), lastTree, detail);
  }

  /** waitForTrace for many ids, `concurrency` at a time; one result per id, in input order, never throws for one trace. */
  async waitForTraces(traceIds: readonly string[], options: WaitForTracesOptions): Promise<TraceWaitResult[]> {
    const results: TraceWaitResult[] = new Array<TraceWaitResult>(traceIds.length);
    let next = 0;
    const worker = async () => {
      while (next < traceIds.length) {
        const index = next++;
        const traceId = traceIds[index] ?? '';
        try {
          results[index] = { traceId, ok: true, tree: await this.waitForTrace(traceId, options) };
        } catch (error) {
          results[index] = { traceId, ok: false, error: error instanceof Error ? error : new Error(String(error)) };
        }
      }
    };
    const workers = Math.max(1, Math.min(options.concurrency ?? 8, traceIds.length));
    await Promise.all(Array.from({ length: workers }, worker));
    return results;
  }

  // ------------------------------------------------------------------ internals

  /** A trace lookup's answer as getTrace gives it: undefined for a 404, else the trace; throws what getTrace throws. */
  private readTrace(id: string, api: JaegerApi, answer: HttpAnswer): TraceTree | undefined {
    if (answer.status === 404) return undefined;
    if (answer.status !== 200) throw this.httpError(answer);
    const all = this.parseTraces(api, answer);
    // an answer holds only the asked-for trace, as a rule: copy the list only when it does not
    const spans = allOfTrace(all, id) ? all : all.filter((s) => s.traceId === id);
    return spans.length > 0 ? buildTraceTree(spans, id) : undefined;
  }

  /** readTrace's answer as a lookup result: what it throws becomes `ok: false`. */
  private lookupResult(traceId: string, id: string, api: JaegerApi, answer: HttpAnswer): TraceLookup {
    try {
      return { traceId, ok: true, tree: this.readTrace(id, api, answer) };
    } catch (error) {
      return { traceId, ok: false, error: asError(error) };
    }
  }

  private traceIdOrThrow(traceId: string): string {
    const id = normalizeTraceId(traceId);
    if (id === undefined) throw new JaegerQueryError(`"${traceId}" is not a trace id (expected up to 32 hex characters, not all zeros)`);
    return id;
  }

  private async detectApi(): Promise<JaegerApi> {
    const v3 = await this.get('/api/v3/services');
    const v3Body = parseJson(v3.text);
    // `{}` is a valid (empty) v3 answer, so rule out error and legacy shapes explicitly.
    const isV3 = v3.status === 200 && typeof v3Body === 'object' && v3Body !== null && !('error' in v3Body) && !('data' in v3Body) && v3ServicesResponseSchema.safeParse(v3Body).success;
    if (isV3) return 'v3';
    if (v3.status >= 500 && v3.status !== 501) throw this.httpError(v3);
    const legacy = await this.get('/api/services');
    const legacyBody = parseJson(legacy.text);
    if (legacy.status === 200 && legacyServicesResponseSchema.safeParse(legacyBody).success) return 'legacy';
    if (legacy.status >= 500 && legacy.status !== 501) throw this.httpError(legacy);
    throw new JaegerQueryError(
      `Jaeger at ${this.baseUrl} serves neither api/v3 (GET /api/v3/services: ${v3.status} ${snippet(v3.text)}) nor the legacy API (GET /api/services: ${legacy.status} ${snippet(legacy.text)}); is this Jaeger's query port (16686)?`,
    );
  }

  private parseTraces(api: JaegerApi, answer: HttpAnswer): NormalizedSpan[] {
    const source = this.source(answer);
    if (api === 'v3') return parseV3Traces(this.jsonOrThrow(answer, parseV3Body(answer.text)), source);
    return parseLegacyTraces(this.jsonOrThrow(answer, parseJson(answer.text)), source);
  }

  private jsonOrThrow(answer: HttpAnswer, body: unknown): unknown {
    if (body === NOT_JSON) throw new JaegerQueryError(`${this.source(answer)}: not JSON: ${snippet(answer.text)}`, { status: answer.status });
    return body;
  }

  private source(answer: HttpAnswer): string {
    return `Jaeger GET ${this.baseUrl}${answer.path}`;
  }

  private httpError(answer: HttpAnswer): JaegerQueryError {
    const body = parseJson(answer.text);
    const parsed = v3ErrorResponseSchema.safeParse(body);
    let message = snippet(answer.text);
    if (parsed.success) message = ('error' in parsed.data ? parsed.data.error.message : parsed.data.message) ?? message;
    return new JaegerQueryError(`${this.source(answer)}: HTTP ${answer.status}: ${message}`, { status: answer.status, retryable: answer.status >= 500 || answer.status === 429 });
  }

  private async get(path: string): Promise<HttpAnswer> {
    const url = `${this.baseUrl}${path}`;
    try {
      const response = await request(url, {
        method: 'GET',
        headers: { accept: 'application/json' },
        headersTimeout: this.requestTimeoutMs,
        bodyTimeout: this.requestTimeoutMs,
        signal: this.deadline.signal(),
      });
      const text = await response.body.text();
      return { path, status: response.statusCode, text };
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
      const code = (error as { code?: unknown }).code ?? cause?.code;
      throw new JaegerQueryError(`Jaeger GET ${url} failed: ${errorMessage(error)}${typeof code === 'string' ? ` (${code})` : ''}; is Jaeger running and is this its query port (16686)?`, {
        retryable: true,
      });
    }
  }
}
