import { z } from 'zod';
import type { FaultWindowRecord } from '../../harness/chaos/toxic-timeline.ts';
import { parseOrThrow } from '../../harness/config/validation.ts';
import type { NormalizedSpan, TraceTree } from '../../harness/traces/span-model.ts';
import { uniqueSpans } from '../latency/latency.ts';
import { examples, type AssertionResult } from '../result.ts';
import { describeSelector, describeSpan, matchesSelector, TextMatcherSchema, type SpanSelector, type TextMatcher } from '../selectors.ts';

/**
 * Errors under faults. An error span has status `error` or an `exception` event. Fault windows
 * come from the ToxicTimeline (`FaultWindowRecord`, ms relative to the load's start) plus the
 * load's start as an epoch; a window runs from the moment the apply call was sent (Toxiproxy cuts
 * in-flight connections of a disabled proxy before it answers) to the confirmed removal (the
 * planned times when a record has none, open-ended when the removal failed or was rolled back),
 * extended by a grace period after removal (default 5 s) for the system to recover.
 *
 * An error span is EXPECTED when its own interval [start, end] overlaps a window (+grace): a
 * request that started during the fault and timed out 30 s later is the fault's doing. Errors
 * outside every window fail. Declared expectations can REQUIRE errors (or span events, e.g.
 * `circuit_breaker.opened`) during a window.
 */

export interface ErrorSpan {
  span: NormalizedSpan;
  /** Epoch ms: the first exception event, else the span's end. */
  atMs: number;
  /** `atMs` relative to the load's start. */
  atLoadMs: number;
  reason: 'status' | 'exception' | 'status+exception';
  message?: string;
}

export function isErrorSpan(span: NormalizedSpan): boolean {
  return span.status.code === 'error' || span.events.some((e) => e.name === 'exception');
}

export function errorSpans(source: readonly (TraceTree | NormalizedSpan)[], loadStartEpochMs = 0): ErrorSpan[] {
  const out: ErrorSpan[] = [];
  for (const span of uniqueSpans(source)) {
    if (!isErrorSpan(span)) continue;
    const exception = span.events.find((e) => e.name === 'exception');
    const status = span.status.code === 'error';
    const atMs = exception ? span.startTimeMs + exception.timeMs : span.startTimeMs + span.durationMs;
    const e: ErrorSpan = { span, atMs, atLoadMs: atMs - loadStartEpochMs, reason: status && exception ? 'status+exception' : status ? 'status' : 'exception' };
    const message = (exception?.attributes['exception.message'] as string | undefined) ?? span.status.message;
    if (typeof message === 'string' && message !== '') e.message = message;
    out.push(e);
  }
  return out.sort((a, b) => a.atMs - b.atMs);
}

export interface FaultInterval {
  index: number;
  name: string;
  target: string;
  faultType: string;
  /** Load-relative ms. */
  fromMs: number;
  /** Load-relative ms, before grace; Infinity when never confirmed removed. */
  toMs: number;
  /** toMs + grace. */
  untilMs: number;
}

/** The windows that were in effect (a fault whose apply failed is left out). */
export function faultIntervals(windows: readonly FaultWindowRecord[], graceMs: number): FaultInterval[] {
  const out: FaultInterval[] = [];
  for (const w of windows) {
    if (w.appliedAtMs === undefined && w.applyError !== undefined) continue;
    // From the moment the apply call went out, not its confirmation: Toxiproxy disables a proxy
    // (closing in-flight connections) before it answers, so a request failing in between is the
    // fault's doing.
    const fromMs = w.applyRequestedAtMs ?? w.appliedAtMs ?? w.plannedStartMs;
    const toMs = w.removedAtMs ?? (w.rolledBack || w.removeError !== undefined ? Number.POSITIVE_INFINITY : w.plannedEndMs);
    out.push({ index: w.index, name: w.name, target: w.target, faultType: w.faultType, fromMs, toMs, untilMs: toMs + graceMs });
  }
  return out;
}

