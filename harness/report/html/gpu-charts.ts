import { gpuSummaryLine } from '../gpu-report-view.ts';
import { escapeHtml as h } from '../escape.ts';
import { formatOffset } from '../format.ts';
import type { FaultWindowView, GpuPeaksView, GpuPoint, GpuReportView, TimeSeriesPoint } from '../report-model.ts';
import { CHART_HEIGHT, CHART_WIDTH, faultWindows, frame, legend, MARGIN, type TimeAxis, xAxis, xScale, yAxis } from './charts.ts';
import { el, type LinearScale, linearScale, n, niceMax, serviceColours, text, title } from './svg.ts';

/**
 * The GPU section of report.html: utilisation (`#chart-gpu-utilization`), memory
 * (`#chart-gpu-memory`, the total dashed) and temperature (`#chart-gpu-temperature`), one
 * line per GPU, on the same time axis as the load charts, with the load (requests/s) as grey
 * bars behind, the fault windows shaded, a lost GPU marked (`line.gpu-lost-marker`) and an
 * optional capacity knee (`line.knee-marker`). Gaps (a failed read, a value the source does
 * not report) stay gaps: nothing is drawn as zero. Without a source it says "no GPU telemetry".
 */
interface GpuMetric {
  id: string;
  what: string;
  yName: string;
  value: (p: GpuPoint) => number | null;
  tick: (v: number) => string;
  fixedMax?: number;
  /** A second, dashed line per GPU (memory total). */
  total?: (p: GpuPoint) => number | null;
}

const gib = (mib: number | null) => (mib === null ? null : mib / 1024);
const trim = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

export const GPU_METRICS: readonly GpuMetric[] = [
  { id: 'chart-gpu-utilization', what: 'GPU utilisation', yName: 'utilisation %', value: (p) => p.utilizationPct, tick: (v) => `${trim(v)} %`, fixedMax: 100 },
  { id: 'chart-gpu-memory', what: 'GPU memory used', yName: 'memory (GiB)', value: (p) => gib(p.memoryUsedMiB), tick: (v) => `${trim(v)} GiB`, total: (p) => gib(p.memoryTotalMiB) },
  { id: 'chart-gpu-temperature', what: 'GPU temperature', yName: 'temperature °C', value: (p) => p.temperatureC, tick: (v) => `${trim(v)} °C` },
];

/** Segments of a line: broken at a null and at a gap longer than 3 sampling intervals (a failed read). */
function segments(points: readonly GpuPoint[], value: (p: GpuPoint) => number | null): { tSec: number; v: number }[][] {
  const dts = points.slice(1).map((p, i) => p.tSec - points[i]!.tSec).sort((a, b) => a - b);
  const maxGap = dts.length > 0 ? 3 * dts[Math.floor(dts.length / 2)]! : Infinity;
  const out: { tSec: number; v: number }[][] = [];
  let run: { tSec: number; v: number }[] = [];
  let lastT = -Infinity;
  for (const p of points) {
    const v = value(p);
    if (v === null || p.tSec - lastT > maxGap) {
      if (run.length > 0) out.push(run);
      run = [];
    }
    if (v !== null) run.push({ tSec: p.tSec, v });
    lastT = p.tSec;
  }
  if (run.length > 0) out.push(run);
  return out;
}

function lines(series: GpuReportView['series'], colours: Map<string, string>, x: LinearScale, y: LinearScale, metric: GpuMetric, pick: (p: GpuPoint) => number | null, dashed: boolean): string {
  let out = '';
  for (const s of series) {
    const colour = colours.get(String(s.index)) ?? '#0072B2';
    const label = `GPU ${s.index}${s.name ? ` ${s.name}` : ''}${dashed ? ' total' : ''}`;
    for (const seg of segments(s.points, pick)) {
      const attrs = { class: `series gpu-line${dashed ? ' gpu-memory-total' : ''}`, 'data-gpu-index': s.index, stroke: colour, fill: 'none', 'stroke-dasharray': dashed ? '6 4' : null };
      if (seg.length === 1) {
        out += el('circle', { ...attrs, cx: x(seg[0]!.tSec), cy: y(seg[0]!.v), r: 2.5, fill: colour }, title(`${label}: ${metric.tick(seg[0]!.v)} at ${formatOffset(seg[0]!.tSec)}`));
        continue;
      }
      const d = seg.map((p, i) => `${i === 0 ? 'M' : 'L'}${n(x(p.tSec))} ${n(y(p.v))}`).join('');
      out += el('path', { ...attrs, d }, title(label));
    }
  }
  return out;
}

