import { z } from 'zod';
import { parseOrThrow } from '../harness/config/validation.ts';
import type { SettingsKnowledge } from '../harness/experiment/evaluator.ts';
import type { TraceTree } from '../harness/traces/span-model.ts';
import { checkErrorsUnderFaults, ErrorExpectationSchema, type FaultEvidence } from './errors/errors.ts';
import { checkCircuitBreaker, checkRetries } from './errors/resilience.ts';
import { HSI_RESILIENCE_SETTINGS, hsiAnalysisTree, hsiBaggageChecks, hsiCompleteness, hsiExpectedBaggage, hsiHops, hsiLatencyBudgets, hsiOutcomeRules, hsiResiliencePolicies, hsiUploadTree, type HsiExpectationOptions } from './hsi/expectations.ts';
import { checkLatencyBudgets, LatencyBudgetSchema, type LatencyBudget } from './latency/latency.ts';
import { checkEveryEventBroadcast, type BroadcastMatch } from './lost/broadcast.ts';
import { checkNothingLost, detectorAnswers, filePathsWithoutDetections, type PipelineOutcome } from './lost/outcome.ts';
import { BaggageCheckSchema, checkBaggage, type BaggageCheckOptions } from './propagation/baggage.ts';
import { checkHops, HopDefinitionSchema, sentSpanIds } from './propagation/hops.ts';
import { checkStitching, stitchPipelines, type StitchedPipeline } from './propagation/stitch.ts';
import { notJudged, type AssertionFamily, type AssertionResult } from './result.ts';
import { SpanSelectorSchema } from './selectors.ts';
import { assessCompleteness, checkNoPartialTraces, checkParentBasedSampling, checkSampleRate, type SamplingRecord } from './sampling/checks.ts';
import { SamplingStrategiesSchema } from './sampling/strategies.ts';
import { checkSpanTree } from './span-tree/evaluate.ts';
import { SpanTreeExpectationSchema } from './span-tree/model.ts';
import { checkSpanTiming } from './span-tree/timing.ts';

/**
 * A scenario's `expectations: [...]`: each entry names a family and its options; built-ins
 * (`"hsi"`) stand for the HSI shape. `evaluateExpectations` is pure: the runner collects the
 * evidence (traces, upload records, fault windows, pipeline outcome) and gets results back.
 *
 *     "expectations": [
 *       {"family": "span-tree", "builtin": "hsi-upload"},
 *       {"family": "propagation", "hops": "hsi", "baggage": "hsi", "stitching": true},
 *       {"family": "sampling", "rate": 0.1, "checks": ["rate"]},
 *       {"family": "latency"},                                  // the contract's SLOs
 *       {"family": "errors", "require": [{"window": "detector-down", "service": "nemotron-backend",
 *                                         "name": "yolo26_detection_request", "min": 1}]},
 *       {"family": "nothing-lost"}
 *     ]
 */

const HsiOptionsSchema = z
  .object({
    analysis: z.boolean().optional(),
    analysisRequired: z.boolean().optional(),
    batch: z.boolean().optional(),
    sql: z.boolean().optional(),
    aiInternals: z.boolean().optional(),
    services: z.object({ backend: z.string().min(1).optional(), detector: z.string().min(1).optional(), llm: z.string().min(1).optional() }).strict().optional(),
  })
  .strict();

const SpanTreeEntry = z
  .object({
    family: z.literal('span-tree'),
    name: z.string().min(1).optional(),
    tree: SpanTreeExpectationSchema.optional(),
    builtin: z.enum(['hsi-upload', 'hsi-analysis']).optional(),
    hsi: HsiOptionsSchema.optional(),
    /** `uploads` (default when upload records are given): only the uploads' own traces; `all`: every trace. */
    traces: z.enum(['uploads', 'all']).optional(),
    /** Timing integrity of parent/child pairs (default on; `skewMs` default 20). */
    timing: z.union([z.boolean(), z.object({ skewMs: z.number().min(0) }).strict()]).optional(),
  })
  .strict()
  .refine((e) => (e.tree === undefined) !== (e.builtin === undefined), { error: 'a span-tree expectation needs exactly one of tree or builtin' });

