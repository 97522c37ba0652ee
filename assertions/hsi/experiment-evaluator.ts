import type { BroadcastSource } from '../../harness/events/event-stream-recorder.ts';
import type { LoadRequestRecord } from '../../harness/load/load-result.ts';
import type { EventStreamView } from '../../harness/report/report-model.ts';
import { broadcastLatency, matchBroadcasts, type BroadcastMatch } from '../lost/broadcast.ts';
import type { PipelineOutcome } from '../lost/outcome.ts';
import type { EvaluationRequest, EvaluationResult, ExperimentEvaluator, PipelineLatencySample } from '../../harness/experiment/evaluator.ts';
import type { ExampleTrace, OperationLatency as OperationView, ServiceEdge } from '../../harness/report/report-model.ts';
import { REFERENCE_DIALECT } from './contract.ts';
import { absenceText, absentAfterMs, needsSpans, noSpanError, SilenceWatch } from './span-silence.ts';
import { JaegerQueryClient } from '../../harness/traces/jaeger-client.ts';
import { RUN_TRACES_FILE, toLegacyJson } from '../../harness/traces/legacy-export.ts';
import { pollUntilSettled, settleIntervalMs, spanCount, type Settled } from '../../harness/traces/settle.ts';
import type { TraceTree } from '../../harness/traces/span-model.ts';
import { evaluateExpectations, parseExpectations, type ExpectationEvidence, type ScenarioExpectation, type UploadEvidence } from '../expectations.ts';
import { contractLatencyBudgets, operationLatencies, uniqueSpans } from '../latency/latency.ts';
import { operationDurations, writeOperationSamples } from '../../harness/report/operation-samples.ts';
import { backendWorkersIdle, readPipelineOutcome, waitForDrain } from './pipeline-adapters.ts';
import { fetchPipelineTraces, stitchPipelines } from '../propagation/stitch.ts';
import { preflightExpectations } from '../preflight.ts';
import { writeAssertionsJson, type AssertionResult } from '../result.ts';
import { checkTracePresence, toSamplingRecords, type SentRequest } from '../sampling/presence.ts';
import { hsiCompleteness, hsiHops } from './expectations.ts';

/**
 * The HSI evaluator the CLI injects into the experiment runner: waits for the pipeline to
 * drain, collects traces (the uploads' own plus worker-started ones by search), presence of
 * every trace id when sampling is asserted, and PostgreSQL/Redis outcomes; then evaluates
 * the scenario's expectations and derives the report's trace views.
 */
export interface HsiEvaluatorOptions {
  drainTimeoutMs?: number;
  /**
   * After the drain, traces are read until their span count is unchanged across two polls
   * this far apart; default from the request's span export delay (settleIntervalMs: 1.5 s for
   * the stacks the harness starts, which export every 500 ms; 2.5 s when not known).
   */
  tracePollIntervalMs?: number;
  /** Give up waiting for the span count to settle after this long and use the last poll. */
  traceSettleTimeoutMs?: number;
  /** How long after the outcome was read a stored event may still arrive on /ws/events; default BROADCAST_GRACE_MS. */
  broadcastGraceMs?: number;
  /** The trace wait's clock (tests inject one; default performance.now() and a timer). */
  clock?: { now: () => number; sleep: (ms: number) => Promise<unknown> };
}

/**
 * The drain waited for idle workers, so every event was stored before the outcome is read; its
 * broadcast may trail by the batcher's interval (100 ms in the real HSI) and the delivery. 2 s
 * is twenty batching intervals: an event not received by then was not broadcast.
 */
export const BROADCAST_GRACE_MS = 2_000;

/** Waits (up to the grace) for the stored events' broadcasts, then matches them. */
async function broadcastEvidence(source: BroadcastSource, outcome: PipelineOutcome, accepted: readonly LoadRequestRecord[], graceMs: number): Promise<BroadcastMatch> {
  await source.waitFor(outcome.events.map((e) => ({ eventId: String(e.id), batchId: e.batch_id ?? undefined })), graceMs);
  const uploads = accepted.map((r) => ({ filePath: r.filePath, sentEpochMs: r.intendedEpochMs + Math.max(0, r.lagMs) }));
  return matchBroadcasts(outcome, uploads, source.snapshot());
}

