import { rateLimitLine } from '../../dialect/rate-limit.ts';
import { capacityHtmlSection } from '../capacity-report.ts';
import { escapeHtml, safeId } from '../escape.ts';
import {
  assertionsFailedFirst,
  bucketSeconds,
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
} from '../format.ts';
import type { FaultImpactView, FaultWindowView, RunReportModel, TimeSeriesPoint } from '../report-model.ts';
import { downsampleTimeSeries } from '../time-series.ts';
import { aiEnginesSection } from './ai-engines.ts';
import { latencyChart, throughputChart, type TimeAxis } from './charts.ts';
import { gpuSection } from './gpu-charts.ts';
import { replayFidelitySection } from '../replay-fidelity.ts';
import { eventStreamHtmlSection } from '../event-stream-view.ts';
import { serviceMapSvg } from './service-map.ts';
import { serviceColours } from './svg.ts';
import { waterfallSvg } from './waterfall.ts';

/**
 * report.html: one self-contained file (inline CSS and SVG, no script, no external
 * resource; a Content-Security-Policy forbids any), readable offline from an artifact.
 * Time series are downsampled to at most `maxChartPoints` buckets so the file stays
 * small (well under 1 MB for 10k requests).
 */
export const REPORT_HTML_FILE = 'report.html';

export interface ReportHtmlOptions {
  /** Most buckets per time chart (merged k at a time beyond that). Default 600. */
  maxChartPoints?: number;
  /** Most example traces shown as waterfalls. Default 4. */
  maxExampleTraces?: number;
  /** Shown in the footer; defaults to now. */
  generatedAt?: Date;
}

const h = escapeHtml;

const CSS = `
:root{--fg:#1d2330;--muted:#5b6475;--line:#d9dee7;--bg:#fff;--panel:#f6f8fb;--ok:#1a7f37;--bad:#c62828;--warn:#b26a00;--fault:rgba(213,94,0,.16);--fault-edge:rgba(213,94,0,.75)}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans",sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1080px;margin:0 auto;padding:18px 22px 40px}
header.run{border-bottom:1px solid var(--line);padding-bottom:12px;margin-bottom:8px}
h1{font-size:21px;margin:0 0 6px;display:flex;align-items:center;gap:12px;flex-wrap:wrap}
h2{font-size:17px;margin:28px 0 8px;padding-top:6px;border-top:1px solid var(--line)}
h3{font-size:14px;margin:16px 0 6px}
.badge{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-size:14px;letter-spacing:.06em;font-weight:700}
.badge.passed{background:var(--ok)}.badge.failed{background:var(--bad)}.badge.error{background:var(--warn)}.badge.interrupted{background:#666}
.verdict-line{font-size:15px;font-weight:600;margin:4px 0}
.facts{color:var(--muted);margin:2px 0}
.facts code,td code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(118px,1fr));gap:8px;margin:12px 0 4px}
.tile{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:6px 10px}
.tile .k{color:var(--muted);font-size:12px}.tile .v{font-size:18px;font-weight:650;white-space:nowrap}
.tile.bad .v{color:var(--bad)}.tile.ok .v{color:var(--ok)}
.errors{background:#fff4f4;border:1px solid #f1c0c0;border-radius:6px;padding:8px 12px;margin:10px 0}
nav.toc{font-size:13px;color:var(--muted);margin:8px 0}nav.toc a{margin-right:12px;color:#0b5cad;text-decoration:none}
figure{margin:8px 0 4px}figcaption{color:var(--muted);font-size:12.5px;margin-top:2px}
svg{display:block;width:100%;height:auto;font-size:11.5px;font-family:inherit}
svg text{fill:#333}
svg .axis{stroke:#888}svg .tick{stroke:#888}svg .grid{stroke:#e6e9ef}
svg .axis-title{fill:var(--muted);font-size:11px}
svg .series{stroke-width:1.8;stroke-linejoin:round}
svg .fault-window{fill:var(--fault);stroke:var(--fault-edge);stroke-width:1}
svg .fault-windows.overlay rect{pointer-events:none;fill:rgba(213,94,0,.13)}
svg .fault-window.fault-open{stroke-dasharray:5 3}
svg .fault-window-planned{fill:none;stroke:var(--fault-edge);stroke-dasharray:4 4}
svg .fault-label{fill:#8a3c00;font-weight:600}svg .fault-label.planned{fill:var(--muted);font-weight:400}
svg .hover{fill:transparent}svg .hover:hover{fill:rgba(0,0,0,.05)}
svg .bars-ok rect{fill:#7FA7C9}svg .bars-error rect{fill:#D62728}
svg .load-bars rect{pointer-events:none}svg .knee-label{fill:#222;font-weight:600}.gpu-none{border-left:4px solid var(--muted);padding-left:8px}
svg .legend{fill:#333}svg .empty{fill:var(--muted);font-style:italic}
svg .row-band{fill:#f7f8fa}
svg .span{stroke:rgba(0,0,0,.25);stroke-width:.6}
svg .span-error{stroke:#D62728;stroke-width:2.4}
svg .span-orphan{stroke:#222;stroke-width:1.4;stroke-dasharray:3 2}
svg .span-label{font-size:11.5px}svg .span-label.orphan{fill:#8a1c1c}
svg .span-dur{fill:var(--muted);font-size:11px}svg .span-dur.error{fill:#D62728;font-weight:650}svg .span-dur.inside{fill:#fff;font-weight:650}
svg .node-label{font-weight:600;font-size:12.5px}
svg .edge-label{fill:var(--muted);font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:3px}svg .edge-label.broken{fill:#D62728;font-weight:650}
.service-map{margin:0 auto}
table.data{border-collapse:collapse;width:100%;margin:6px 0 2px;font-size:13px}
table.data th,table.data td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
table.data th{background:var(--panel);font-weight:600;white-space:nowrap}
table.data td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.status{font-weight:700;white-space:nowrap}td.status.ok{color:var(--ok)}td.status.bad{color:var(--bad)}
tr.failed td{background:#fff7f7}
.legend-services{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12.5px;margin:4px 0}
.legend-services span.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.muted{color:var(--muted)}.bad{color:var(--bad)}
.table-wrap{overflow-x:auto}
footer{margin-top:30px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:8px}
@media print{nav.toc{display:none}h2{break-after:avoid}figure,svg{break-inside:avoid}}
`;

