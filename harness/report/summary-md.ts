import { rateLimitLine } from '../dialect/rate-limit.ts';
import { capacityMarkdown } from './capacity-report.ts';
import { escapeMarkdownCell, escapeMarkdownText } from './escape.ts';
import {
  assertionsFailedFirst,
  displayPath,
  formatMs,
  formatNumber,
  formatOffset,
  formatPercent,
  formatSeconds,
  keyNumbers,
  operationPercentile,
  operationsForBudgetTable,
  thresholdsFailedFirst,
  thresholdValue,
  noSampleThresholdsLine,
  verdictLine,
  verdictWord,
} from './format.ts';
import { eventStreamLine } from './event-stream-view.ts';
import { gpuSummaryLine } from './gpu-report-view.ts';
import type { FaultImpactView, FaultWindowView, RunReportModel } from './report-model.ts';
import type { RunResults } from '../util/run-results.ts';

/**
 * `summary.md`: for `$GITHUB_STEP_SUMMARY` or a PR comment. Verdict line first, then
 * what failed, then the tables a person checks next; long tables are cut (the full
 * ones are in report.html). Status words, no emoji.
 */
export const SUMMARY_MD_FILE = 'summary.md';

export interface SummaryMarkdownOptions {
  /** Where report.html is: a URL (artifact link) or a path; defaults to `report.html`. */
  reportLink?: string;
  /** Most rows per table (failed rows always come first). Default 10. */
  maxRows?: number;
}

const code = (value: string) => (/^[\w.:/@+-]+$/.test(value) ? `\`${value}\`` : escapeMarkdownText(value));
const cell = escapeMarkdownCell;