const PropagationEntry = z
  .object({
    family: z.literal('propagation'),
    hops: z.union([z.literal('hsi'), z.array(HopDefinitionSchema)], { error: 'hops: expected "hsi" or a list of hops' }).optional(),
    baggage: z.union([z.literal('hsi'), z.literal(false), z.array(BaggageCheckSchema)], { error: 'baggage: expected "hsi", false or a list of {key, at}' }).optional(),
    baggageAttributePrefix: z.string().optional(),
    stitching: z.union([z.boolean(), z.object({ until: z.enum(['detection', 'event']) }).strict()]).optional(),
    hsi: HsiOptionsSchema.optional(),
  })
  .strict();

const SamplingEntry = z
  .object({
    family: z.literal('sampling'),
    rate: z.number().min(0).max(1).optional(),
    strategies: SamplingStrategiesSchema.optional(),
    service: z.string().min(1).optional(),
    operation: z.string().min(1).optional(),
    confidence: z.number().gt(0).lt(1).optional(),
    include: z.enum(['root-decision', 'all']).optional(),
    durationSeconds: z.number().positive().optional(),
    /** Default: rate (when a rate or strategies is given), parent-based, no-partial. */
    checks: z.array(z.enum(['rate', 'parent-based', 'no-partial'])).min(1).optional(),
    /** Fail parent-based checks that no request exercised (no sampled=0 / sampled=1 requests); default false. */
    requireExercised: z.boolean().optional(),
    hsi: HsiOptionsSchema.optional(),
  })
  .strict();

const LatencyEntry = z
  .object({
    family: z.literal('latency'),
    budgets: z.array(LatencyBudgetSchema).optional(),
    /** Add the contract's SLO budgets; default true when no budgets are given. */
    contractDefaults: z.boolean().optional(),
    endToEnd: z.object({ percentile: z.number().gt(0).max(100), maxMs: z.number().positive() }).strict().optional(),
    hsi: HsiOptionsSchema.optional(),
  })
  .strict();

const ErrorsEntry = z
  .object({
    family: z.literal('errors'),
    graceMs: z.number().min(0).optional(),
    leadMs: z.number().min(0).optional(),
    require: z.array(ErrorExpectationSchema).optional(),
    ignore: z.array(SpanSelectorSchema).optional(),
    /** Retries, backoff and the detector breaker against the stack's settings (HSI preset); default true. */
    resilience: z.boolean().optional(),
  })
  .strict();

const NothingLostEntry = z
  .object({
    family: z.literal('nothing-lost'),
    endStage: z.enum(['event', 'detections']).optional(),
    acceptNoDetections: z.boolean().optional(),
    /** Apply the contract's outcome rules (no dead letter for an LLM failure, fallback events as specified); default true. */
    contractOutcomes: z.boolean().optional(),
    /**
     * Every stored event must also reach a /ws/events subscriber (what a person sees); default: checked
     * whenever the run subscribed (every experiment does), `false` for a stack without the WebSocket.
     */
    broadcasts: z.boolean().optional(),
  })
  .strict();

export const ScenarioExpectationSchema = z.discriminatedUnion('family', [SpanTreeEntry, PropagationEntry, SamplingEntry, LatencyEntry, ErrorsEntry, NothingLostEntry], {
  error: 'expected an expectation with family span-tree, propagation, sampling, latency, errors or nothing-lost',
});

export const ScenarioExpectationsSchema = z.array(ScenarioExpectationSchema);

export type ScenarioExpectation = z.infer<typeof ScenarioExpectationSchema>;

/** Validates a scenario's `expectations` array; ConfigError naming the field (e.g. `scenario.json: expectations.2.hops.0.to: ...`). */
export function parseExpectations(value: unknown, source = 'expectations'): ScenarioExpectation[] {
  return parseOrThrow(ScenarioExpectationsSchema, value, source);
}

// ------------------------------------------------------------------ evidence

/** One upload as the load driver recorded it (harness/load/upload-client.ts UploadRecord fits). */
export interface UploadEvidence {
  traceId: string;
  /** The span id sent in traceparent. */
  clientSpanId?: string | undefined;
  /** The sampled flag sent; undefined when no traceparent was sent. */
  sampled?: boolean | undefined;
  status: number;
  uploadId?: string | undefined;
  filePath?: string | undefined;
  cameraId?: string | undefined;
}

