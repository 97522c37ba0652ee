import type { RequestCheck, RequestKind, Scenario, SetupParam } from '../scenario/scenario-types.ts';
import { cameraSequence } from './camera-mix.ts';
import type { MetricStore, Tags } from './metrics.ts';
import { requestName } from './request-names.ts';
import type { Abortable, Http1Connection } from './http1/connection.ts';
import type { Http1Pool } from './http1/pool.ts';
import { type RequestInit, RequestTemplate } from './http1/request-template.ts';
import type { RequestTiming } from './request-timing.ts';
import type { RunState } from './run-state.ts';
import type { IterationRunner, ScenarioRuntime } from './scenario-runtime.ts';
import { formatBaggage, newTraceContext } from './trace-context.ts';
import { type AbortScope, captureSettlers, DispatchExchange, takeReject, takeResolve } from './upload-client.ts';
import type { RequestMetrics } from './upload-iteration.ts';

/** What one API request did. */
export interface ApiAnswer {
  status: number;
  /** ms: sent -> response headers (k6 http_req_waiting), headers -> end (http_req_receiving) */
  waitingMs: number;
  receivingMs: number;
  bytesIn: number;
  body: string;
  error?: string;
  /** k6's timing split and wire bytes, when sent through a metered connection */
  timing?: RequestTiming;
}

/** One API request (a DispatchExchange): its body kept whole, the answer resolving its promise at the end. */
class ApiExchange extends DispatchExchange {
  private bytesIn = 0;
  private readonly chunks: Buffer[] = [];
  private readonly resolve: (answer: ApiAnswer) => void;

  constructor(connection: Http1Connection, scope: AbortScope, resolve: (answer: ApiAnswer) => void) {
    super(connection, scope, performance.now());
    this.resolve = resolve;
  }

  onResponseData(_controller: Abortable, chunk: Buffer): void {
    this.bytesIn += chunk.length;
    // a copy: the chunk is a view of the connection's read buffer
    this.chunks.push(Buffer.from(chunk));
  }

  protected finished(): void {
    const end = this.endAt;
    const answer: ApiAnswer = {
      status: this.status,
      waitingMs: (this.headersAt || end) - this.dispatchedAt,
      receivingMs: this.headersAt ? end - this.headersAt : 0,
      bytesIn: this.bytesIn,
      body: Buffer.concat(this.chunks).toString('utf8'),
    };
    if (this.error !== undefined) answer.error = this.error.message;
    if (this.connection !== undefined) answer.timing = this;
    this.resolve(answer);
  }
}

/**
 * One request on a VU's connection, metered: `request` is its bytes built ahead (a template,
 * its traceparent slot filled with `traceparent`), or what to build them from (on the
 * connection's host). Never rejects: status 0 on errors, a bad header included.
 */
export function sendApiRequest(
  connection: Http1Connection,
  options: { request: RequestTemplate | Omit<RequestInit, 'host'>; traceparent?: string; timeoutMs: number; scope: AbortScope },
): Promise<ApiAnswer> {
  const promise = new Promise<ApiAnswer>(captureSettlers);
  const exchange = new ApiExchange(connection, options.scope, takeResolve<ApiAnswer>());
  takeReject();
  let template: RequestTemplate;
  try {
    template = options.request instanceof RequestTemplate ? options.request : new RequestTemplate({ ...options.request, host: connection.authority });
  } catch (error) {
    exchange.onResponseError(null, error as Error);
    return promise;
  }
  exchange.sendOn(connection, template, options.traceparent, options.timeoutMs);
  return promise;
}

/** A check's verdict on one answer. */
export function runCheck(check: RequestCheck, answer: ApiAnswer, json: unknown, durationMs: number): boolean {
  if ('status' in check) return Array.isArray(check.status) ? check.status.includes(answer.status) : check.status === answer.status;
  if ('maxDuration' in check) return durationMs <= check.maxDuration;
  let value: unknown = json;
  for (const part of check.json.split('.')) {
    if (typeof value !== 'object' || value === null) return false;
    value = (value as Record<string, unknown>)[part];
  }
  if (value === undefined) return false;
  if (check.type !== undefined) {
    const type = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
    if (type !== check.type) return false;
  }
  return check.equals === undefined || value === check.equals;
}

