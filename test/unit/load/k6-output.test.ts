import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { K6JsonOutputReader, k6ToLoadResult, parseK6Summary, readK6JsonFile } from '../../../harness/load/k6/k6-output.ts';

/**
 * Real k6 output samples (test/fixtures/k6/SOURCES.md):
 * - docs-json-output.ndjson: grafana/k6-docs docs/sources/k6/next/results-output/real-time/json.md
 *   (https://grafana.com/docs/k6/latest/results-output/real-time/json/), "JSON format" block
 * - docs-http-requests-point.ndjson: grafana/k6-docs docs/sources/k6/next/using-k6/http-requests.md
 *   (https://grafana.com/docs/k6/latest/using-k6/http-requests/), the tagged data point
 * - k6-json-output-test.ndjson: grafana/k6 internal/output/json/json_test.go, the lines the JSON
 *   output writes in TestJsonOutput* (with metadata and submetrics)
 * - summary-export-legacy.json: grafana/k6 internal/js/summary_test.go expectedOldJSONExportResult
 *   (what --summary-export writes)
 * - handle-summary-data.json: grafana/k6 internal/js/summary_test.go expectedHandleSummaryRawData
 *   (the handleSummary(data) object)
 */
const DIR = resolve(import.meta.dirname, '..', '..', 'fixtures', 'k6');
const read = (name: string) => readFileSync(join(DIR, name), 'utf8');

