import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../harness/errors.ts';
import { renderReportHtml } from '../../../harness/report/html/report-html.ts';
import { renderJunitXml } from '../../../harness/report/junit.ts';
import type { RunReportModel } from '../../../harness/report/report-model.ts';
import { readRunReport } from '../../../harness/report/report-schema.ts';
import { RunResults } from '../../../harness/util/run-results.ts';
import { writeSummaryJson } from '../../../harness/report/summary-json.ts';
import { renderSummaryMarkdown } from '../../../harness/report/summary-md.ts';
import { downsampleTimeSeries, timeSeriesFromSamples } from '../../../harness/report/time-series.ts';
import { writeReports } from '../../../harness/report/write-reports.ts';
import { generateSamples, loadOf, makeModel } from './fixture-model.ts';
import { findAll, parseXml } from './tiny-xml.ts';

const roots: string[] = [];
function tempResults(runId = 'run-test'): RunResults {
  const root = mkdtempSync(join(tmpdir(), 'hsi-report-'));
  roots.push(root);
  return new RunResults(root, runId);
}
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const NASTY = 'hop <POST /detect> & "quoted" \'single\' | pipe *star* `tick`';

function nastyModel(): RunReportModel {
  const model = makeModel();
  model.scenario = { name: 'steady <&"> fault' };
  model.assertions = [
    { ...model.assertions[1]!, family: 'propagation<&"', name: NASTY, message: `broken: ${NASTY}\nsecond line\u0001` },
    ...model.assertions.slice(2),
  ];
  model.thresholds = [{ metric: 'http_req_duration{name:"a<b"}', expression: 'p(95)<2000 && x>1', ok: false, value: 2500 }];
  return model;
}

describe('the fixture model', () => {
  it('is realistic: ~300 time-series points, 2 fault windows, failing and passing checks, 2 traces, a broken edge', () => {
    const m = makeModel();
    expect(m.timeSeries.length).toBe(300);
    expect(m.faults).toHaveLength(2);
    expect(m.assertions.some((a) => a.passed) && m.assertions.some((a) => !a.passed)).toBe(true);
    expect(m.exampleTraces).toHaveLength(2);
    expect(m.serviceMap.filter((e) => e.broken)).toHaveLength(1);
  });
});

describe('writeReports', () => {
  it('writes the four files; summary.json reads back as the same model', () => {
    const results = tempResults();
    const model = makeModel();
    const files = writeReports(results, model);
    for (const f of Object.values(files)) expect(readFileSync(f, 'utf8').length).toBeGreaterThan(100);
    expect(readRunReport(results.dir)).toEqual(JSON.parse(JSON.stringify(model)));
    expect(readRunReport(files.summaryJson).runId).toBe(model.runId);
  });

  it('summary.json: a model that would not read back is still written, then reported as a bug naming the field', () => {
    const results = tempResults();
    const model = makeModel();
    model.timeSeries[3]!.requests = Number.NaN;
    expect(() => writeSummaryJson(results, model)).toThrow(/summary\.json: timeSeries\.3\.requests: /);
    expect(readFileSync(results.path('summary.json'), 'utf8')).toContain(model.runId);
  });
});