function statusCell(ok: boolean, okWord = 'ok', badWord = 'FAILED'): string {
  return `<td class="status ${ok ? 'ok' : 'bad'}">${ok ? okWord : badWord}</td>`;
}

function tile(label: string, value: string, state?: 'ok' | 'bad'): string {
  return `<div class="tile${state ? ` ${state}` : ''}"><div class="k">${h(label)}</div><div class="v">${h(value)}</div></div>`;
}

function timeAxis(model: RunReportModel, points: readonly TimeSeriesPoint[], bucketSec: number): TimeAxis {
  let maxSec = 0;
  const last = points[points.length - 1];
  if (last) maxSec = last.tSec + bucketSec;
  for (const f of model.faults) maxSec = Math.max(maxSec, f.plannedEndSec, f.endSec ?? 0, f.startSec ?? 0);
  if (model.load) maxSec = Math.max(maxSec, model.load.durationSec);
  const minSec = Math.min(0, points[0]?.tSec ?? 0);
  return { minSec, maxSec: maxSec > minSec ? maxSec : minSec + 1, bucketSec };
}

function faultWhen(start: number | null, end: number | null): string {
  if (start === null) return 'not applied';
  return `${formatOffset(start)} – ${end === null ? 'end (not removed)' : formatOffset(end)}`;
}

function recoveryText(imp: FaultImpactView): string {
  return imp.recoverySeconds === null ? '<span class="bad">not within the run</span>' : h(formatSeconds(imp.recoverySeconds));
}

