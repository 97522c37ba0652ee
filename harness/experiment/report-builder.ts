import { faultImpact, type FaultImpact, type RequestSample } from '../chaos/fault-impact.ts';
import type { FaultWindowRecord } from '../chaos/toxic-timeline.ts';
import type { LoadResult } from '../load/load-result.ts';
import type { CounterValues, MetricSummary, RateValues, TrendValues } from '../load/metrics.ts';
import type { FaultImpactView, FaultWindowView, LoadMetricsView, PipelineTimeSeries, RunReportModel } from '../report/report-model.ts';
import { timeSeriesFromSamples } from '../report/time-series.ts';
import type { PipelineLatencySample } from './evaluator.ts';

/** The load's part of the report model: k6-style metrics, time series, threshold verdicts. */
function values<T>(metrics: Record<string, MetricSummary>, name: string): T | undefined {
  const m = metrics[name] as { values?: T } | undefined;
  return m?.values;
}

export function reportFromLoad(load: LoadResult): Pick<RunReportModel, 'load' | 'timeSeries' | 'thresholds'> {
  const duration = values<TrendValues>(load.metrics, 'http_req_duration');
  const reqs = values<CounterValues>(load.metrics, 'http_reqs');
  const failed = values<RateValues>(load.metrics, 'http_req_failed');
  const iterations = values<CounterValues>(load.metrics, 'iterations');
  const dropped = values<CounterValues>(load.metrics, 'dropped_iterations');
  const view: LoadMetricsView = {
    driver: load.driver,
    durationSec: load.durationMs / 1000,
    httpReqs: reqs?.count ?? 0,
    httpReqsPerSec: reqs?.rate ?? 0,
    httpReqFailedRate: failed?.rate ?? 0,
    httpReqDuration: {
      avg: duration?.avg ?? 0,
      min: duration?.min ?? 0,
      med: duration?.med ?? 0,
      max: duration?.max ?? 0,
      p90: duration?.['p(90)'] ?? 0,
      p95: duration?.['p(95)'] ?? 0,
      p99: duration?.['p(99)'] ?? 0,
    },
    iterations: iterations?.count ?? 0,
    droppedIterations: dropped?.count ?? 0,
    ...(load.sendLag ? { sendLagMs: { p50: load.sendLag.p50, p99: load.sendLag.p99, max: load.sendLag.max } } : {}),
    ...(load.runnablePerCpu !== undefined ? { runnablePerCpu: load.runnablePerCpu } : {}),
  };
  return {
    load: view,
    timeSeries: load.timeSeries.map((p) => ({ tSec: p.t, requests: p.requests, errors: p.errors, p50Ms: p.requests > 0 ? p.p50 : null, p95Ms: p.requests > 0 ? p.p95 : null, p99Ms: p.requests > 0 ? p.p99 : null })),
    thresholds: load.thresholds.map((t) => ({ metric: t.metric, expression: t.threshold, ok: t.ok, ...(t.value !== undefined ? { value: t.value } : {}), ...(t.noSamples ? { noSamples: true as const } : {}), abortOnFail: t.abortOnFail })),
  };
}

export function impactView(impact: FaultImpact): FaultImpactView {
  return { before: impact.before, during: impact.during, after: impact.after, recoverySeconds: impact.recoverySeconds };
}

/** The report's view of each fault window; `impact` from the load's own requests. */
export function faultViews(windows: readonly FaultWindowRecord[], requests: readonly RequestSample[]): FaultWindowView[] {
  const impacts = faultImpact(windows, requests);
  return windows.map((w): FaultWindowView => {
    const impact = impacts.find((i) => i.index === w.index);
    return {
      name: w.name,
      target: w.target,
      faultType: w.faultType,
      plannedStartSec: w.plannedStartMs / 1000,
      plannedEndSec: w.plannedEndMs / 1000,
      startSec: w.appliedAtMs !== undefined ? w.appliedAtMs / 1000 : null,
      endSec: w.removedAtMs !== undefined ? w.removedAtMs / 1000 : null,
      applyLagMs: w.applyLagMs ?? null,
      removeLagMs: w.removeLagMs ?? null,
      ...(w.applyError || w.removeError ? { error: w.applyError ?? w.removeError } : {}),
      ...(impact ? { impact: impactView(impact) } : {}),
    };
  });
}

/**
 * The pipeline's part, from the uploads' traces: latency over time by upload time, and each
 * fault's impact on it (`pipelineImpact` of the view at the same position as its window).
 */
export function reportFromPipeline(
  samples: readonly PipelineLatencySample[],
  windows: readonly FaultWindowRecord[],
  faults: readonly FaultWindowView[],
  bucketMs = 1_000,
): { pipelineTimeSeries: PipelineTimeSeries; faults: FaultWindowView[] } {
  // A failed detection is an error at both stages; an event missing from the traces after a good
  // detection is unknown (sampling), not an error, and stays out of the event stage.
  const failed = (s: PipelineLatencySample): RequestSample => ({ atMs: s.atMs, latencyMs: null, ok: false });
  const detection = samples
    .filter((s) => s.uploadToDetectionMs !== null)
    .map((s) => (s.detectionFailed ? failed(s) : { atMs: s.atMs, latencyMs: s.uploadToDetectionMs, ok: true }));
  const event = samples.flatMap((s) => (s.detectionFailed ? [failed(s)] : s.uploadToEventMs !== null ? [{ atMs: s.atMs, latencyMs: s.uploadToEventMs, ok: true }] : []));
  const eventsNotTraced = samples.filter((s) => !s.detectionFailed && s.uploadToDetectionMs !== null && s.uploadToEventMs === null).length;
  const detectionImpact = faultImpact(windows, detection);
  const eventImpact = faultImpact(windows, event);
  return {
    pipelineTimeSeries: { bucketSec: bucketMs / 1000, eventsNotTraced, uploadToDetection: timeSeriesFromSamples(detection, bucketMs), uploadToEvent: timeSeriesFromSamples(event, bucketMs) },
    faults: faults.map((view, i) => {
      const w = windows[i];
      const d = w && detectionImpact.find((x) => x.index === w.index);
      const e = w && eventImpact.find((x) => x.index === w.index);
      return d && e ? { ...view, pipelineImpact: { uploadToDetection: impactView(d), uploadToEvent: impactView(e) } } : view;
    }),
  };
}