/** Values of each path parameter: setup() data, resolved once before the load. */
export async function resolveSetupParams(params: Readonly<Record<string, SetupParam>>, get: (path: string) => Promise<unknown>): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [name, p] of Object.entries(params)) {
    if (Array.isArray(p)) {
      out[name] = p.map(String);
      continue;
    }
    const query = new URLSearchParams(p.query).toString();
    let values: string[] = [];
    try {
      values = pluck(await get(query ? `${p.from}?${query}` : p.from), p.field);
    } catch {
      // the fallback below
    }
    out[name] = values.length > 0 ? values : p.fallback.map(String);
  }
  return out;
}

/** "items.id": the list at items, then each item's id. */
function pluck(json: unknown, field: string): string[] {
  const parts = field.split('.');
  let value: unknown = json;
  while (parts.length > 0 && !Array.isArray(value)) {
    if (typeof value !== 'object' || value === null) return [];
    value = (value as Record<string, unknown>)[parts.shift() ?? ''];
  }
  if (!Array.isArray(value)) return [];
  return value.flatMap((item) => {
    let v: unknown = item;
    for (const part of parts) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
    return typeof v === 'string' || typeof v === 'number' ? [String(v)] : [];
  });
}

export interface RequestIterationOptions {
  scenario: Scenario;
  state: RunState;
  metrics: RequestMetrics;
  store: MetricStore;
  pool: Http1Pool;
  params: Record<string, string[]>;
  /** headers every request of the run carries (the API key); a kind's own header of the same name wins */
  extraHeaders?: Readonly<Record<string, string>>;
  basePath: string;
  random: () => number;
}

interface PreparedKind {
  kind: RequestKind;
  name: string;
  headers: string[];
  body?: string;
  query: string;
  checkTags: Tags[];
  /** the kind's request bytes by resolved path (traceparent slot empty), built on first use */
  templates: Map<string, RequestTemplate>;
}

/** Paths with their own template per kind; a kind whose parameters resolve to more builds the rest per request. */
const TEMPLATES_PER_KIND = 1024;

/** An iteration = one API request of a kind picked by weight, its checks, then think time. */
export class RequestIterations implements IterationRunner {
  private readonly o: RequestIterationOptions;
  private readonly kinds = new Map<string, PreparedKind>();
  private readonly sequences = new Map<ScenarioRuntime, PreparedKind[]>();
  private readonly tagCache = new Map<string, Tags>();
  private readonly paramNext = new Map<string, number>();
  private readonly addChecks: (v: number, t: Tags) => void;
  private readonly timeoutMs: number;

  constructor(o: RequestIterationOptions) {
    this.o = o;
    // defined when a kind the workload sends declares checks (metrics.ts RECORDED_METRICS)
    this.addChecks = o.store.has('checks') ? o.store.handle('checks') : () => undefined;
    this.timeoutMs = o.scenario.transport.type === 'http' ? o.scenario.transport.timeoutMs : 60_000;
    const baggage = formatBaggage({ 'request.source': o.scenario.tracing.requestSource, ...o.scenario.tracing.baggage });
    for (const kind of Object.values(o.scenario.requests)) {
      const own = new Set(Object.keys(kind.headers).map((h) => h.toLowerCase()));
      const runHeaders = Object.entries(o.extraHeaders ?? {}).filter(([h]) => !own.has(h.toLowerCase()));
      const headers = ['baggage', baggage, ...Object.entries(kind.headers).flat(), ...runHeaders.flat()];
      const prepared: PreparedKind = { kind, name: requestName(kind), headers, query: new URLSearchParams(kind.query).toString(), checkTags: [], templates: new Map() };
      if (kind.body !== undefined) {
        prepared.body = JSON.stringify(kind.body);
        headers.push('content-type', 'application/json');
      }
      this.kinds.set(kind.name, prepared);
    }
  }

  private sequenceOf(rt: ScenarioRuntime): PreparedKind[] {
    let seq = this.sequences.get(rt);
    if (!seq) {
      const entries = Object.entries(rt.workload.requests ?? {});
      seq = cameraSequence(entries.map(([, w]) => w)).map((i) => this.kinds.get(entries[i]?.[0] ?? '') as PreparedKind);
      this.sequences.set(rt, seq);
    }
    return seq;
  }

  drop(rt: ScenarioRuntime, dueMs: number): void {
    this.o.state.counts.dropped++;
    this.o.metrics.dropped(rt, dueMs);
  }