describe('k6 --out json lines', () => {
  it('docs sample: a gauge and a trend with a threshold, converted and evaluated', async () => {
    const reader = await readK6JsonFile(join(DIR, 'docs-json-output.ndjson'));
    expect(reader.lines).toBe(4);
    expect(reader.points).toBe(2);
    expect(reader.badLines).toBe(0);
    expect(reader.declared.get('vus')).toEqual({ type: 'gauge', contains: 'default', thresholds: [] });
    expect(reader.declaredThresholds()).toEqual({ http_req_duration: [{ threshold: 'avg<1000', abortOnFail: false }] });
    const result = k6ToLoadResult({ scenario: 'docs', points: reader });
    expect(result.driver).toBe('k6');
    expect(result.metrics['vus']).toEqual({ type: 'gauge', contains: 'default', values: { value: 5, min: 5, max: 5 } });
    expect(result.metrics['http_req_duration']).toMatchObject({ type: 'trend', contains: 'time', values: { avg: 459.865729, min: 459.865729, max: 459.865729, 'p(95)': 459.865729, count: 1 } });
    expect(result.thresholds).toEqual([{ metric: 'http_req_duration', threshold: 'avg<1000', ok: true, abortOnFail: false, value: 459.865729 }]);
    expect(result.thresholdsPassed).toBe(true);
    expect(result.exitCode).toBe(0);
    // the Point times: 14:34:45.239531499+02:00 minus the 459.87 ms request, to the vus sample at .625742514
    expect(result.startedAt).toBe('2017-05-09T12:34:44.779Z');
    expect(result.durationMs).toBeCloseTo(625.742514 - (239.531499 - 459.865729), 0);
    expect(result.timeSeries[0]).toMatchObject({ t: 0, requests: 1, errors: 0, p95: 459.865729 });
  });

  it('docs sample: a tagged http_req_duration point lands in its scenario submetric', () => {
    const reader = new K6JsonOutputReader();
    for (const line of read('docs-http-requests-point.ndjson').split('\n')) reader.addLine(line);
    const result = k6ToLoadResult({ scenario: 'docs', points: reader });
    expect(result.metrics['http_req_duration{scenario:default}']).toMatchObject({ values: { avg: 586.831127, count: 1 } });
    expect(result.metrics['http_req_duration{expected_response:true}']).toMatchObject({ values: { count: 1 } });
    expect(Object.keys(result.scenarios)).toEqual(['default']);
    expect(result.scenarios['default']?.http_req_duration.med).toBe(586.831127);
    const [record] = reader.requestRecords();
    expect(record).toMatchObject({ scenario: 'default', status: 200, ok: true, latencyMs: 586.831127, transport: 'http' });
  });

  it('k6 JSON output test lines: metadata, submetrics, counters', () => {
    const reader = new K6JsonOutputReader();
    for (const line of read('k6-json-output-test.ndjson').split('\n')) reader.addLine(line);
    expect(reader.points).toBe(5);
    expect(reader.badLines).toBe(0);
    expect(reader.declared.get('my_metric2')).toMatchObject({ type: 'counter', contains: 'data' });
    const result = k6ToLoadResult({ scenario: 'k6-test', points: reader, exitCode: 0 });
    // gauge: last value 4, min 1, max 4
    expect(result.metrics['my_metric1']).toEqual({ type: 'gauge', contains: 'default', values: { value: 4, min: 1, max: 4 } });
    // the submetric declared in the Metric line matches none of the points' tags
    expect(result.metrics['my_metric1{a:1,b:2}']).toMatchObject({ type: 'gauge' });
    // counter: 3 + 5 over the run (10:00.000 -> 10:30.000 = 20 s)
    expect(result.durationMs).toBe(20_000);
    expect(result.metrics['my_metric2']).toEqual({ type: 'counter', contains: 'data', values: { count: 8, rate: 0.4 } });
    // "rate<0.01" and "p(99)<250" on a gauge are not valid k6 thresholds for that type: no summary,
    // evaluated here: value keys missing -> treated as no samples (pass), like k6's runNoTaint
    expect(result.thresholds.map((t) => t.threshold)).toEqual(['rate<0.01', 'p(99)<250']);
  });

  it('reads request records from trace metadata (the hsi script writes trace_id and upload ids)', () => {
    const reader = new K6JsonOutputReader(['steady']);
    const point = (metric: string, value: number, tags: Record<string, string>, metadata?: Record<string, string>) =>
      JSON.stringify({ metric, type: 'Point', data: { time: '2026-11-24T08:00:01.5Z', value, tags, ...(metadata ? { metadata } : {}) } });
    const tags = { expected_response: 'true', group: '', method: 'POST', name: 'POST /api/cameras/{camera_id}/uploads', proto: 'HTTP/1.1', scenario: 'steady', status: '202', camera: 'front_door' };
    const meta = { trace_id: 'a'.repeat(32), trace_sampled: 'true' };
    reader.addLine(JSON.stringify({ type: 'Metric', data: { name: 'http_req_duration', type: 'trend', contains: 'time', thresholds: ['p(95)<2000'], submetrics: null }, metric: 'http_req_duration' }));
    reader.addLine(point('http_reqs', 1, tags, meta));
    reader.addLine(point('http_req_duration', 12.5, tags, meta));
    reader.addLine(point('http_req_failed', 0, tags, meta));
    reader.addLine(point('hsi_uploads', 1, { scenario: 'steady', camera: 'front_door', fixture: 'porch_deck_640x480.jpg' }, { ...meta, upload_id: 'up-1', file_path: '/data/x.jpg', span_id: 'b'.repeat(16) }));
    reader.addLine('not json');
    expect(reader.badLines).toBe(1);
    const [rec] = reader.requestRecords();
    expect(rec).toMatchObject({
      scenario: 'steady', camera: 'front_door', fixture: 'porch_deck_640x480.jpg', status: 202, ok: true, latencyMs: 12.5,
      traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), sampled: true, uploadId: 'up-1', filePath: '/data/x.jpg',
    });
    const result = k6ToLoadResult({ scenario: 'steady', points: reader, executors: { steady: 'constant-arrival-rate' } });
    expect(result.scenarios['steady']).toMatchObject({ executor: 'constant-arrival-rate', http_reqs: { count: 1 }, http_req_duration: { avg: 12.5 } });
    expect(result.thresholds).toEqual([{ metric: 'http_req_duration', threshold: 'p(95)<2000', ok: true, abortOnFail: false, value: 12.5 }]);
  });
});