export function eventStreamView(match: BroadcastMatch): EventStreamView {
  return {
    path: match.path,
    subscribed: match.subscribed,
    ...(match.note !== undefined ? { note: match.note } : {}),
    frames: match.frames,
    storedEvents: match.events.length,
    broadcastEvents: match.events.filter((e) => e.receivedEpochMs !== null).length,
    gaps: match.gaps.length,
    uploadToEventMs: broadcastLatency(match),
  };
}

function eventStreamNote(v: EventStreamView): string {
  if (!v.subscribed) return `${v.path}: not subscribed (${v.note ?? 'never opened'})`;
  const l = v.uploadToEventMs;
  const ms = (x: number | null) => (x === null ? 'n/a' : `${Math.round(x)} ms`);
  return `${v.path}: ${v.broadcastEvents}/${v.storedEvents} stored events received (${v.frames.single} single, ${v.frames.batch} batched frames); upload → WebSocket event p50 ${ms(l.p50Ms)}, p95 ${ms(l.p95Ms)}, p99 ${ms(l.p99Ms)} (n=${l.count})`;
}

function toView(r: AssertionResult) {
  return { family: r.family, name: r.name, passed: r.passed, ...(r.judged === false ? { judged: false as const } : {}), measured: r.measured.text, bound: r.bound.text, message: r.message, exampleTraceIds: r.exampleTraceIds.slice(0, 5) };
}

function waterfall(label: string, tree: TraceTree): ExampleTrace {
  const t0 = Math.min(...tree.spans.map((s) => s.startTimeMs));
  return {
    label,
    traceId: tree.traceId,
    spans: tree.spans.slice(0, 400).map((s) => ({
      spanId: s.spanId,
      ...(s.parentSpanId !== undefined ? { parentSpanId: s.parentSpanId } : {}),
      service: s.service,
      name: s.name,
      startOffsetMs: s.startTimeMs - t0,
      durationMs: s.durationMs,
      error: s.status.code === 'error',
    })),
  };
}

function traceSpanMs(tree: TraceTree): number {
  const start = Math.min(...tree.spans.map((s) => s.startTimeMs));
  const end = Math.max(...tree.spans.map((s) => s.startTimeMs + s.durationMs));
  return end - start;
}

/** Service-to-service edges from parent/child links, plus the hops the propagation check found broken. */
function serviceMap(traces: readonly TraceTree[], results: readonly AssertionResult[]): ServiceEdge[] {
  const edges = new Map<string, ServiceEdge>();
  const add = (from: string, to: string, broken: boolean) => {
    const key = `${from}\u0000${to}`;
    const e = edges.get(key) ?? { from, to, calls: 0, broken: false };
    e.calls += broken ? 0 : 1;
    e.broken ||= broken;
    edges.set(key, e);
  };
  for (const tree of traces) {
    for (const s of tree.spans) {
      const parent = s.parentSpanId !== undefined ? tree.span(s.parentSpanId) : undefined;
      if (parent && parent.service !== s.service) add(parent.service, s.service, false);
      else if (!parent && s.kind === 'server') add('load-driver', s.service, false);
    }
  }
  const failedHops = new Set(results.filter((r) => r.family === 'propagation' && !r.passed).map((r) => r.name));
  for (const hop of hsiHops({ analysis: true })) {
    if (!failedHops.has(hop.name) && !failedHops.has(`hop ${hop.name}`)) continue;
    const service = (m: unknown): string => (typeof m === 'string' ? m : '?');
    const from = hop.from === 'traceparent' ? 'load-driver' : service(hop.from.service);
    const to = service(hop.to.service);
    add(from, from === to ? `${to} (${hop.name})` : to, true);
  }
  return [...edges.values()];
}