export interface ExpectationEvidence {
  /** Every trace collected: the uploads' own, and those found by search (worker-started traces). */
  traces: readonly TraceTree[];
  uploads?: readonly UploadEvidence[];
  /** Presence records (`checkTracePresence` + `toSamplingRecords`); derived from uploads + traces when absent. */
  samplingRecords?: readonly SamplingRecord[];
  faults?: FaultEvidence;
  pipelineOutcome?: PipelineOutcome;
  /** The run's stored events matched to what a /ws/events subscriber received (`matchBroadcasts`). */
  broadcasts?: BroadcastMatch;
  /** How long after the drain a stored event may still arrive on the WebSocket (the evaluator waited this long). */
  broadcastGraceMs?: number;
  /** Derived with `stitchPipelines(traces, {uploads})` when absent. */
  pipelines?: readonly StitchedPipeline[];
  /** The backend's settings in effect for the run (the scenario's `stack.backend` on the embedded stack, read back from an external one). */
  stackSettings?: Readonly<Record<string, string>>;
  /** How they were learned; unless `othersUnknown` says otherwise, contract defaults fill the gaps. */
  settingsKnowledge?: SettingsKnowledge;
}

function noEvidence(family: AssertionFamily, name: string, what: string): AssertionResult {
  return {
    family,
    name,
    passed: false,
    measured: { value: null, text: 'no evidence' },
    bound: { op: '==', value: null, text: 'evidence required' },
    message: `${family}: cannot evaluate: ${what} was not collected`,
    exampleTraceIds: [],
  };
}

function hsiOptions(entry: { hsi?: z.infer<typeof HsiOptionsSchema> | undefined }): HsiExpectationOptions {
  const h = entry.hsi ?? {};
  const out: HsiExpectationOptions = {};
  if (h.analysis !== undefined) out.analysis = h.analysis;
  if (h.analysisRequired !== undefined) out.analysisRequired = h.analysisRequired;
  if (h.batch !== undefined) out.batch = h.batch;
  if (h.sql !== undefined) out.sql = h.sql;
  if (h.aiInternals !== undefined) out.aiInternals = h.aiInternals;
  if (h.services !== undefined) {
    const services: NonNullable<HsiExpectationOptions['services']> = {};
    if (h.services.backend !== undefined) services.backend = h.services.backend;
    if (h.services.detector !== undefined) services.detector = h.services.detector;
    if (h.services.llm !== undefined) services.llm = h.services.llm;
    out.services = services;
  }
  return out;
}

function acceptedUploads(evidence: ExpectationEvidence): UploadEvidence[] {
  return (evidence.uploads ?? []).filter((u) => u.status === 202);
}

function uploadTraces(evidence: ExpectationEvidence): TraceTree[] {
  const ids = new Set(acceptedUploads(evidence).map((u) => u.traceId));
  return evidence.traces.filter((t) => ids.has(t.traceId));
}

function pipelinesOf(evidence: ExpectationEvidence, until: 'detection' | 'event'): StitchedPipeline[] {
  if (evidence.pipelines) return [...evidence.pipelines];
  // An upload sent with sampled=0 must leave no spans (the sampling family checks that), so
  // there is nothing to follow: only uploads that may be traced are stitched.
  const traced = acceptedUploads(evidence).filter((u) => u.sampled !== false);
  return stitchPipelines(evidence.traces, { ...(evidence.uploads ? { uploads: traced } : {}), until });
}

function samplingRecordsOf(evidence: ExpectationEvidence, options: HsiExpectationOptions): SamplingRecord[] | undefined {
  if (evidence.samplingRecords) return [...evidence.samplingRecords];
  if (!evidence.uploads) return undefined;
  const byId = new Map(evidence.traces.map((t) => [t.traceId, t]));
  const spec = hsiCompleteness(options);
  return acceptedUploads(evidence).map((u) => {
    const c = assessCompleteness(byId.get(u.traceId), spec);
    const r: SamplingRecord = { traceId: u.traceId, sentSampledFlag: u.sampled, foundInJaeger: c.found, complete: c.complete };
    if (c.missing.length > 0) r.missing = c.missing;
    return r;
  });
}

/** The check's missing settings when the settings in effect are not all known, else undefined. */
function unknownSettings(check: keyof typeof HSI_RESILIENCE_SETTINGS, evidence: ExpectationEvidence): string | undefined {
  const why = evidence.settingsKnowledge?.othersUnknown;
  if (why === undefined) return undefined;
  const missing = HSI_RESILIENCE_SETTINGS[check].filter((key) => evidence.stackSettings?.[key] === undefined);
  return missing.length > 0 ? `${missing.join(' and ')} in effect ${missing.length > 1 ? 'are' : 'is'} unknown (${why}); no assumed value is used` : undefined;
}