describe('k6 end-of-test summaries', () => {
  it('--summary-export (legacy): values, k6 threshold verdicts (true = failed), rate `value`', () => {
    const summary = parseK6Summary(JSON.parse(read('summary-export-legacy.json')));
    expect(summary.metrics['my_trend']).toEqual({
      type: 'trend',
      values: { avg: 15, max: 20, med: 15, min: 10, 'p(90)': 19, 'p(95)': 19.5, 'p(99)': 19.9, count: 3 },
      thresholds: { 'my_trend<1000': false },
    });
    expect(summary.metrics['checks']).toMatchObject({ type: 'rate', values: { rate: 0.75, passes: 45, fails: 15 }, thresholds: { 'rate>70': true } });
    expect(summary.metrics['http_reqs']).toMatchObject({ type: 'counter', values: { count: 3, rate: 3 }, thresholds: { 'rate<100': false } });
    expect(summary.metrics['vus']).toMatchObject({ type: 'gauge', values: { value: 1, min: 1, max: 1 } });
    expect(summary.testRunDurationMs).toBe(1000); // count / rate
    const result = k6ToLoadResult({ scenario: 'legacy', summary, exitCode: 99 });
    expect(result.metrics['my_trend']).toEqual({ type: 'trend', contains: 'default', values: { avg: 15, min: 10, med: 15, max: 20, 'p(50)': 15, 'p(90)': 19, 'p(95)': 19.5, 'p(99)': 19.9, count: 3 } });
    expect(result.thresholds).toEqual([
      { metric: 'checks', threshold: 'rate>70', ok: true, abortOnFail: false, value: 0.75 },
      { metric: 'http_reqs', threshold: 'rate<100', ok: false, abortOnFail: false, value: 3 },
      { metric: 'my_trend', threshold: 'my_trend<1000', ok: false, abortOnFail: false },
    ]);
    expect(result.thresholdsPassed).toBe(false);
    expect(result.exitCode).toBe(99);
    expect(result.requests).toMatchObject({ completed: 3 });
  });

  it('handleSummary data: types, contains, thresholds.ok, state.testRunDurationMs', () => {
    const summary = parseK6Summary(JSON.parse(read('handle-summary-data.json')));
    expect(summary.testRunDurationMs).toBe(1000);
    expect(summary.metrics['my_trend']).toMatchObject({ type: 'trend', contains: 'time', thresholds: { 'my_trend<1000': false } });
    expect(summary.metrics['checks']).toMatchObject({ type: 'rate', values: { rate: 0.75 }, thresholds: { 'rate>70': true } });
    const result = k6ToLoadResult({ scenario: 'hs', summary, exitCode: 99 });
    expect(result.durationMs).toBe(1000);
    expect(result.metrics['http_reqs']).toEqual({ type: 'counter', contains: 'default', values: { count: 3, rate: 3 } });
    expect(result.metrics['my_trend']?.values).toMatchObject({ 'p(95)': 19.5, 'p(99)': 19.9, med: 15 });
    expect(result.exitCode).toBe(99);
    expect(result.thresholds.filter((t) => !t.ok).map((t) => t.metric)).toEqual(['my_trend', 'http_reqs']);
  });

  it('the same run in both formats gives the same metrics', () => {
    const legacy = k6ToLoadResult({ scenario: 'x', summary: parseK6Summary(JSON.parse(read('summary-export-legacy.json'))) });
    const data = k6ToLoadResult({ scenario: 'x', summary: parseK6Summary(JSON.parse(read('handle-summary-data.json'))) });
    for (const name of ['http_reqs', 'checks', 'vus']) expect(legacy.metrics[name]?.values).toEqual(data.metrics[name]?.values);
    expect(legacy.metrics['my_trend']?.values).toEqual(data.metrics['my_trend']?.values);
  });

  it('rejects what is not a summary', () => {
    expect(() => parseK6Summary({ nope: 1 })).toThrowError(/not a k6 summary/);
  });
});