/** Per upload span (stitched across traces where propagation is broken): when its detections were stored and its event written. */
export function pipelineLatencies(traces: readonly TraceTree[], loadStartEpochMs: number): PipelineLatencySample[] {
  return stitchPipelines(traces)
    .filter((p) => p.uploadStartMs !== undefined)
    .map((p) => ({ atMs: p.uploadStartMs! - loadStartEpochMs, uploadToDetectionMs: p.uploadToDetectionMs ?? null, detectionFailed: p.detectionFailed === true, uploadToEventMs: p.endToEndMs ?? null }));
}

function uploadEvidence(accepted: readonly LoadRequestRecord[]): UploadEvidence[] {
  return accepted.map((r) => ({ traceId: r.traceId, clientSpanId: r.spanId, sampled: r.sampled, status: r.status, uploadId: r.uploadId, filePath: r.filePath, cameraId: r.camera }));
}

/** The run's traces, read until their span count settles; written as the run's legacy-JSON trace file. */
async function collectTraces(req: EvaluationRequest, jaeger: JaegerQueryClient, ctx: { sampled: readonly LoadRequestRecord[]; expectations: readonly ScenarioExpectation[]; options: HsiEvaluatorOptions; notes: string[] }): Promise<TraceTree[]> {
  const { sampled, options, notes } = ctx;
  const sampledIds = sampled.map((r) => r.traceId);
  const interval = options.tracePollIntervalMs ?? settleIntervalMs(req.spanExportDelayMs);
  const startEpochMs = Date.now();
  const absentBy = absentAfterMs(sampled, req.spanExportDelayMs, startEpochMs);
  const collected = await pollUntilSettled(
    () => fetchPipelineTraces(jaeger, { startMin: new Date(req.window.startEpochMs - 5_000), startMax: new Date(Date.now() + 5_000), traceIds: [...sampledIds] }),
    spanCount,
    // With sampled uploads, no span at all is not a settled count: their traces have not arrived yet,
    // unless the first one's export is long overdue: then the stack exports none.
    { intervalMs: interval, timeoutMs: options.traceSettleTimeoutMs ?? 60_000, minCount: sampledIds.length > 0 ? 1 : 0, ...(absentBy !== undefined ? { absentAfterMs: absentBy } : {}), ...(options.clock ? { now: options.clock.now, sleep: options.clock.sleep } : {}) },
  );
  const traces = collected.value;
  const absence = collected.absent ? absenceText(sampled, req.spanExportDelayMs, startEpochMs + collected.waitedMs) : undefined;
  notes.push(`traces collected: ${traces.length} (${sampledIds.length} sampled uploads), span count ${settleNote(collected, interval, absence)}`);
  // The run's traces as Jaeger's UI exports them: `hsi-chaos traces export` and `replay` read them.
  req.results.writeTextAtomic(RUN_TRACES_FILE, `${JSON.stringify(toLegacyJson(traces))}\n`);
  if (absence !== undefined && needsSpans(ctx.expectations)) throw noSpanError(req.endpoints.jaegerUrl, absence);
  return traces;
}

function settleNote(collected: Settled<unknown>, interval: number, absence: string | undefined): string {
  const apart = `${(interval / 1000).toFixed(1)} s apart`;
  if (collected.settled) return `settled after ${collected.polls} polls ${apart}`;
  if (absence !== undefined) return `0: ${absence} (${collected.polls} polls ${apart})`;
  if ((collected.counts.at(-1) ?? 0) === 0) return `0: no span arrived in ${Math.round(collected.waitedMs / 1000)} s (${collected.polls} polls ${apart})`;
  return `still changing after ${collected.polls} polls ${apart} (${collected.counts.slice(-3).join(' → ')} spans); used the last`;
}