export interface ErrorExpectation {
  /** The fault window's name (FaultWindowRecord.name). */
  window: string;
  service?: TextMatcher;
  name?: TextMatcher;
  /** Count spans carrying this event (e.g. `circuit_breaker.opened`) instead of error spans. */
  event?: string;
  /** Default 1. */
  min?: number;
  max?: number;
}

export const ErrorExpectationSchema = z
  .object({
    window: z.string().min(1),
    service: TextMatcherSchema.optional(),
    name: TextMatcherSchema.optional(),
    event: z.string().min(1).optional(),
    min: z.number().int().min(0).optional(),
    max: z.number().int().min(0).optional(),
  })
  .strict();

export function parseErrorExpectations(value: unknown, source = 'error expectations'): ErrorExpectation[] {
  return parseOrThrow(z.array(ErrorExpectationSchema), value, source);
}

export interface ErrorCheckOptions {
  /** After each removal; default 5000 ms. */
  graceMs?: number;
  /**
   * Before each apply: slack for mapping the harness's monotonic clock onto the spans' wall-clock
   * times (OpenTelemetry JS stamps spans from performance.timeOrigin, Date.now has 1 ms steps);
   * default 50 ms.
   */
  leadMs?: number;
  /** Error spans that are fine anywhere (e.g. probes answering 404). */
  ignore?: readonly SpanSelector[];
  require?: readonly ErrorExpectation[];
}

export const DEFAULT_GRACE_MS = 5000;
export const DEFAULT_LEAD_MS = 50;

export interface FaultEvidence {
  windows: readonly FaultWindowRecord[];
  /** Epoch ms of the load's t = 0 (the records' origin). */
  loadStartEpochMs: number;
}

function overlaps(span: NormalizedSpan, loadStart: number, w: FaultInterval, leadMs: number): boolean {
  const start = span.startTimeMs - loadStart;
  const end = start + span.durationMs;
  return start <= w.untilMs && end >= w.fromMs - leadMs;
}

function secs(ms: number): string {
  return `${ms >= 0 ? '+' : ''}${(ms / 1000).toFixed(1)} s`;
}

/** The error spans outside every window, grouped by operation, most frequent first. */
function outsideByOperation(outside: readonly ErrorSpan[]): [string, ErrorSpan[]][] {
  const byOp = new Map<string, ErrorSpan[]>();
  for (const e of outside) {
    const key = describeSpan(e.span);
    const list = byOp.get(key);
    if (list) list.push(e);
    else byOp.set(key, [e]);
  }
  return [...byOp.entries()].sort((a, b) => b[1].length - a[1].length);
}

function outsideResult(all: readonly ErrorSpan[], outside: readonly ErrorSpan[], inside: ReadonlyMap<string, number>, windows: readonly FaultInterval[], graceMs: number): AssertionResult {
  const ops = outsideByOperation(outside);
  const windowText = windows.length === 0 ? 'no fault windows' : `${windows.length} fault window${windows.length === 1 ? '' : 's'} (+${graceMs} ms grace)`;
  const first = ops[0]?.[1][0];
  return {
    family: 'errors',
    name: 'errors outside fault windows',
    passed: outside.length === 0,
    measured: { value: outside.length, unit: 'spans', text: `${outside.length} error span${outside.length === 1 ? '' : 's'} outside, ${all.length - outside.length} inside ${windowText}` },
    bound: { op: '==', value: 0, unit: 'spans', text: `0 error spans outside ${windowText}` },
    message:
      outside.length === 0
        ? `no error spans outside ${windowText} (${all.length} inside)`
        : `${outside.length} error span${outside.length === 1 ? '' : 's'} outside ${windowText}: ${ops
            .slice(0, 3)
            .map(([op, list]) => `${op} ×${list.length}`)
            .join(', ')}; first at load ${secs(first!.atLoadMs)} in trace ${first!.span.traceId}${first!.message ? ` (${first!.message})` : ''}`,
    exampleTraceIds: examples(outside.map((e) => e.span.traceId)),
    details: {
      graceMs,
      errorSpans: all.length,
      outside: outside.length,
      perWindow: Object.fromEntries(inside),
      outsideByOperation: ops.map(([op, list]) => ({ operation: op, spans: list.length, firstAtLoadMs: list[0]!.atLoadMs, exampleTraceIds: examples(list.map((e) => e.span.traceId)) })),
    },
  };
}