  private pathOf(p: PreparedKind): string {
    const path = p.kind.path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const values = this.o.params[name] ?? [''];
      const i = this.paramNext.get(name) ?? 0;
      this.paramNext.set(name, i + 1);
      return encodeURIComponent(values[i % values.length] ?? '');
    });
    return `${this.o.basePath}${path}${p.query ? `?${p.query}` : ''}`;
  }

  /**
   * The request's bytes for `path` (built once per kind and path), or what to build them from
   * when the cache is full or they cannot be built (sendApiRequest then records the error).
   */
  private requestOf(p: PreparedKind, path: string): RequestTemplate | Omit<RequestInit, 'host'> {
    const cached = p.templates.get(path);
    if (cached !== undefined) return cached;
    const init = { method: p.kind.method, path, headers: ['traceparent', '', ...p.headers], body: p.body };
    if (p.templates.size >= TEMPLATES_PER_KIND) return init;
    try {
      const template = new RequestTemplate({ ...init, host: this.o.pool.host });
      p.templates.set(path, template);
      return template;
    } catch {
      return init;
    }
  }

  async run(rt: ScenarioRuntime, vu: number, intendedMs: number, scope: AbortScope, open: boolean): Promise<void> {
    const { state } = this.o;
    const seq = this.sequenceOf(rt);
    const p = seq[rt.iterations++ % seq.length] as PreparedKind;
    state.counts.sent++;
    rt.begin();
    const sentMs = state.now();
    const trace = newTraceContext(true);
    const connection = this.o.pool.connection(rt.name, vu);
    const answer = await sendApiRequest(connection, { request: this.requestOf(p, this.pathOf(p)), traceparent: trace.traceparent, timeoutMs: this.timeoutMs, scope });
    const endMs = state.now();
    const ok = p.kind.expectedStatuses ? p.kind.expectedStatuses.includes(answer.status) : answer.status >= 200 && answer.status < 400;
    if (answer.status === 0 && scope.aborted) {
      state.counts.interrupted++;
      rt.end();
      return;
    }
    state.counts.completed++;
    if (ok) state.counts.accepted++;
    else state.counts.failed++;
    if (open) this.o.metrics.lag.record(sentMs - intendedMs);
    const tags = this.tagsFor(rt, p, answer.status, ok);
    this.o.metrics.api(endMs, endMs - intendedMs, ok, answer, tags);
    this.checksAndMetrics(rt, p, answer, endMs - sentMs, ok);
    await this.think(rt);
    rt.end();
    this.o.metrics.iteration(state.now() - intendedMs, rt.iterationTags);
  }

  private checksAndMetrics(rt: ScenarioRuntime, p: PreparedKind, answer: ApiAnswer, durationMs: number, ok: boolean): void {
    const checks = Object.entries(p.kind.checks);
    let json: unknown;
    if (checks.some(([, c]) => 'json' in c) && answer.body.length > 0) {
      try {
        json = JSON.parse(answer.body);
      } catch {
        json = undefined;
      }
    }
    for (const [name, check] of checks) this.addChecks(runCheck(check, answer, json, durationMs) ? 1 : 0, this.checkTags(rt, name));
    for (const [metric, feed] of Object.entries(p.kind.metrics)) {
      const value = feed === 'duration' ? durationMs : feed === 'ok' ? (ok ? 1 : 0) : feed === 'count' ? 1 : answer.bytesIn;
      this.o.store.add(metric, value, { ...rt.iterationTags, ...p.kind.tags });
    }
  }

  private think(rt: ScenarioRuntime): Promise<void> {
    const t = rt.workload.thinkTime;
    if (!t || t.maxMs <= 0) return Promise.resolve();
    const ms = t.minMs + (t.maxMs - t.minMs) * this.o.random();
    return this.o.state.sleepUntil(this.o.state.now() + ms);
  }

  private tagsFor(rt: ScenarioRuntime, p: PreparedKind, status: number, ok: boolean): Tags {
    const key = `${rt.name}\u0000${p.kind.name}\u0000${status}`;
    let tags = this.tagCache.get(key);
    if (!tags) {
      tags = { ...rt.tags, ...p.kind.tags, scenario: rt.name, status: String(status), method: p.kind.method, name: p.name, expected_response: ok ? 'true' : 'false' };
      this.tagCache.set(key, tags);
    }
    return tags;
  }

  private checkTags(rt: ScenarioRuntime, check: string): Tags {
    const key = `${rt.name}\u0000check\u0000${check}`;
    let tags = this.tagCache.get(key);
    if (!tags) {
      tags = { ...rt.iterationTags, check };
      this.tagCache.set(key, tags);
    }
    return tags;
  }
}