/** Sampling presence, the pipeline's rows and the WebSocket broadcasts, as far as the expectations need them. */
async function collectOutcomes(req: EvaluationRequest, ctx: { expectations: readonly ScenarioExpectation[]; evidence: ExpectationEvidence; accepted: readonly LoadRequestRecord[]; jaeger: JaegerQueryClient; options: HsiEvaluatorOptions; notes: string[] }): Promise<EventStreamView | undefined> {
  const { expectations, evidence, accepted, jaeger, options, notes } = ctx;
  const { endpoints } = req;
  if (expectations.some((e) => e.family === 'sampling')) {
    const sent = new Map<string, SentRequest>(accepted.map((r) => [r.traceId, { sampled: r.sampled }]));
    const presence = await checkTracePresence(jaeger, accepted.map((r) => r.traceId), { concurrency: 16, expected: hsiCompleteness() });
    evidence.samplingRecords = toSamplingRecords(presence, sent);
  }
  const wantOutcome = expectations.some((e) => e.family === 'nothing-lost') || req.broadcasts !== undefined;
  if (wantOutcome && endpoints.postgresUrl !== undefined && endpoints.redisUrl !== undefined) {
    evidence.pipelineOutcome = await readPipelineOutcome({
      pgConnectionString: endpoints.postgresUrl,
      redisUrl: endpoints.redisUrl,
      dialect: req.dialect ?? REFERENCE_DIALECT,
      filePaths: accepted.map((r) => r.filePath).filter((p): p is string => p !== undefined),
    });
  }
  if (!req.broadcasts || !evidence.pipelineOutcome) return undefined;
  const graceMs = options.broadcastGraceMs ?? BROADCAST_GRACE_MS;
  evidence.broadcasts = await broadcastEvidence(req.broadcasts, evidence.pipelineOutcome, accepted, graceMs);
  evidence.broadcastGraceMs = graceMs;
  const eventStream = eventStreamView(evidence.broadcasts);
  notes.push(eventStreamNote(eventStream));
  return eventStream;
}

/** Per operation: count and percentiles, with the contract's budget where one applies. */
function operationViews(traces: readonly TraceTree[]): OperationView[] {
  const budgets = contractLatencyBudgets({ analysis: true });
  return operationLatencies(traces)
    .filter((o) => o.count > 0)
    .map((o) => {
      const budget = budgets.find((b) => b.operation?.name === o.name && (b.operation.service === undefined || b.operation.service === o.service));
      const p = (v: number | null) => v ?? 0;
      const view: OperationView = { service: o.service, name: o.name, count: o.count, p50Ms: p(o.p50Ms), p90Ms: p(o.p90Ms), p95Ms: p(o.p95Ms), p99Ms: p(o.p99Ms) };
      if (budget) {
        const measured = budget.percentile === 99 ? o.p99Ms : budget.percentile === 90 ? o.p90Ms : budget.percentile === 50 ? o.p50Ms : o.p95Ms;
        view.budget = { percentile: budget.percentile, maxMs: budget.maxMs, ok: measured !== null && measured < budget.maxMs };
      }
      return view;
    });
}

/** The slowest upload trace and the first trace with an error, as waterfalls. */
function exampleTraces(traces: readonly TraceTree[], sampledIds: readonly string[]): ExampleTrace[] {
  const uploadTraces = traces.filter((t) => sampledIds.includes(t.traceId));
  const examples: ExampleTrace[] = [];
  const slowest = [...uploadTraces].sort((a, b) => traceSpanMs(b) - traceSpanMs(a))[0];
  if (slowest) examples.push(waterfall('slowest upload trace', slowest));
  const firstError = [...traces]
    .filter((t) => t.spans.some((s) => s.status.code === 'error'))
    .sort((a, b) => Math.min(...a.spans.map((s) => s.startTimeMs)) - Math.min(...b.spans.map((s) => s.startTimeMs)))[0];
  if (firstError && firstError.traceId !== slowest?.traceId) examples.push(waterfall('first trace with an error', firstError));
  return examples;
}