/** The load behind the lines: requests/s per bucket, scaled to the plot's height. */
function loadBars(points: readonly TimeSeriesPoint[], axis: TimeAxis, x: LinearScale): string {
  const rate = (p: TimeSeriesPoint) => p.requests / axis.bucketSec;
  const maxRate = points.reduce((m, p) => Math.max(m, rate(p)), 0);
  if (maxRate <= 0) return '';
  const y = linearScale([0, niceMax(maxRate)], [CHART_HEIGHT - MARGIN.bottom, MARGIN.top]);
  let bars = '';
  for (const p of points) {
    if (p.requests === 0) continue;
    const x0 = x(p.tSec);
    bars += el('rect', { x: x0, y: y(rate(p)), width: Math.max(0.6, x(p.tSec + axis.bucketSec) - x0), height: y(0) - y(rate(p)) }, title(`${formatOffset(p.tSec)}: ${trim(rate(p))} requests/s`));
  }
  const label = text(CHART_WIDTH - MARGIN.right, MARGIN.top - 4, `load: ${trim(niceMax(maxRate))} req/s at the top`, { 'text-anchor': 'end', class: 'axis-title' });
  return `<g class="load-bars" fill="#B8B8B8" fill-opacity="0.35">${bars}</g>${label}`;
}

function markers(view: GpuReportView, axis: TimeAxis, x: LinearScale): string {
  const inside = (t: number) => t >= axis.minSec && t <= axis.maxSec;
  let out = '';
  for (const l of view.lost.filter((m) => inside(m.atSec))) {
    out += el('line', { class: 'gpu-lost-marker', 'data-t-sec': n(l.atSec), x1: x(l.atSec), x2: x(l.atSec), y1: MARGIN.top, y2: CHART_HEIGHT - MARGIN.bottom, stroke: '#B2182B', 'stroke-width': 2 }, title(`GPU ${l.index}${l.name ? ` (${l.name})` : ''} lost at ${formatOffset(l.atSec)}`));
  }
  const knee = view.knee;
  if (knee && inside(knee.tSec)) {
    const px = x(knee.tSec);
    out += el('line', { class: 'knee-marker', 'data-t-sec': n(knee.tSec), x1: px, x2: px, y1: MARGIN.top, y2: CHART_HEIGHT - MARGIN.bottom, stroke: '#222', 'stroke-width': 1.5, 'stroke-dasharray': '3 3' }, title(`capacity knee: ${knee.label}`));
    out += text(px + 4, MARGIN.top + 12, `knee: ${knee.label}`, { class: 'knee-label' });
  }
  return out;
}

export function gpuChart(metric: GpuMetric, view: GpuReportView, load: readonly TimeSeriesPoint[], faults: readonly FaultWindowView[], axis: TimeAxis): string {
  const x = xScale(axis);
  let maxV = 0;
  for (const s of view.series) for (const p of s.points) maxV = Math.max(maxV, metric.value(p) ?? 0, metric.total?.(p) ?? 0);
  const yMax = metric.fixedMax ?? niceMax(maxV * 1.05);
  const y = linearScale([0, yMax], [CHART_HEIGHT - MARGIN.bottom, MARGIN.top]);
  const colours = serviceColours(view.series.map((s) => String(s.index)));
  let body = loadBars(load, axis, x);
  body += yAxis(y, yMax, metric.tick, metric.yName);
  body += faultWindows(x, faults, axis, false, true);
  body += lines(view.series, colours, x, y, metric, metric.value, false);
  if (metric.total) body += lines(view.series, colours, x, y, metric, metric.total, true);
  body += markers(view, axis, x);
  body += xAxis(x, axis);
  const items: Parameters<typeof legend>[0] = view.series.map((s) => ({ label: `GPU ${s.index}`, colour: colours.get(String(s.index)) ?? '#0072B2' }));
  if (metric.total) items.push({ label: 'total', colour: '#666', dashed: true });
  items.push({ label: 'load', colour: '#D0D0D0', box: true });
  body += legend(items);
  return frame(metric.id, `${metric.what} over time with the load and fault windows`, body, axis);
}