function resilienceResults(evidence: ExpectationEvidence): AssertionResult[] {
  const origin = evidence.settingsKnowledge?.origin;
  const policies = hsiResiliencePolicies(evidence.stackSettings ?? {}, origin !== undefined ? { origin } : {});
  const uploads = acceptedUploads(evidence);
  const options = { evidenceComplete: uploads.length > 0 && uploads.every((u) => u.sampled !== false) };
  const judge = (check: keyof typeof HSI_RESILIENCE_SETTINGS, run: () => AssertionResult): AssertionResult => {
    const unknown = unknownSettings(check, evidence);
    return unknown === undefined ? run() : notJudged('errors', `resilience: ${check}`, `${check}: ${unknown}`);
  };
  const [detector, llm] = policies.retries;
  return [
    judge('detector retries', () => checkRetries(evidence.traces, detector!, options)),
    judge('LLM retries', () => checkRetries(evidence.traces, llm!, options)),
    judge('detector circuit breaker', () => checkCircuitBreaker(evidence.traces, policies.breaker, options)),
  ];
}

type Entry<F extends ScenarioExpectation['family']> = Extract<ScenarioExpectation, { family: F }>;

function spanTreeResults(e: Entry<'span-tree'>, evidence: ExpectationEvidence): AssertionResult[] {
  const hsi = hsiOptions(e);
  const tree = e.tree ?? (e.builtin === 'hsi-analysis' ? hsiAnalysisTree(hsi) : hsiUploadTree(hsi));
  const useUploads = (e.traces ?? (evidence.uploads ? 'uploads' : 'all')) === 'uploads';
  if (useUploads && !evidence.uploads) return [noEvidence('span-tree', `span tree: ${e.name ?? tree.name ?? 'expectation'}`, 'upload records (traces: "uploads")')];
  let traces = useUploads ? uploadTraces(evidence) : [...evidence.traces];
  // The analysis tree only concerns traces that hold its top span.
  const top = tree.root.name;
  if (e.builtin === 'hsi-analysis' && typeof top === 'string') traces = traces.filter((t) => t.spanNames().includes(top));
  const results = [checkSpanTree(traces, tree, e.name === undefined ? {} : { name: e.name })];
  if (e.timing !== false) results.push(checkSpanTiming(traces, typeof e.timing === 'object' ? { skewMs: e.timing.skewMs } : {}));
  return results;
}

function propagationResults(e: Entry<'propagation'>, evidence: ExpectationEvidence): AssertionResult[] {
  const hsi = hsiOptions(e);
  const hops = e.hops === undefined || e.hops === 'hsi' ? hsiHops(hsi) : e.hops;
  const results = checkHops(evidence.traces, hops, { sent: sentSpanIds(acceptedUploads(evidence)) });
  if (e.baggage !== false) {
    const builtin = e.baggage === undefined || e.baggage === 'hsi';
    const checks = e.baggage === undefined || e.baggage === 'hsi' ? hsiBaggageChecks(hsi) : e.baggage;
    const options: BaggageCheckOptions = e.baggageAttributePrefix === undefined ? {} : { attributePrefix: e.baggageAttributePrefix };
    if (builtin) options.expected = hsiExpectedBaggage(acceptedUploads(evidence));
    results.push(...checkBaggage(evidence.traces, checks, options));
  }
  if (e.stitching) {
    const until = typeof e.stitching === 'object' ? e.stitching.until : (hsi.analysis ?? true) ? 'event' : 'detection';
    results.push(checkStitching(pipelinesOf(evidence, until), { until }));
  }
  return results;
}

function sampleRateResults(e: Entry<'sampling'>, records: readonly SamplingRecord[]): AssertionResult[] {
  if (e.rate === undefined && e.strategies === undefined) return [noEvidence('sampling', 'sampling rate', 'a configured rate or strategies file (rate/strategies)')];
  const options: Parameters<typeof checkSampleRate>[1] = {};
  if (e.rate !== undefined) options.rate = e.rate;
  if (e.strategies !== undefined) options.strategies = e.strategies;
  if (e.service !== undefined) options.service = e.service;
  if (e.operation !== undefined) options.operation = e.operation;
  if (e.confidence !== undefined) options.confidence = e.confidence;
  if (e.include !== undefined) options.include = e.include;
  if (e.durationSeconds !== undefined) options.durationSeconds = e.durationSeconds;
  return checkSampleRate(records, options);
}

