import { displayPath } from './format.ts';
import { renderReportHtml, REPORT_HTML_FILE, type ReportHtmlOptions } from './html/report-html.ts';
import { writeJunitXml, type JunitOptions } from './junit.ts';
import type { RunReportModel } from './report-model.ts';
import type { RunResults } from '../util/run-results.ts';
import { writeSummaryJson } from './summary-json.ts';
import { writeSummaryMarkdown, type SummaryMarkdownOptions } from './summary-md.ts';

/** `report.html`, written atomically; returns its path. */
export function writeReportHtml(results: RunResults, model: RunReportModel, options: ReportHtmlOptions = {}): string {
  return results.writeTextAtomic(REPORT_HTML_FILE, renderReportHtml(model, options));
}

export interface ReportFiles {
  summaryJson: string;
  junitXml: string;
  summaryMd: string;
  reportHtml: string;
}

export interface WriteReportsOptions {
  html?: ReportHtmlOptions;
  junit?: JunitOptions;
  markdown?: SummaryMarkdownOptions;
}

/**
 * Every report of a run, from one model: report.html first (the others point at it),
 * then junit.xml and summary.md, summary.json last (it validates the model and throws
 * on a model that would not read back, after writing it).
 */
export function writeReports(results: RunResults, model: RunReportModel, options: WriteReportsOptions = {}): ReportFiles {
  const reportHtml = writeReportHtml(results, model, options.html);
  const shown = displayPath(reportHtml);
  const junitXml = writeJunitXml(results, model, { reportPath: shown, ...options.junit });
  const summaryMd = writeSummaryMarkdown(results, model, { reportLink: shown, ...options.markdown });
  const summaryJson = writeSummaryJson(results, model);
  return { summaryJson, junitXml, summaryMd, reportHtml };
}