function faultsTable(faults: readonly FaultWindowView[]): string {
  if (faults.length === 0) return '<p class="muted">No faults in this scenario.</p>';
  const arrow = (a: string, b: string, c: string) => `${h(a)} → <b>${h(b)}</b> → ${h(c)}`;
  const p95s = (imp: FaultImpactView) => arrow(formatMs(imp.before.p95Ms), formatMs(imp.during.p95Ms), formatMs(imp.after.p95Ms));
  const withPipeline = faults.some((f) => f.pipelineImpact);
  const rows = faults
    .map((f, i) => {
      const imp = f.impact;
      const pipe = f.pipelineImpact;
      const pipelineCells = !withPipeline
        ? ''
        : pipe
          ? `<td class="pipeline-impact"><span class="muted">detections</span> ${p95s(pipe.uploadToDetection)}<br><span class="muted">event</span> ${p95s(pipe.uploadToEvent)}</td>` +
            `<td><span class="muted">detections</span> ${recoveryText(pipe.uploadToDetection)}<br><span class="muted">event</span> ${recoveryText(pipe.uploadToEvent)}</td>`
          : '<td>n/a</td><td>n/a</td>';
      return (
        `<tr${f.error || f.startSec === null ? ' class="failed"' : ''} id="fault-${i}">` +
        `<td><b>${h(f.name)}</b><br><span class="muted">${h(f.target)} · ${h(f.faultType)}</span>${f.error ? `<br><span class="bad">error: ${h(f.error)}</span>` : ''}</td>` +
        `<td>${h(faultWhen(f.startSec, f.endSec))}<br><span class="muted">planned ${h(faultWhen(f.plannedStartSec, f.plannedEndSec))}</span></td>` +
        `<td>${h(formatMs(f.applyLagMs))} / ${h(formatMs(f.removeLagMs))}</td>` +
        `<td>${imp ? p95s(imp) : 'n/a'}</td>` +
        `<td>${imp ? arrow(formatPercent(imp.before.errorRate, 1), formatPercent(imp.during.errorRate, 1), formatPercent(imp.after.errorRate, 1)) : 'n/a'}</td>` +
        `<td>${imp ? recoveryText(imp) : 'n/a'}</td>${pipelineCells}</tr>`
      );
    })
    .join('');
  const pipelineHead = withPipeline ? '<th>pipeline p95 before → during → after</th><th>pipeline recovery</th>' : '';
  return `<div class="table-wrap"><table class="data"><thead><tr><th>fault</th><th>actual window</th><th>apply / remove lag</th><th>upload p95 before → during → after</th><th>upload errors before → during → after</th><th>upload recovery</th>${pipelineHead}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

/** The pipeline's stage latencies by upload time, on the same time axis as the load's charts. */
function pipelineSection(model: RunReportModel, axis: TimeAxis, maxPoints: number, faultNote: string): string {
  const series = model.pipelineTimeSeries;
  if (!series) return '';
  const stages = [
    { points: series.uploadToDetection, id: 'chart-pipeline-detection', what: 'upload → detections stored' },
    { points: series.uploadToEvent, id: 'chart-pipeline-event', what: 'upload → event written' },
  ];
  const figures = stages.map((stage) => {
    const { points, factor } = downsampleTimeSeries(stage.points, maxPoints);
    const bucketSec = series.bucketSec * factor;
    const last = points[points.length - 1];
    const stageAxis: TimeAxis = { minSec: Math.min(axis.minSec, points[0]?.tSec ?? 0), maxSec: Math.max(axis.maxSec, last ? last.tSec + bucketSec : 0), bucketSec };
    const chart = latencyChart(points, model.faults, stageAxis, { id: stage.id, ariaLabel: `Pipeline latency ${stage.what} over time with fault windows`, unit: 'uploads', emptyText: 'no upload traces' });
    const failed = stage.points.reduce((sum, p) => sum + p.errors, 0);
    const notes = [`p50 / p95 / p99 of ${h(stage.what)} per ${h(formatSeconds(bucketSec))} bucket of upload time`];
    if (failed > 0) notes.push(`<b>${h(formatNumber(failed))} upload(s) failed detection</b> (dead-lettered: counted, not in the percentiles)`);
    if (stage.id === 'chart-pipeline-event' && series.eventsNotTraced > 0) {
      notes.push(`${h(formatNumber(series.eventsNotTraced))} upload(s) have no event in the traces and are left out: a batch's analysis trace follows the sampling decision of the upload that opened it (the nothing-lost check reads the rows)`);
    }
    return `<h3>${h(stage.what[0]!.toUpperCase() + stage.what.slice(1))}</h3><figure>${chart}<figcaption>${notes.join('; ')}.${faultNote}</figcaption></figure>`;
  });
  return `<section id="pipeline"><h2>Pipeline latency over time</h2><p class="muted">From the sampled uploads' traces. The upload answers before detection runs, so a slow or failing AI service shows here rather than in the request latency above.</p>${figures.join('')}</section>`;
}

