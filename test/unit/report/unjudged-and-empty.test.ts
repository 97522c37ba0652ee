import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { noSampleThresholdsLine } from '../../../harness/report/format.ts';
import { renderReportHtml } from '../../../harness/report/html/report-html.ts';
import { renderJunitXml } from '../../../harness/report/junit.ts';
import type { RunReportModel } from '../../../harness/report/report-model.ts';
import { readRunReport } from '../../../harness/report/report-schema.ts';
import { RunResults } from '../../../harness/util/run-results.ts';
import { writeSummaryJson } from '../../../harness/report/summary-json.ts';
import { renderSummaryMarkdown } from '../../../harness/report/summary-md.ts';
import { makeModel } from './fixture-model.ts';
import { findAll, parseXml } from './tiny-xml.ts';

/**
 * Two verdict states a report must never show as a plain pass: a check that could not be judged
 * (the settings in effect on an external stack are unknown) and a threshold whose metric had no
 * sample (evaluated as k6 does, on an empty metric). Every output names them.
 */
function model(): RunReportModel {
  const base = makeModel({ verdict: 'passed', exitCode: 0 });
  return {
    ...base,
    thresholds: [
      { metric: 'http_reqs', expression: 'count>0', ok: true, value: 40 },
      { metric: 'ws_event_latency', expression: 'p(95)<1000', ok: true, value: 0, noSamples: true },
      { metric: 'checks', expression: 'rate>0.9', ok: true, noSamples: true },
    ],
    assertions: [
      { family: 'span-tree', name: 'span tree: hsi upload', passed: true, measured: '40 traces', bound: '1 tree', message: 'ok', exampleTraceIds: [] },
      {
        family: 'errors',
        name: 'resilience: detector circuit breaker',
        passed: true,
        judged: false,
        measured: 'not judged',
        bound: 'not judged',
        message: 'not judged: detector circuit breaker: DETECTOR_CB_FAILURE_THRESHOLD and DETECTOR_CB_RECOVERY_SECONDS in effect are unknown (the external stack does not report its settings)',
        exampleTraceIds: [],
      },
    ],
  };
}

const EMPTY_LINE = '2 of 3 thresholds had no samples, evaluated as k6 does on an empty metric (a trend reads 0, a rate has no value and passes): ws_event_latency: p(95)<1000; checks: rate>0.9';

describe('not judged and no samples, in every output', () => {
  it('one line names every threshold without samples', () => {
    expect(noSampleThresholdsLine(model().thresholds)).toBe(EMPTY_LINE);
    expect(noSampleThresholdsLine(model().thresholds.slice(0, 1))).toBeUndefined();
  });

  it('JUnit: the unjudged check is <skipped> (counted), never a passing case; the empty thresholds say "no samples"', () => {
    const suite = findAll(parseXml(renderJunitXml(model())), 'testsuite')[0]!;
    expect(suite.attrs['skipped']).toBe('1');
    const unjudged = findAll(suite, 'testcase').find((c) => c.attrs['name'] === 'resilience: detector circuit breaker')!;
    expect(findAll(unjudged, 'skipped')[0]!.attrs['message']).toMatch(/^not judged: detector circuit breaker: /);
    expect(findAll(suite, 'testcase').filter((c) => c.attrs['classname'] === 'thresholds').map((c) => c.attrs['name'])).toContain('ws_event_latency: p(95)<1000');
  });

  it('summary.md and report.html name both', () => {
    const md = renderSummaryMarkdown(model());
    expect(md).toContain('### Expectations: all 1 judged passed');
    expect(md).toContain('- not judged: resilience: detector circuit breaker: not judged: detector circuit breaker:');
    expect(md).toContain('| ok | ws_event_latency | p(95)&lt;1000 | no samples (read as 0) |');
    expect(md).toContain('2 of 3 thresholds had no samples');
    const html = renderReportHtml(model());
    expect(html).toContain('<td class="status">not judged</td>');
    expect(html).toContain('<p class="muted" id="thresholds-no-samples">2 of 3 thresholds had no samples');
  });

  it('summary.json keeps both through `report RUN` (schema round trip)', () => {
    const results = new RunResults(mkdtempSync(join(tmpdir(), 'hsi-unjudged-')), 'run');
    writeSummaryJson(results, model());
    const back = readRunReport(results.dir);
    expect(back.assertions[1]).toMatchObject({ judged: false, passed: true });
    expect(back.thresholds.map((t) => t.noSamples)).toEqual([undefined, true, true]);
  });
});