describe('junit.xml', () => {
  it('parses as XML; one testsuite; a testcase per assertion and per threshold; failures match', () => {
    const model = makeModel();
    const xml = renderJunitXml(model, { reportPath: 'results/run-x/report.html', hostname: 'ci' });
    const root = parseXml(xml);
    expect(root.name).toBe('testsuites');
    const suites = findAll(root, 'testsuite');
    expect(suites).toHaveLength(1);
    const suite = suites[0]!;
    expect(suite.attrs['name']).toBe('hsi-chaos steady-detector-fault');
    const cases = findAll(suite, 'testcase');
    expect(cases).toHaveLength(model.assertions.length + model.thresholds.length);
    const failures = findAll(suite, 'failure');
    const expectedFailures = model.assertions.filter((a) => !a.passed).length + model.thresholds.filter((t) => !t.ok).length;
    expect(failures).toHaveLength(expectedFailures);
    expect(suite.attrs['tests']).toBe(String(cases.length));
    expect(suite.attrs['failures']).toBe(String(expectedFailures));
    expect(suite.attrs['errors']).toBe('0');
    expect(suite.attrs['timestamp']).toBe('2026-11-24T08:30:00');
    expect(suite.attrs['time']).toBe('372.500');
    // classname = family, or thresholds; failure message = the assertion's message.
    const failedAssertion = model.assertions.find((a) => !a.passed)!;
    const tc = cases.find((c) => c.attrs['name'] === failedAssertion.name)!;
    expect(tc.attrs['classname']).toBe(failedAssertion.family);
    expect(findAll(tc, 'failure')[0]!.attrs['message']).toBe(failedAssertion.message);
    expect(cases.filter((c) => c.attrs['classname'] === 'thresholds')).toHaveLength(model.thresholds.length);
    const out = suite.children.filter((c) => c.name === 'system-out').map((c) => c.text).join('\n');
    expect(out).toContain(model.runId);
    expect(out).toContain('results/run-x/report.html');
  });

  it('escapes <&"\' in names, messages and the suite name; drops characters XML forbids', () => {
    const model = nastyModel();
    const xml = renderJunitXml(model);
    expect(xml).toContain('hop &lt;POST /detect&gt; &amp; &quot;quoted&quot; &apos;single&apos;');
    expect(xml).not.toContain('\u0001');
    const suite = findAll(parseXml(xml), 'testsuite')[0]!;
    expect(suite.attrs['name']).toBe('hsi-chaos steady <&"> fault');
    const tc = findAll(suite, 'testcase').find((c) => c.attrs['name'] === NASTY)!;
    expect(tc.attrs['classname']).toBe('propagation<&"');
    const failure = findAll(tc, 'failure')[0]!;
    expect(failure.attrs['message']).toBe(`broken: ${NASTY}\nsecond line\uFFFD`);
    expect(findAll(suite, 'testcase').find((c) => c.attrs['classname'] === 'thresholds')!.attrs['name']).toBe('http_req_duration{name:"a<b"}: p(95)<2000 && x>1');
  });

  it('a run that ended in error publishes an error testcase, never an empty green suite', () => {
    const model = makeModel({ verdict: 'error', exitCode: 2, assertions: [], thresholds: [], errors: ['stack did not start: Jaeger not ready after 60 s'] });
    const suite = findAll(parseXml(renderJunitXml(model)), 'testsuite')[0]!;
    expect(suite.attrs['tests']).toBe('1');
    expect(suite.attrs['errors']).toBe('1');
    expect(findAll(suite, 'error')[0]!.attrs['message']).toBe('stack did not start: Jaeger not ready after 60 s');
  });
});

describe('summary.md', () => {
  it('verdict first, then the failed expectations, then thresholds, faults, budgets, the report path', () => {
    const md = renderSummaryMarkdown(makeModel(), { reportLink: 'results/run-x/report.html' });
    const lines = md.split('\n');
    expect(lines[0]).toBe('## hsi-chaos steady-detector-fault: FAILED');
    expect(lines[2]).toMatch(/^\*\*FAILED: 2 of 7 expectations failed, 1 of 3 thresholds failed, 1 of 4 operation budgets exceeded\*\*$/);
    const order = ['### Failed expectations', '### Thresholds', '### Fault windows', '### Operation budgets', 'Full report:'].map((h) => md.indexOf(h));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // The first table row after the header is a failed expectation.
    const firstTable = lines.findIndex((l) => l.startsWith('### Failed expectations'));
    expect(lines[firstTable + 4]).toMatch(/^\| latency \| budget: detection_processing p95 \|/);
    expect(lines[firstTable + 5]).toMatch(/^\| propagation \| hop: http: nemotron-backend → ai-yolo26-emulator \|/);
    // Fault windows: actual times and lags.
    expect(md).toContain('| detector-slow | detector | latency | 60 s .. 120 s | 60.4 s .. 120.3 s | 412 ms / 296 ms | 231 ms → 1480 ms → 245 ms | 640 ms → 2100 ms → 655 ms | 6 s / 9 s |');
    expect(md).toContain('`results/run-x/report.html`');
    expect(md).not.toMatch(/\p{Extended_Pictographic}/u);
    expect(lines.length).toBeLessThan(60);
  });

  it('escapes table cells and HTML', () => {
    const md = renderSummaryMarkdown(nastyModel());
    expect(md).toContain('hop &lt;POST /detect&gt; &amp; "quoted" \'single\' \\| pipe \\*star\\* \\`tick\\`');
    expect(md).not.toContain('<POST');
    for (const line of md.split('\n').filter((l) => l.startsWith('| propagation'))) {
      expect(line.split(/(?<!\\)\|/).length).toBe(8); // 6 cells
    }
  });
});