function samplingResults(e: Entry<'sampling'>, evidence: ExpectationEvidence): AssertionResult[] {
  const records = samplingRecordsOf(evidence, hsiOptions(e));
  if (!records) return [noEvidence('sampling', 'sampling', 'sampling records or upload records')];
  const checks = e.checks ?? [...(e.rate !== undefined || e.strategies !== undefined ? (['rate'] as const) : []), 'parent-based', 'no-partial'];
  const results: AssertionResult[] = [];
  if (checks.includes('rate')) results.push(...sampleRateResults(e, records));
  if (checks.includes('parent-based')) results.push(...checkParentBasedSampling(records, { requireExercised: e.requireExercised ?? false }));
  if (checks.includes('no-partial')) results.push(checkNoPartialTraces(records));
  return results;
}

function latencyResults(e: Entry<'latency'>, evidence: ExpectationEvidence): AssertionResult[] {
  const hsi = hsiOptions(e);
  const budgets: LatencyBudget[] = [...(e.budgets ?? [])];
  if (e.contractDefaults ?? e.budgets === undefined) budgets.push(...hsiLatencyBudgets(hsi));
  if (e.endToEnd) budgets.push({ name: `end to end p${e.endToEnd.percentile}`, endToEnd: true, percentile: e.endToEnd.percentile, maxMs: e.endToEnd.maxMs });
  const needPipelines = budgets.some((b) => b.endToEnd === true);
  return checkLatencyBudgets({ traces: evidence.traces, ...(needPipelines ? { pipelines: pipelinesOf(evidence, 'event') } : {}) }, budgets);
}

function errorsResults(e: Entry<'errors'>, evidence: ExpectationEvidence): AssertionResult[] {
  if (!evidence.faults) return [noEvidence('errors', 'errors outside fault windows', 'the fault windows (faults)')];
  const options: Parameters<typeof checkErrorsUnderFaults>[2] = {};
  if (e.graceMs !== undefined) options.graceMs = e.graceMs;
  if (e.leadMs !== undefined) options.leadMs = e.leadMs;
  if (e.require !== undefined) options.require = e.require;
  if (e.ignore !== undefined) options.ignore = e.ignore;
  const results = checkErrorsUnderFaults(evidence.traces, evidence.faults, options);
  if (e.resilience !== false) results.push(...resilienceResults(evidence));
  return results;
}

function nothingLostResults(e: Entry<'nothing-lost'>, evidence: ExpectationEvidence): AssertionResult[] {
  if (!evidence.pipelineOutcome || !evidence.uploads) {
    return [noEvidence('nothing-lost', 'nothing lost', !evidence.uploads ? 'upload records' : 'the pipeline outcome (readPipelineOutcome)')];
  }
  const results = [
    checkNothingLost(evidence.uploads, evidence.pipelineOutcome, {
      endStage: e.endStage ?? 'event',
      noDetectionFilePaths: filePathsWithoutDetections(evidence.traces),
      detectorAnswers: detectorAnswers(evidence.traces),
      acceptNoDetections: e.acceptNoDetections ?? false,
      ...(e.contractOutcomes === false ? {} : hsiOutcomeRules()),
    }),
  ];
  if (e.broadcasts === false || (e.endStage ?? 'event') !== 'event') return results;
  if (evidence.broadcasts) results.push(checkEveryEventBroadcast(evidence.broadcasts, { graceMs: evidence.broadcastGraceMs ?? 0 }));
  else if (e.broadcasts === true) results.push(noEvidence('nothing-lost', 'every event broadcast', 'a /ws/events subscription'));
  return results;
}

function entryResults(e: ScenarioExpectation, evidence: ExpectationEvidence): AssertionResult[] {
  switch (e.family) {
    case 'span-tree':
      return spanTreeResults(e, evidence);
    case 'propagation':
      return propagationResults(e, evidence);
    case 'sampling':
      return samplingResults(e, evidence);
    case 'latency':
      return latencyResults(e, evidence);
    case 'errors':
      return errorsResults(e, evidence);
    case 'nothing-lost':
      return nothingLostResults(e, evidence);
  }
}

/** Evaluates every expectation against the evidence, in order; never throws for missing evidence (those results fail). */
export function evaluateExpectations(expectations: readonly ScenarioExpectation[], evidence: ExpectationEvidence): AssertionResult[] {
  return expectations.flatMap((e) => entryResults(e, evidence));
}
