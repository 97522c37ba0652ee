import { hostname } from 'node:os';
import { eventStreamProperties } from './event-stream-view.ts';
import { capacityJunitCases } from './capacity-report.ts';
import { escapeXml, escapeXmlAttr } from './escape.ts';
import { displayPath, formatMs, thresholdValue, verdictWord } from './format.ts';
import type { RunReportModel } from './report-model.ts';
import type { RunResults } from '../util/run-results.ts';

/**
 * `junit.xml`: one `<testsuite name="hsi-chaos <scenario>">` inside `<testsuites>`,
 * one `<testcase>` per assertion (classname = its family) and per threshold
 * (classname `thresholds`), a `<failure message="…">` carrying the assertion's message.
 * A run that ended in error or was interrupted also gets a `run` testcase with an
 * `<error>`, so a run that checked nothing never publishes as green.
 */
export const JUNIT_FILE = 'junit.xml';

export interface JunitOptions {
  /** Shown in system-out; defaults to `<results dir>/report.html`. */
  reportPath?: string;
  hostname?: string;
}

/** JUnit timestamps: ISO 8601 in UTC without zone or fraction (the JUnit XSD's form). */
export function junitTimestamp(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return new Date(0).toISOString().slice(0, 19);
  return d.toISOString().slice(0, 19);
}

function secondsBetween(from: string, to: string | undefined): number {
  if (!to) return 0;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms > 0 ? ms / 1000 : 0;
}

interface Case {
  classname: string;
  name: string;
  failure?: { message: string; type: string; body: string };
  error?: { message: string; type: string; body: string };
  systemOut?: string;
  /** A check that could not be judged: JUnit's <skipped message>. */
  skipped?: string;
}

function casesOf(model: RunReportModel): Case[] {
  const cases: Case[] = [];
  for (const a of model.assertions) {
    const detail = [`measured: ${a.measured}`, `bound: ${a.bound}`, a.exampleTraceIds.length > 0 ? `example traces: ${a.exampleTraceIds.join(' ')}` : 'example traces: none'];
    cases.push({
      classname: a.family,
      name: a.name,
      ...(a.judged === false ? { skipped: a.message } : a.passed ? { systemOut: `${a.message}\n${detail.join('\n')}` } : { failure: { message: a.message, type: `assertion.${a.family}`, body: `${a.message}\n${detail.join('\n')}` } }),
    });
  }
  for (const t of model.thresholds) {
    const value = thresholdValue(t);
    const message = `${t.metric} ${t.expression} ${t.ok ? 'held' : 'failed'} (value ${value})${t.abortOnFail ? ', abortOnFail' : ''}`;
    cases.push({
      classname: 'thresholds',
      name: `${t.metric}: ${t.expression}`,
      ...(t.ok ? {} : { failure: { message, type: 'threshold', body: message } }),
    });
  }
  if (model.capacity) cases.push(...capacityJunitCases(model.capacity));
  if (model.verdict === 'error' || model.verdict === 'interrupted' || model.errors.length > 0) {
    const message = model.errors[0] ?? (model.verdict === 'interrupted' ? 'the run was interrupted before it finished' : `the run ended with verdict ${model.verdict}`);
    cases.push({
      classname: 'run',
      name: 'run completed',
      error: { message, type: model.verdict === 'interrupted' ? 'interrupted' : 'run-error', body: model.errors.length > 0 ? model.errors.join('\n') : message },
    });
  }
  return cases;
}

export function renderJunitXml(model: RunReportModel, options: JunitOptions = {}): string {
  const cases = casesOf(model);
  const failures = cases.filter((c) => c.failure).length;
  const errors = cases.filter((c) => c.error).length;
  const skipped = cases.filter((c) => c.skipped !== undefined).length;
  const time = secondsBetween(model.startedAt, model.finishedAt).toFixed(3);
  const timestamp = junitTimestamp(model.startedAt);
  const suiteName = `hsi-chaos ${model.scenario.name}`;
  const host = options.hostname ?? hostname();
  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(
    `<testsuites name="hsi-chaos" tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${time}" timestamp="${timestamp}">`,
  );
  out.push(
    `  <testsuite name="${escapeXmlAttr(suiteName)}" tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${time}" timestamp="${timestamp}" hostname="${escapeXmlAttr(host)}" id="0">`,
  );
  const props: [string, string][] = [
    ['run.id', model.runId],
    ['scenario', model.scenario.name],
    ['verdict', model.verdict],
    ['exit.code', String(model.exitCode)],
    ['stack.kind', model.stack.kind],
  ];
  if (model.stack.defects.length > 0) props.push(['stack.defects', model.stack.defects.join(',')]);
  if (model.stack.profile !== undefined) props.push(['stack.profile', model.stack.profile]);
  if (model.load) {
    props.push(['load.driver', model.load.driver], ['http_reqs', String(model.load.httpReqs)], ['http_req_failed.rate', String(model.load.httpReqFailedRate)]);
    props.push(['http_req_duration.p95', String(model.load.httpReqDuration.p95)]);
  }
  if (model.eventStream) props.push(...eventStreamProperties(model.eventStream));
  out.push('    <properties>');
  for (const [name, value] of props) out.push(`      <property name="${escapeXmlAttr(name)}" value="${escapeXmlAttr(value)}"/>`);
  out.push('    </properties>');
  for (const c of cases) {
    const open = `    <testcase classname="${escapeXmlAttr(c.classname)}" name="${escapeXmlAttr(c.name)}" time="0"`;
    if (!c.failure && !c.error && !c.systemOut && c.skipped === undefined) {
      out.push(`${open}/>`);
      continue;
    }
    out.push(`${open}>`);
    if (c.skipped !== undefined) out.push(`      <skipped message="${escapeXmlAttr(c.skipped)}"/>`);
    if (c.failure) out.push(`      <failure message="${escapeXmlAttr(c.failure.message)}" type="${escapeXmlAttr(c.failure.type)}">${escapeXml(c.failure.body)}</failure>`);
    if (c.error) out.push(`      <error message="${escapeXmlAttr(c.error.message)}" type="${escapeXmlAttr(c.error.type)}">${escapeXml(c.error.body)}</error>`);
    if (c.systemOut) out.push(`      <system-out>${escapeXml(c.systemOut)}</system-out>`);
    out.push('    </testcase>');
  }
  const reportPath = options.reportPath ?? 'report.html';
  const lines = [
    `hsi-chaos run ${model.runId}: ${verdictWord(model.verdict)}`,
    `scenario: ${model.scenario.name}`,
    `report: ${reportPath}`,
  ];
  if (model.load) {
    const d = model.load.httpReqDuration;
    lines.push(`load: ${model.load.httpReqs} requests, p50 ${formatMs(d.med)}, p95 ${formatMs(d.p95)}, p99 ${formatMs(d.p99)}`);
  }
  for (const e of model.errors) lines.push(`error: ${e}`);
  out.push(`    <system-out>${escapeXml(lines.join('\n'))}</system-out>`);
  out.push('  </testsuite>');
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

export function writeJunitXml(results: RunResults, model: RunReportModel, options: JunitOptions = {}): string {
  return results.writeTextAtomic(JUNIT_FILE, renderJunitXml(model, { reportPath: displayPath(results.path('report.html')), ...options }));
}