/**
 * Waits for the pipeline to drain while watching Jaeger: a stack that exports no span is said
 * once the first sampled upload's spans are overdue, without waiting for the drain (which can
 * take a batch's idle timeout, or its own timeout when the pipeline does not drain).
 */
async function drainUnlessSilent(req: EvaluationRequest, ctx: { redisUrl: string; jaeger: JaegerQueryClient; sampled: readonly LoadRequestRecord[]; expectations: readonly ScenarioExpectation[]; options: HsiEvaluatorOptions; notes: string[] }): Promise<void> {
  const { sampled, options } = ctx;
  const stop = new AbortController();
  const probe = async () => spanCount(await fetchPipelineTraces(ctx.jaeger, { startMin: new Date(req.window.startEpochMs - 5_000), startMax: new Date(Date.now() + 5_000), traceIds: sampled.slice(0, 20).map((r) => r.traceId) }));
  const watch = needsSpans(ctx.expectations) ? SilenceWatch.forRun(sampled, req.spanExportDelayMs, probe) : undefined;
  const heard = watch?.watch().then((end) => (end === 'silent' ? (stop.abort(), end) : end)) ?? Promise.resolve('stopped' as const);
  const drain = await waitForDrain({ redisUrl: ctx.redisUrl, dialect: req.dialect ?? REFERENCE_DIALECT }, { timeoutMs: options.drainTimeoutMs ?? 180_000, alsoIdle: backendWorkersIdle(req.endpoints.backendUrl, req.http), signal: stop.signal });
  watch?.stop();
  if ((await heard) === 'silent') throw noSpanError(req.endpoints.jaegerUrl, absenceText(sampled, req.spanExportDelayMs, Date.now()));
  ctx.notes.push(`pipeline drain: ${drain.drained ? 'drained' : `not drained (${drain.reason})`}`);
}

/** Drain, evidence, expectations, and the report's views of one run. */
async function evaluateRun(req: EvaluationRequest, options: HsiEvaluatorOptions): Promise<EvaluationResult> {
  const notes: string[] = [];
  const expectations = parseExpectations(req.expectations, `${req.source}: expectations`);
  const { endpoints } = req;
  const accepted = req.requests.filter((r) => r.status === 202 && !r.interrupted);
  const jaeger = new JaegerQueryClient({ baseUrl: endpoints.jaegerUrl });
  const sampled = accepted.filter((r) => r.sampled);
  const sampledIds = sampled.map((r) => r.traceId);
  if (endpoints.redisUrl !== undefined) await drainUnlessSilent(req, { redisUrl: endpoints.redisUrl, jaeger, sampled, expectations, options, notes });
  const traces = await collectTraces(req, jaeger, { sampled, expectations, options, notes });
  const evidence: ExpectationEvidence = { traces, uploads: uploadEvidence(accepted), faults: req.faults, ...(req.stackSettings ? { stackSettings: req.stackSettings } : {}), ...(req.settingsKnowledge ? { settingsKnowledge: req.settingsKnowledge } : {}) };
  const eventStream = await collectOutcomes(req, { expectations, evidence, accepted, jaeger, options, notes });
  const results = evaluateExpectations(expectations, evidence);
  writeAssertionsJson(results, req.results);
  writeOperationSamples(req.results, operationDurations(uniqueSpans(traces)));
  return {
    assertions: results.map(toView),
    operations: operationViews(traces),
    exampleTraces: exampleTraces(traces, sampledIds),
    serviceMap: serviceMap(traces, results),
    pipelineLatencies: pipelineLatencies(traces, req.faults.loadStartEpochMs),
    ...(eventStream ? { eventStream } : {}),
    notes,
  };
}

export function hsiExperimentEvaluator(options: HsiEvaluatorOptions = {}): ExperimentEvaluator {
  return {
    validate(expectations, source, context) {
      const parsed = parseExpectations(expectations, `${source}: expectations`);
      if (context) preflightExpectations(parsed, source, context);
    },
    evaluate: (req: EvaluationRequest): Promise<EvaluationResult> => evaluateRun(req, options),
  };
}
