import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { K6JsonOutputReader, k6ToLoadResult, parseK6Summary } from '../../../harness/load/k6/k6-output.ts';

/** The real k6 samples of test/fixtures/k6 (sources: SOURCES.md there). */
const DIR = resolve(import.meta.dirname, '..', '..', 'fixtures', 'k6');
const read = (name: string) => readFileSync(join(DIR, name), 'utf8');
const lines = (name: string) => read(name).split('\n').filter((l) => l.trim() !== '');

describe('k6 output converter gaps, on real k6 output', () => {
  it('missing trend stats are absent and named, never null (summary-export with k6 default summaryTrendStats)', () => {
    // k6's default summaryTrendStats (avg, min, med, max, p(90), p(95)) print no p(99) and no count
    const legacy = JSON.parse(read('summary-export-legacy.json')) as { metrics: Record<string, Record<string, unknown>> };
    delete legacy.metrics['my_trend']?.['p(99)'];
    delete legacy.metrics['my_trend']?.['count'];
    const result = k6ToLoadResult({ scenario: 'x', summary: parseK6Summary(legacy) });
    const trend = result.metrics['my_trend'];
    expect(trend).toMatchObject({ type: 'trend', values: { avg: 15, med: 15, 'p(50)': 15, 'p(90)': 19, 'p(95)': 19.5 }, missingStats: ['p(99)', 'count'] });
    expect(JSON.stringify(result.metrics)).not.toContain('null');
    // with every stat printed, nothing is missing
    const full = k6ToLoadResult({ scenario: 'x', summary: parseK6Summary(JSON.parse(read('handle-summary-data.json'))) });
    expect(full.metrics['my_trend']).not.toHaveProperty('missingStats');
  });

  it('per-scenario counts when only a summary exists (one scenario: the whole run is it)', () => {
    const result = k6ToLoadResult({ scenario: 'x', executors: { default: 'shared-iterations' }, summary: parseK6Summary(JSON.parse(read('handle-summary-data.json'))) });
    expect(result.scenarios['default']?.http_reqs).toEqual({ count: 3, rate: 3 });
    expect(result.requests.completed).toBe(3);
  });

  it('metric types when no Metric line was written: k6 built-ins and the scenario custom metrics', () => {
    // the JSON output test lines without their Metric lines: my_metric2 is a counter (3 + 5)
    const reader = new K6JsonOutputReader([], [], { my_metric2: { type: 'counter', contains: 'data' } });
    for (const line of lines('k6-json-output-test.ndjson')) if (!line.includes('"type":"Metric"')) reader.addLine(line);
    const summary = reader.store.summary(1000);
    expect(summary['my_metric2']).toMatchObject({ type: 'counter', contains: 'data', values: { count: 8 } });
    // the docs' http_req_duration point, no Metric line: typed as k6's trend of time
    const docs = new K6JsonOutputReader();
    for (const line of lines('docs-http-requests-point.ndjson')) docs.addLine(line);
    expect(docs.store.summary(1000)['http_req_duration']).toMatchObject({ type: 'trend', contains: 'time', values: { count: 1 } });
  });

  it('sub-metric thresholds come from the scenario (the JSON output names them under the parent only) and are evaluated', () => {
    const thresholds = { 'http_req_duration{status:200}': [{ threshold: 'p(95)<500', abortOnFail: false }] };
    const reader = new K6JsonOutputReader(['default'], Object.keys(thresholds));
    for (const line of lines('docs-http-requests-point.ndjson')) reader.addLine(line);
    const result = k6ToLoadResult({ scenario: 'x', points: reader, thresholds });
    expect(result.thresholds).toEqual([{ metric: 'http_req_duration{status:200}', threshold: 'p(95)<500', ok: false, value: 586.831127, abortOnFail: false }]);
    expect(result.thresholdsPassed).toBe(false);
  });

  it('delayAbortEval is kept on the verdicts (k6 writes threshold sources only)', () => {
    const thresholds = { 'http_reqs': [{ threshold: 'rate<100', abortOnFail: true, delayAbortEvalMs: 10_000 }] };
    const result = k6ToLoadResult({ scenario: 'x', summary: parseK6Summary(JSON.parse(read('handle-summary-data.json'))), thresholds });
    expect(result.thresholds.find((v) => v.metric === 'http_reqs')).toEqual({ metric: 'http_reqs', threshold: 'rate<100', ok: false, value: 3, abortOnFail: true, delayAbortEvalMs: 10_000 });
  });

  it('consistent counts on a truncated file: a request is counted once its duration point is read', () => {
    const all = lines('docs-json-output.ndjson');
    const last = all[all.length - 1] ?? '';
    const truncated = new K6JsonOutputReader();
    for (const line of [...all.slice(0, -1), last.slice(0, Math.floor(last.length / 2))]) truncated.addLine(line);
    const cut = k6ToLoadResult({ scenario: 'x', points: truncated });
    expect(truncated.badLines).toBe(1);
    expect(cut.requests).toMatchObject({ completed: 0, sent: 0, failed: 0 });
    const whole = new K6JsonOutputReader();
    for (const line of all) whole.addLine(line);
    const ok = k6ToLoadResult({ scenario: 'x', points: whole });
    expect(ok.requests.completed).toBe(1);
    expect(ok.metrics['http_req_duration']).toMatchObject({ values: { count: ok.requests.completed } });
  });
});

describe("k6 v2's machine-readable summary (schema 1.0.0)", () => {
  it('reads its metric list, rate matches/total and duration in seconds', () => {
    // shaped after grafana/k6 internal/lib/summary/machinereadable/types_gen.go (Summary, Metric,
    // CounterValues, RateValues, TrendValues); the values are those of the handleSummary sample
    const v2 = {
      version: '1.0.0',
      config: { duration: 1, execution: 'local', script: 'script.js' },
      metadata: { k6Version: '2.0.0', generatedAt: '2026-01-01T00:00:00Z' },
      results: {
        metrics: [
          { name: 'http_reqs', type: 'counter', contains: 'default', values: { count: 3, rate: 3 } },
          { name: 'checks', type: 'rate', contains: 'default', values: { matches: 45, total: 60, rate: 0.75 } },
          { name: 'my_trend', type: 'trend', contains: 'time', values: { avg: 15, min: 10, med: 15, max: 20, 'p(90)': 19, 'p(95)': 19.5 } },
        ],
      },
    };
    const result = k6ToLoadResult({ scenario: 'x', summary: parseK6Summary(v2) });
    expect(result.durationMs).toBe(1000);
    expect(result.metrics['checks']).toEqual({ type: 'rate', contains: 'default', values: { rate: 0.75, passes: 45, fails: 15 } });
    expect(result.metrics['my_trend']).toMatchObject({ values: { 'p(95)': 19.5 }, missingStats: ['p(99)', 'count'] });
    expect(result.requests.completed).toBe(3);
  });
});