function table(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

function cut<T>(items: readonly T[], max: number): { shown: T[]; more: number } {
  return { shown: items.slice(0, max), more: Math.max(0, items.length - max) };
}

function windowText(start: number | null, end: number | null): string {
  if (start === null) return 'not applied';
  return `${formatOffset(start)} .. ${end === null ? 'end (not removed)' : formatOffset(end)}`;
}

function lagText(f: FaultWindowView): string {
  return `${formatMs(f.applyLagMs)} / ${formatMs(f.removeLagMs)}`;
}

const p95Path = (imp: FaultImpactView) => `${formatMs(imp.before.p95Ms)} → ${formatMs(imp.during.p95Ms)} → ${formatMs(imp.after.p95Ms)}`;
const recovery = (imp: FaultImpactView) => (imp.recoverySeconds === null ? 'not within the run' : formatSeconds(imp.recoverySeconds));

/** The line of run facts under the verdict: id, start, load, exit code, stack. */
function factsLine(model: RunReportModel, durationSec: number | null): string {
  const facts = [`run ${code(model.runId)}`, `started ${escapeMarkdownText(model.startedAt)}`];
  if (durationSec !== null) facts.push(`load ${formatSeconds(durationSec)}`);
  facts.push(`exit code ${model.exitCode}`);
  if (model.stack.defects.length > 0) facts.push(`stack defects: ${escapeMarkdownText(model.stack.defects.join(', '))}`);
  if (model.stack.ai) facts.push(`AI: detector ${model.stack.ai.detector}, llm ${model.stack.ai.llm}`);
  if (model.stack.profile) facts.push(`reference-stack profile: ${model.stack.profile}`);
  if (model.stack.dialect) facts.push(`dialect ${model.stack.dialect.name}${model.stack.dialect.detected ? ' (detected)' : ''}`);
  if (model.rateLimit) facts.push(escapeMarkdownText(rateLimitLine(model.rateLimit)));
  const l = model.aiEngines?.llm;
  if (l) facts.push(`llama.cpp: ${l.tokensPerSecond.p50 ?? 'n/a'} tokens/s p50, prompt ${l.promptMs.p50 ?? 'n/a'} ms p50`);
  const d = model.aiEngines?.detector;
  if (d) facts.push(`detector inference: ${d.inferenceMs.p50 ?? 'n/a'} ms p50, ${d.inferenceMs.p95 ?? 'n/a'} ms p95`);
  return facts.join(' · ');
}

/** Load, WebSocket, GPU, capacity and run-error paragraphs. */
function overviewLines(model: RunReportModel, k: ReturnType<typeof keyNumbers>): string[] {
  const lines: string[] = [];
  if (k.requests !== null) {
    lines.push('');
    lines.push(
      `Load: ${formatNumber(k.requests)} requests, ${formatNumber(k.reqPerSec, 1)} req/s, failed ${formatPercent(k.failedRate)}, ` +
        `latency p50 ${formatMs(k.p50Ms)} · p95 ${formatMs(k.p95Ms)} · p99 ${formatMs(k.p99Ms)}` +
        (model.load && model.load.droppedIterations > 0 ? `, ${formatNumber(model.load.droppedIterations)} iterations dropped` : ''),
    );
  }
  if (model.eventStream) lines.push('', `WebSocket: ${escapeMarkdownText(eventStreamLine(model.eventStream))}`);
  if (model.gpu) lines.push('', `GPU: ${escapeMarkdownText(gpuSummaryLine(model.gpu))}`);
  if (model.capacity) lines.push(...capacityMarkdown(model.capacity));
  for (const e of model.errors.slice(0, 3)) lines.push('', `Run error: ${escapeMarkdownText(e)}`);
  return lines;
}

function expectationLines(model: RunReportModel, maxRows: number): string[] {
  const failed = assertionsFailedFirst(model.assertions).filter((a) => !a.passed);
  const unjudged = model.assertions.filter((a) => a.judged === false).map((a) => `- not judged: ${escapeMarkdownText(`${a.name}: ${a.message}`)}`);
  if (failed.length === 0) return model.assertions.length > 0 ? ['', `### Expectations: all ${model.assertions.length - unjudged.length} judged passed`, ...(unjudged.length > 0 ? ['', ...unjudged] : [])] : [];
  const { shown, more } = cut(failed, maxRows);
  const lines = ['', `### Failed expectations (${failed.length} of ${model.assertions.length})`, ''];
  lines.push(
    ...table(
      ['family', 'check', 'measured', 'bound', 'message', 'example trace'],
      shown.map((a) => [cell(a.family), cell(a.name), cell(a.measured), cell(a.bound), cell(a.message), a.exampleTraceIds[0] ? code(a.exampleTraceIds[0]) : '']),
    ),
  );
  if (more > 0) lines.push('', `… ${more} more failed in report.html`);
  return lines;
}

function thresholdLines(model: RunReportModel, maxRows: number): string[] {
  if (model.thresholds.length === 0) return [];
  const { shown, more } = cut(thresholdsFailedFirst(model.thresholds), maxRows);
  const lines = ['', '### Thresholds', ''];
  lines.push(...table(['status', 'metric', 'expression', 'value'], shown.map((t) => [t.ok ? 'ok' : '**FAILED**', cell(t.metric), cell(t.expression), cell(thresholdValue(t))])));
  const empty = noSampleThresholdsLine(model.thresholds);
  if (empty) lines.push('', escapeMarkdownText(empty));
  if (more > 0) lines.push('', `… ${more} more in report.html`);
  return lines;
}

function faultLines(model: RunReportModel): string[] {
  if (model.faults.length === 0) return [];
  return [
    '',
    '### Fault windows',
    '',
    ...table(
      ['fault', 'target', 'type', 'planned', 'actual', 'apply / remove lag', 'upload p95 before → during → after', 'upload → detections p95', 'recovery (upload / detections)'],
      model.faults.map((f) => [
        cell(f.name) + (f.error ? ` (error: ${cell(f.error)})` : ''),
        cell(f.target),
        cell(f.faultType),
        windowText(f.plannedStartSec, f.plannedEndSec),
        windowText(f.startSec, f.endSec),
        lagText(f),
        f.impact ? p95Path(f.impact) : 'n/a',
        f.pipelineImpact ? p95Path(f.pipelineImpact.uploadToDetection) : 'n/a',
        `${f.impact ? recovery(f.impact) : 'n/a'} / ${f.pipelineImpact ? recovery(f.pipelineImpact.uploadToDetection) : 'n/a'}`,
      ]),
    ),
  ];
}

function budgetLines(model: RunReportModel, maxRows: number): string[] {
  const budgeted = operationsForBudgetTable(model.operations).filter((o) => o.budget);
  if (budgeted.length === 0) return [];
  const { shown, more } = cut(budgeted, maxRows);
  const lines = ['', '### Operation budgets', ''];
  lines.push(
    ...table(
      ['status', 'service', 'operation', 'count', 'measured', 'budget'],
      shown.map((o) => {
        const b = o.budget!;
        return [b.ok ? 'ok' : '**OVER**', cell(o.service), cell(o.name), formatNumber(o.count), `p${b.percentile} ${formatMs(operationPercentile(o, b.percentile))}`, `p${b.percentile} ≤ ${formatMs(b.maxMs)}`];
      }),
    ),
  );
  if (more > 0) lines.push('', `… ${more} more in report.html`);
  return lines;
}

export function renderSummaryMarkdown(model: RunReportModel, options: SummaryMarkdownOptions = {}): string {
  const maxRows = options.maxRows ?? 10;
  const k = keyNumbers(model);
  const lines: string[] = [];
  lines.push(`## hsi-chaos ${escapeMarkdownText(model.scenario.name)}: ${verdictWord(model.verdict)}`);
  lines.push('');
  lines.push(`**${escapeMarkdownText(verdictLine(model))}**`);
  lines.push('');
  lines.push(factsLine(model, k.durationSec));
  lines.push(...overviewLines(model, k), ...expectationLines(model, maxRows), ...thresholdLines(model, maxRows), ...faultLines(model), ...budgetLines(model, maxRows));
  lines.push('');
  const link = options.reportLink ?? 'report.html';
  lines.push(/^https?:\/\//.test(link) ? `Full report: [report.html](${encodeURI(link)})` : `Full report: ${code(link)} (in the run's results folder / artifact)`);
  return `${lines.join('\n')}\n`;
}

export function writeSummaryMarkdown(results: RunResults, model: RunReportModel, options: SummaryMarkdownOptions = {}): string {
  return results.writeTextAtomic(SUMMARY_MD_FILE, renderSummaryMarkdown(model, { reportLink: displayPath(results.path('report.html')), ...options }));
}