interface RequireContext {
  windows: readonly FaultInterval[];
  all: readonly ErrorSpan[];
  spans: readonly NormalizedSpan[];
  loadStart: number;
  graceMs: number;
  leadMs: number;
}

/** One `require` entry: the errors (or span events) it asks for, inside its window. */
function requiredResult(req: ErrorExpectation, ctx: RequireContext): AssertionResult {
  const selector: SpanSelector = {};
  if (req.service !== undefined) selector.service = req.service;
  if (req.name !== undefined) selector.name = req.name;
  const kind = req.event ? `span with event "${req.event}"` : 'error span';
  const what = req.service !== undefined || req.name !== undefined ? `${kind} ${describeSelector(selector)}` : kind;
  const name = `errors required in window "${req.window}": ${what}`;
  const min = req.min ?? 1;
  const boundText = req.max === undefined ? `≥ ${min}` : `${min}..${req.max}`;
  const bound = { op: '>=' as const, value: min, unit: 'spans', text: `${boundText} ${what} during "${req.window}" (+${ctx.graceMs} ms grace)` };
  const w = ctx.windows.find((x) => x.name === req.window);
  if (!w) {
    return {
      family: 'errors',
      name,
      passed: false,
      measured: { value: null, unit: 'spans', text: 'window not in effect' },
      bound,
      message: `no fault window "${req.window}" was in effect (windows: ${ctx.windows.map((x) => x.name).join(', ') || 'none'})`,
      exampleTraceIds: [],
    };
  }
  const candidates = req.event ? ctx.spans.filter((s) => s.events.some((e) => e.name === req.event)) : ctx.all.map((e) => e.span);
  const hits = candidates.filter((s) => matchesSelector(s, selector) && overlaps(s, ctx.loadStart, w, ctx.leadMs));
  const passed = hits.length >= min && (req.max === undefined || hits.length <= req.max);
  return {
    family: 'errors',
    name,
    passed,
    measured: { value: hits.length, unit: 'spans', text: `${hits.length} during "${req.window}"` },
    bound,
    message: passed
      ? `window "${req.window}": ${hits.length} ${what} as required (${boundText})`
      : `window "${req.window}" (load ${secs(w.fromMs)}..${Number.isFinite(w.toMs) ? secs(w.toMs) : 'end'}): expected ${boundText} ${what}, found ${hits.length}`,
    exampleTraceIds: examples(hits.map((s) => s.traceId)),
    details: { window: req.window, fromMs: w.fromMs, toMs: Number.isFinite(w.toMs) ? w.toMs : null, graceMs: ctx.graceMs, found: hits.length },
  };
}

export function checkErrorsUnderFaults(source: readonly (TraceTree | NormalizedSpan)[], faults: FaultEvidence, options: ErrorCheckOptions = {}): AssertionResult[] {
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const leadMs = options.leadMs ?? DEFAULT_LEAD_MS;
  const loadStart = faults.loadStartEpochMs;
  const windows = faultIntervals(faults.windows, graceMs);
  const all = errorSpans(source, loadStart).filter((e) => !(options.ignore ?? []).some((sel) => matchesSelector(e.span, sel)));
  const inside = new Map<string, number>(windows.map((w) => [w.name, 0]));
  const outside: ErrorSpan[] = [];
  for (const e of all) {
    const hit = windows.filter((w) => overlaps(e.span, loadStart, w, leadMs));
    if (hit.length === 0) outside.push(e);
    for (const w of hit) inside.set(w.name, (inside.get(w.name) ?? 0) + 1);
  }
  const ctx: RequireContext = { windows, all, spans: uniqueSpans(source), loadStart, graceMs, leadMs };
  return [outsideResult(all, outside, inside, windows, graceMs), ...(options.require ?? []).map((req) => requiredResult(req, ctx))];
}