function peakCell(v: number | null, fmt: (v: number) => string): string {
  return v === null ? '<td class="num muted">not reported</td>' : `<td class="num">${h(fmt(v))}</td>`;
}

function peaksTable(view: GpuReportView): string {
  const row = (label: string, p: GpuPeaksView) =>
    `<tr><td>${h(label)}</td>${peakCell(p.utilizationPct, (v) => `${v.toFixed(0)} %`)}${peakCell(p.memoryUsedMiB, (v) => `${(v / 1024).toFixed(2)} GiB`)}${peakCell(p.memoryTotalMiB, (v) => `${(v / 1024).toFixed(2)} GiB`)}${peakCell(p.memoryUsedFraction, (v) => `${(v * 100).toFixed(1)} %`)}${peakCell(p.temperatureC, (v) => `${v.toFixed(0)} °C`)}${peakCell(p.powerW, (v) => `${v.toFixed(0)} W`)}</tr>`;
  const rows = view.perGpu.map((g) => row(`GPU ${g.index}${g.name ? ` ${g.name}` : ''}`, g)).join('') + (view.perGpu.length > 1 ? row('all GPUs', view.peaks) : '');
  return `<div class="table-wrap"><table class="data" id="gpu-peaks"><thead><tr><th>GPU</th><th>peak utilisation</th><th>peak memory used</th><th>memory total</th><th>peak memory used fraction</th><th>peak temperature</th><th>peak power</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

/** Points merged `k` at a time, each value the maximum (peaks stay visible). */
export function downsampleGpuPoints(points: readonly GpuPoint[], maxPoints: number): GpuPoint[] {
  if (points.length <= maxPoints || maxPoints < 1) return [...points];
  const k = Math.ceil(points.length / maxPoints);
  const maxOf = (group: GpuPoint[], key: Exclude<keyof GpuPoint, 'tSec'>) => group.reduce<number | null>((m, p) => (p[key] === null ? m : m === null ? p[key] : Math.max(m, p[key])), null);
  const out: GpuPoint[] = [];
  for (let i = 0; i < points.length; i += k) {
    const g = points.slice(i, i + k);
    out.push({ tSec: g[0]!.tSec, utilizationPct: maxOf(g, 'utilizationPct'), memoryUsedMiB: maxOf(g, 'memoryUsedMiB'), memoryTotalMiB: maxOf(g, 'memoryTotalMiB'), temperatureC: maxOf(g, 'temperatureC'), powerW: maxOf(g, 'powerW') });
  }
  return out;
}

export function gpuSection(view: GpuReportView | undefined, load: readonly TimeSeriesPoint[], faults: readonly FaultWindowView[], axis: TimeAxis, maxPoints: number): string {
  if (!view) return '';
  if (!view.available) {
    const tried = view.tried.length === 0 ? '<li>no source was configured</li>' : view.tried.map((t) => `<li>${h(t.source)}: ${h(t.reason)}</li>`).join('');
    return `<section id="gpu"><h2>GPU telemetry</h2><p id="gpu-none" class="gpu-none"><b>${h(view.source)}</b>: no source answered with a GPU, so nothing is charted (no zeros are shown for values never measured). Sources tried in HSI's fallback order:</p><ul class="gpu-tried">${tried}</ul></section>`;
  }
  // The load charts' axis exactly, so a second here is the same second there; samples outside it are left out.
  const inside = (p: GpuPoint) => p.tSec >= axis.minSec && p.tSec <= axis.maxSec;
  const shown: GpuReportView = { ...view, series: view.series.map((s) => ({ ...s, points: downsampleGpuPoints(s.points.filter(inside), maxPoints) })) };
  const figures = GPU_METRICS.map((m) => `<h3>${h(m.what)}</h3><figure>${gpuChart(m, shown, load, faults, axis)}</figure>`).join('');
  return `<section id="gpu"><h2>GPU telemetry</h2><p id="gpu-source">${h(gpuSummaryLine(view))}</p>${peaksTable(view)}${figures}<p class="muted">Grey bars: the load in requests/s (scale at the top right); shaded: fault windows; a gap in a line: a failed read or a value the source does not report.</p></section>`;
}