describe('report.html', () => {
  it('is self-contained and escapes names from traces', () => {
    const html = renderReportHtml(makeModel());
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)="(?!#)/);
    expect(html).not.toMatch(/url\((?!#)/);
    expect(html).toContain('yolo26.inference &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('id="chart-latency"');
    expect(html).toContain('id="chart-pipeline-detection"');
    expect(html).toContain('id="chart-pipeline-event"');
    expect(html.match(/<b>\d+ upload\(s\) failed detection<\/b>/g)).toEqual(['<b>30 upload(s) failed detection</b>']); // the fixture's dead-lettered uploads
    expect(html).toContain('7 upload(s) have no event in the traces');
    expect(html.match(/class="fault-window"/g)).toHaveLength(8); // 2 windows × 4 charts (latency, throughput, 2 pipeline stages)
    // Without traces (no evaluator, older reports) there is no pipeline section.
    const bare = renderReportHtml(makeModel({ pipelineTimeSeries: undefined }));
    expect(bare).not.toContain('id="pipeline"');
    expect(bare.match(/class="fault-window"/g)).toHaveLength(4);
    expect(html).toContain('class="edge edge-broken"');
    expect(html.match(/class="waterfall"/g)).toHaveLength(2);
  });

  it('escapes scenario, assertion and threshold names', () => {
    const html = renderReportHtml(nastyModel());
    expect(html).toContain('steady &lt;&amp;&quot;&gt; fault');
    expect(html).toContain('hop &lt;POST /detect&gt; &amp; &quot;quoted&quot; &#39;single&#39;');
    expect(html).not.toContain('<POST');
  });

  it('stays under 1 MB for 10k requests, downsampling long series', () => {
    const samples = generateSamples({ seed: 'big', seconds: 1000, perSecond: 10 });
    const model = makeModel({ timeSeries: timeSeriesFromSamples(samples, 1000), load: loadOf(samples, 1000) });
    const html = renderReportHtml(model);
    expect(Buffer.byteLength(html)).toBeLessThan(1_000_000);
    expect(html).toContain('each point merges 2 buckets');
    // Even 20 000 buckets (e.g. 50 ms buckets over 1000 s) stay small.
    const fine = timeSeriesFromSamples(samples, 50);
    expect(fine.length).toBeGreaterThan(19_990);
    expect(Buffer.byteLength(renderReportHtml(makeModel({ timeSeries: fine })))).toBeLessThan(1_000_000);
  });

  it('renders a run that ended before anything was collected', () => {
    const model = makeModel({ verdict: 'error', exitCode: 2, load: undefined, timeSeries: [], thresholds: [], faults: [], assertions: [], operations: [], exampleTraces: [], serviceMap: [], errors: ['stack did not start'] });
    const html = renderReportHtml(model);
    expect(html).toContain('no requests recorded');
    expect(html).toContain('no service edges recorded');
    expect(html).toContain('<li>stack did not start</li>');
    expect(html).not.toContain('NaN');
    expect(renderSummaryMarkdown(model).split('\n')[2]).toBe('**ERROR: 1 run error: stack did not start**');
  });

  it('draws a window never applied (planned, dashed) and one never removed (to the end), a cycle and a self-call in the map', () => {
    const model = makeModel();
    model.faults = [
      { ...model.faults[0]!, startSec: null, endSec: null, applyLagMs: null, removeLagMs: null, error: 'toxiproxy: 500' },
      { ...model.faults[1]!, endSec: null, removeLagMs: null },
    ];
    model.serviceMap = [...model.serviceMap, { from: 'redis', to: 'nemotron-backend', calls: 3, broken: false }, { from: 'postgres', to: 'postgres', calls: 1, broken: false }];
    const html = renderReportHtml(model);
    expect(html).not.toContain('NaN');
    const latency = html.slice(html.indexOf('id="chart-latency"'), html.indexOf('id="chart-throughput"'));
    expect(latency.match(/class="fault-window-planned"/g)).toHaveLength(1);
    expect(latency).toMatch(/class="fault-window fault-open" data-fault-index="1" data-start-sec="180.2" data-planned-start-sec/);
    expect(latency).toContain('detector-slow → detector (not applied)');
    expect(latency).toContain('redis-down → redis (not removed)');
    expect(html.match(/class="service-node"/g)).toHaveLength(5);
    expect(renderSummaryMarkdown(model)).toContain('| 60 s .. 120 s | not applied |');
  });

  it('downsampling sums counts and keeps the peaks', () => {
    const points = timeSeriesFromSamples(generateSamples({ seed: 'd' }), 1000);
    const { points: down, factor } = downsampleTimeSeries(points, 100);
    expect(factor).toBe(3);
    expect(down).toHaveLength(100);
    expect(down.reduce((s, p) => s + p.requests, 0)).toBe(3000);
    expect(Math.max(...down.map((p) => p.p99Ms ?? 0))).toBe(Math.max(...points.map((p) => p.p99Ms ?? 0)));
  });
});

describe('readRunReport', () => {
  function writeSummary(value: unknown, raw?: string): string {
    const results = tempResults('run-bad');
    writeFileSync(results.path('summary.json'), raw ?? JSON.stringify(value));
    return results.dir;
  }

  it('rejects a bad field with one line naming the file and the field', () => {
    const model = JSON.parse(JSON.stringify(makeModel())) as Record<string, unknown> & { timeSeries: Record<string, unknown>[] };
    model.timeSeries[3]!['requests'] = 'many';
    const dir = writeSummary(model);
    let error: unknown;
    try {
      readRunReport(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toMatch(new RegExp(`^${join(dir, 'summary.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: timeSeries\\.3\\.requests: `));
  });

  it('names the field for an unknown verdict', () => {
    const model = { ...JSON.parse(JSON.stringify(makeModel())), verdict: 'green' } as unknown;
    expect(() => readRunReport(writeSummary(model))).toThrow(/summary\.json: verdict: /);
  });

  it('rejects an old or newer file by its schemaVersion, the first main job summary by its kind', () => {
    const model = JSON.parse(JSON.stringify(makeModel())) as Record<string, unknown>;
    expect(() => readRunReport(writeSummary({ ...model, schemaVersion: 0 }))).toThrow(/summary\.json: schemaVersion: 0 is an older report format; this hsi-chaos reads version 1 \(re-run the baseline\)$/);
    expect(() => readRunReport(writeSummary({ ...model, schemaVersion: 2 }))).toThrow(/schemaVersion: 2 is a newer or unknown report format/);
    expect(() => readRunReport(writeSummary({ schemaVersion: 1, kind: 'upload-trace-check', runId: 'r', status: 'passed' }))).toThrow(/summary\.json: kind: "upload-trace-check" is the first main job's summary/);
    const { schemaVersion: _drop, ...noVersion } = model;
    expect(() => readRunReport(writeSummary(noVersion))).toThrow(/summary\.json: schemaVersion: missing/);
  });

  it('says what is wrong with a missing folder, a missing file, or broken JSON', () => {
    expect(() => readRunReport('/nonexistent/results/run-x')).toThrow(/^\/nonexistent\/results\/run-x: no such run folder/);
    const empty = tempResults('run-empty');
    expect(() => readRunReport(empty.dir)).toThrow(/summary\.json: not found/);
    expect(() => readRunReport(writeSummary(null, '{"schemaVersion": 1,'))).toThrow(/summary\.json: not valid JSON/);
  });
});
