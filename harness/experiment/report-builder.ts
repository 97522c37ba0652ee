import type { LoadResult } from '../load/load-result.ts';
import type { CounterValues, MetricSummary, RateValues, TrendValues } from '../load/metrics.ts';
import type { LoadMetricsView, RunReportModel } from '../report/report-model.ts';

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
  };
  return {
    load: view,
    timeSeries: load.timeSeries.map((p) => ({ tSec: p.t, requests: p.requests, errors: p.errors, p50Ms: p.requests > 0 ? p.p50 : null, p95Ms: p.requests > 0 ? p.p95 : null, p99Ms: p.requests > 0 ? p.p99 : null })),
    thresholds: load.thresholds.map((t) => ({ metric: t.metric, expression: t.threshold, ok: t.ok, ...(t.value !== undefined ? { value: t.value } : {}), abortOnFail: t.abortOnFail })),
  };
}