function thresholdsTable(model: RunReportModel): string {
  if (model.thresholds.length === 0) return '<p class="muted">No thresholds.</p>';
  const rows = thresholdsFailedFirst(model.thresholds)
    .map((t) => `<tr${t.ok ? '' : ' class="failed"'}>${statusCell(t.ok)}<td>${h(t.metric)}</td><td><code>${h(t.expression)}</code>${t.abortOnFail ? ' <span class="muted">(abortOnFail)</span>' : ''}</td><td class="num">${h(thresholdValue(t))}</td></tr>`)
    .join('');
  const empty = noSampleThresholdsLine(model.thresholds);
  return `<div class="table-wrap"><table class="data"><thead><tr><th>status</th><th>metric</th><th>expression</th><th>value</th></tr></thead><tbody>${rows}</tbody></table></div>${empty ? `<p class="muted" id="thresholds-no-samples">${h(empty)}</p>` : ''}`;
}

function assertionsTable(model: RunReportModel, traceAnchors: ReadonlySet<string>): string {
  if (model.assertions.length === 0) return '<p class="muted">No expectations were evaluated.</p>';
  const rows = assertionsFailedFirst(model.assertions)
    .map((a) => {
      const ids = a.exampleTraceIds
        .slice(0, 5)
        .map((id) => (traceAnchors.has(id) ? `<a href="#trace-${safeId(id)}"><code>${h(id)}</code></a>` : `<code>${h(id)}</code>`))
        .join('<br>');
      const more = a.exampleTraceIds.length > 5 ? `<br><span class="muted">+${a.exampleTraceIds.length - 5} more</span>` : '';
      const status = a.judged === false ? '<td class="status">not judged</td>' : statusCell(a.passed, 'passed');
      return `<tr${a.passed ? '' : ' class="failed"'}>${status}<td>${h(a.family)}</td><td>${h(a.name)}</td><td>${h(a.measured)}</td><td>${h(a.bound)}</td><td>${h(a.message)}</td><td>${ids}${more}</td></tr>`;
    })
    .join('');
  return `<div class="table-wrap"><table class="data"><thead><tr><th>status</th><th>family</th><th>check</th><th>measured</th><th>bound</th><th>message</th><th>example traces</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function operationsTable(model: RunReportModel): string {
  if (model.operations.length === 0) return '<p class="muted">No per-operation latencies recorded.</p>';
  const rows = operationsForBudgetTable(model.operations)
    .map((o) => {
      const b = o.budget;
      const status = b ? statusCell(b.ok, 'ok', 'OVER') : '<td class="status muted">–</td>';
      const budget = b ? `p${b.percentile} ≤ ${formatMs(b.maxMs)} <span class="muted">(measured ${formatMs(operationPercentile(o, b.percentile))})</span>` : '<span class="muted">none</span>';
      return `<tr${b && !b.ok ? ' class="failed"' : ''}>${status}<td>${h(o.service)}</td><td>${h(o.name)}</td><td class="num">${h(formatNumber(o.count))}</td><td class="num">${h(formatMs(o.p50Ms))}</td><td class="num">${h(formatMs(o.p90Ms))}</td><td class="num">${h(formatMs(o.p95Ms))}</td><td class="num">${h(formatMs(o.p99Ms))}</td><td>${budget}</td></tr>`;
    })
    .join('');
  return `<div class="table-wrap"><table class="data"><thead><tr><th>status</th><th>service</th><th>operation</th><th>count</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>budget</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

/** Peak GPU memory used (the capacity limit HSI hit first), or plainly "no GPU telemetry". */
function gpuTile(model: RunReportModel): string {
  const gpu = model.gpu!;
  if (!gpu.available) return tile('GPU', gpu.source);
  const f = gpu.peaks.memoryUsedFraction;
  const u = gpu.peaks.utilizationPct;
  const value = f !== null ? `${(f * 100).toFixed(1)} % mem` : u !== null ? `${u.toFixed(0)} % util` : 'see below';
  return tile('GPU peak', value, f !== null && f >= 0.95 ? 'bad' : undefined);
}

/** The key-number tiles under the verdict. */
function tilesHtml(model: RunReportModel, k: ReturnType<typeof keyNumbers>): string {
  const faultState: 'ok' | 'bad' | undefined = model.faults.some((f) => f.error || f.startSec === null) ? 'bad' : undefined;
  return [
    tile('requests', formatNumber(k.requests)),
    tile('throughput', k.reqPerSec === null ? 'n/a' : `${formatNumber(k.reqPerSec, 1)} /s`),
    tile('failed', formatPercent(k.failedRate), k.failedRate !== null && k.failedRate > 0 ? 'bad' : undefined),
    tile('p50', formatMs(k.p50Ms)),
    tile('p95', formatMs(k.p95Ms)),
    tile('p99', formatMs(k.p99Ms)),
    tile('expectations', k.assertionsTotal === 0 ? 'none' : `${k.assertionsTotal - k.assertionsFailed}/${k.assertionsTotal} ok`, k.assertionsTotal === 0 ? undefined : k.assertionsFailed > 0 ? 'bad' : 'ok'),
    tile('thresholds', k.thresholdsTotal === 0 ? 'none' : `${k.thresholdsTotal - k.thresholdsFailed}/${k.thresholdsTotal} ok`, k.thresholdsTotal === 0 ? undefined : k.thresholdsFailed > 0 ? 'bad' : 'ok'),
    tile('faults', String(model.faults.length), faultState),
    tile('duration', formatSeconds(k.durationSec)),
    ...(model.gpu ? [gpuTile(model)] : []),
  ].join('');
}

/** The run's facts line: id, times, exit code, stack, driver, defects, profile, dialect, rate limit. */
function factsHtml(model: RunReportModel): string {
  const facts = [
    `run <code>${h(model.runId)}</code>`,
    `started ${h(model.startedAt)}`,
    model.finishedAt ? `finished ${h(model.finishedAt)}` : 'not finished',
    `exit code ${model.exitCode}`,
    `stack ${h(model.stack.kind)}${model.stack.startSeconds !== undefined ? ` (started in ${h(formatSeconds(model.stack.startSeconds))})` : ''}`,
    model.load ? `load driver ${h(model.load.driver)}${model.load.droppedIterations > 0 ? `, ${h(formatNumber(model.load.droppedIterations))} iterations dropped` : ''}${model.load.sendLagMs ? `, send lag p99 ${h(formatMs(model.load.sendLagMs.p99))}` : ''}` : 'no load summary',
  ];
  if (model.stack.defects.length > 0) facts.push(`<b>injected defects: ${h(model.stack.defects.join(', '))}</b>`);
  if (model.stack.profile) facts.push(`profile: ${h(model.stack.profile)}`);
  if (model.stack.dialect) facts.push(`<span title="${h(model.stack.dialect.reason)}">dialect ${h(model.stack.dialect.name)}${model.stack.dialect.detected ? ' (detected)' : ''}</span>`);
  if (model.rateLimit) facts.push(model.rateLimit.responses429 > 0 ? `<b>${h(rateLimitLine(model.rateLimit))}</b>` : h(rateLimitLine(model.rateLimit)));
  return facts.join(' · ');
}

/** One waterfall per example trace. */
function waterfallsHtml(traces: RunReportModel['exampleTraces'], colours: ReturnType<typeof serviceColours>): string {
  if (traces.length === 0) return '<p class="muted">No example traces.</p>';
  return traces
    .map(
      (t, i) =>
        `<h3 id="trace-${safeId(t.traceId)}">${h(t.label)} <span class="muted">trace <code>${h(t.traceId)}</code>, ${t.spans.length} spans${t.spans.some((s) => s.error) ? `, ${t.spans.filter((s) => s.error).length} with error` : ''}</span></h3>` +
        `<figure>${waterfallSvg(t, i, colours)}</figure>`,
    )
    .join('');
}

export function renderReportHtml(model: RunReportModel, options: ReportHtmlOptions = {}): string {
  const maxPoints = options.maxChartPoints ?? 600;
  const maxTraces = options.maxExampleTraces ?? 4;
  const k = keyNumbers(model);
  const rawBucket = bucketSeconds(model.timeSeries);
  const { points, factor } = downsampleTimeSeries(model.timeSeries, maxPoints);
  const axis = timeAxis(model, points, rawBucket * factor);
  const traces = model.exampleTraces.slice(0, maxTraces);
  const services = new Set<string>([...model.serviceMap.flatMap((e) => [e.from, e.to]), ...traces.flatMap((t) => t.spans.map((s) => s.service))]);
  const colours = serviceColours(services);
  const traceAnchors = new Set(traces.map((t) => t.traceId));

  const tiles = tilesHtml(model, k);
  const facts = factsHtml(model);

  const errors = model.errors.length > 0 ? `<div class="errors"><b>Run errors</b><ul>${model.errors.map((e) => `<li>${h(e)}</li>`).join('')}</ul></div>` : '';
  const downsampleNote = factor > 1 ? ` Downsampled: each point merges ${factor} buckets (requests summed, percentiles = the maximum of the merged buckets).` : '';
  const faultNote = model.faults.length > 0 ? ' Shaded: fault windows at their actual start..end (dashed outline: planned but never applied).' : '';
  const legend = [...colours].map(([s, c]) => `<span><span class="sw" style="background:${c}"></span>${h(s)}</span>`).join('');

  const waterfalls = waterfallsHtml(traces, colours);

  const brokenEdges = model.serviceMap.filter((e) => e.broken);
  const title = `hsi-chaos ${model.scenario.name}: ${verdictWord(model.verdict)} (${model.runId})`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${h(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header class="run">
<h1><span>hsi-chaos · ${h(model.scenario.name)}</span><span class="badge ${model.verdict}" id="verdict">${verdictWord(model.verdict)}</span></h1>
${model.scenario.description ? `<p class="facts">${h(model.scenario.description)}</p>` : ''}
<p class="verdict-line">${h(verdictLine(model))}</p>
<p class="facts">${facts}</p>
<div class="tiles">${tiles}</div>
${errors}
<nav class="toc">${model.capacity ? '<a href="#capacity">capacity</a>' : ''}<a href="#latency">latency</a><a href="#throughput">throughput</a>${model.pipelineTimeSeries ? '<a href="#pipeline">pipeline</a>' : ''}${model.eventStream ? '<a href="#websocket">WebSocket</a>' : ''}${model.gpu ? '<a href="#gpu">GPU</a>' : ''}${model.stack.ai ? '<a href="#ai-engines">AI engines</a>' : ''}<a href="#faults">faults</a><a href="#thresholds">thresholds</a><a href="#expectations">expectations</a><a href="#operations">operations</a><a href="#traces">traces</a><a href="#map">service map</a></nav>
</header>
${model.capacity ? capacityHtmlSection(model.capacity) : ''}
<section id="latency"><h2>Latency percentiles over time</h2>
<figure>${latencyChart(points, model.faults, axis)}<figcaption>p50 / p95 / p99 of request latency per ${h(formatSeconds(axis.bucketSec))} bucket.${faultNote}${downsampleNote}</figcaption></figure></section>
<section id="throughput"><h2>Throughput and errors</h2>
<figure>${throughputChart(points, model.faults, axis)}<figcaption>Requests per second in each bucket, failed ones stacked in red.</figcaption></figure></section>
${pipelineSection(model, axis, maxPoints, faultNote)}
${eventStreamHtmlSection(model.eventStream)}
${gpuSection(model.gpu, points, model.faults, axis, maxPoints)}
${aiEnginesSection(model, axis)}
${replayFidelitySection(model.replayFidelity)}
<section id="faults"><h2>Fault windows</h2>${faultsTable(model.faults)}</section>
<section id="thresholds"><h2>Thresholds</h2>${thresholdsTable(model)}</section>
<section id="expectations"><h2>Expectations ${k.assertionsFailed > 0 ? `<span class="muted">(${k.assertionsFailed} failed, listed first)</span>` : ''}</h2>${assertionsTable(model, traceAnchors)}</section>
<section id="operations"><h2>Per-operation latency and budgets</h2>${operationsTable(model)}</section>
<section id="traces"><h2>Example traces</h2><div class="legend-services">${legend}</div>${waterfalls}
<p class="muted">Bars: start offset and duration in the trace; red outline and “error”: span with error status; dashed outline: span whose parent is not in the trace.</p></section>
<section id="map"><h2>Propagation map</h2><figure>${serviceMapSvg(model.serviceMap, colours)}<figcaption>Services and the calls between them seen in traces${brokenEdges.length > 0 ? `; <b>dashed red: ${brokenEdges.length} hop(s) that lost the trace context</b> (${brokenEdges.map((e) => `${h(e.from)} → ${h(e.to)}`).join(', ')})` : '; every hop kept the trace context'}.</figcaption></figure></section>
<footer>hsi-chaos report · schema version ${model.schemaVersion} · generated ${h((options.generatedAt ?? new Date()).toISOString())} · data: summary.json in the same folder</footer>
</main>
</body>
</html>
`;
}
