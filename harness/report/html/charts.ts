import { formatMs, formatOffset } from '../format.ts';
import type { FaultWindowView, TimeSeriesPoint } from '../report-model.ts';
import { clip, el, formatTickMs, linearScale, type LinearScale, n, niceMax, niceTicks, text, title } from './svg.ts';

/**
 * Time charts of report.html: latency percentiles (`#chart-latency`), throughput /
 * errors (`#chart-throughput`) and the pipeline's stage latencies by upload time
 * (`#chart-pipeline-detection`, `#chart-pipeline-event`), both on the same x axis (seconds since the load
 * started) with the fault windows shaded at their ACTUAL start..end
 * (`rect.fault-window`, `data-start-sec`/`data-end-sec`); a window that was never
 * applied is drawn as a dashed outline at its planned place (`rect.fault-window-planned`).
 * Ticks carry `data-value` so a test can map seconds to pixels independently.
 */
export const CHART_WIDTH = 960;
export const CHART_HEIGHT = 300;
export const MARGIN = { left: 70, right: 20, top: 58, bottom: 38 };

export interface TimeAxis {
  minSec: number;
  maxSec: number;
  /** Width of one (possibly downsampled) bucket in seconds. */
  bucketSec: number;
}

export const LATENCY_LINES = [
  { key: 'p50Ms', label: 'p50', colour: '#0072B2', cls: 'line-p50' },
  { key: 'p95Ms', label: 'p95', colour: '#E69F00', cls: 'line-p95' },
  { key: 'p99Ms', label: 'p99', colour: '#B2182B', cls: 'line-p99' },
] as const;

export function xScale(axis: TimeAxis): LinearScale {
  return linearScale([axis.minSec, axis.maxSec], [MARGIN.left, CHART_WIDTH - MARGIN.right]);
}

function axisLabel(sec: number): string {
  return `${Number.isInteger(sec) ? sec : sec.toFixed(1)} s`;
}

export function xAxis(x: LinearScale, axis: TimeAxis): string {
  const bottom = CHART_HEIGHT - MARGIN.bottom;
  let out = el('line', { class: 'axis', x1: MARGIN.left, y1: bottom, x2: CHART_WIDTH - MARGIN.right, y2: bottom });
  for (const t of niceTicks(axis.minSec, axis.maxSec, 10)) {
    const px = x(t);
    out += `<g class="x-tick" data-value="${n(t)}">${el('line', { class: 'tick', x1: px, y1: bottom, x2: px, y2: bottom + 5 })}${text(px, bottom + 18, axisLabel(t), { 'text-anchor': 'middle' })}</g>`;
  }
  out += text(CHART_WIDTH - MARGIN.right, CHART_HEIGHT - 4, 'time since load start', { 'text-anchor': 'end', class: 'axis-title' });
  return out;
}

export function yAxis(y: LinearScale, max: number, unit: (v: number) => string, name: string | null): string {
  let out = '';
  for (const v of niceTicks(0, max, 5)) {
    const py = y(v);
    out += `<g class="y-tick" data-value="${n(v)}">${el('line', { class: 'grid', x1: MARGIN.left, y1: py, x2: CHART_WIDTH - MARGIN.right, y2: py })}${text(MARGIN.left - 6, py + 4, unit(v), { 'text-anchor': 'end' })}</g>`;
  }
  if (name === null) return out;
  out += text(14, MARGIN.top + (CHART_HEIGHT - MARGIN.top - MARGIN.bottom) / 2, name, {
    class: 'axis-title',
    'text-anchor': 'middle',
    transform: `rotate(-90 14 ${n(MARGIN.top + (CHART_HEIGHT - MARGIN.top - MARGIN.bottom) / 2)})`,
  });
  return out;
}

function faultTitle(f: FaultWindowView): string {
  const actual = f.startSec === null ? 'never applied' : `${formatOffset(f.startSec)} .. ${f.endSec === null ? 'end of run (not removed)' : formatOffset(f.endSec)}`;
  const parts = [`${f.name} → ${f.target} (${f.faultType})`, `actual ${actual}`, `planned ${formatOffset(f.plannedStartSec)} .. ${formatOffset(f.plannedEndSec)}`];
  if (f.applyLagMs !== null || f.removeLagMs !== null) parts.push(`apply lag ${formatMs(f.applyLagMs)}, remove lag ${formatMs(f.removeLagMs)}`);
  if (f.error) parts.push(`error: ${f.error}`);
  return parts.join('\n');
}

/** Shaded windows plus their labels (two label rows, so neighbours do not overlap). */
export function faultWindows(x: LinearScale, faults: readonly FaultWindowView[], axis: TimeAxis, withLabels: boolean, overlay = false): string {
  const top = MARGIN.top;
  const height = CHART_HEIGHT - MARGIN.top - MARGIN.bottom;
  const rowEnds = [-Infinity, -Infinity];
  let shapes = '';
  let labels = '';
  faults.forEach((f, index) => {
    const applied = f.startSec !== null;
    const start = applied ? f.startSec! : f.plannedStartSec;
    const end = applied ? (f.endSec ?? axis.maxSec) : f.plannedEndSec;
    const x0 = x(Math.max(axis.minSec, start));
    const x1 = x(Math.min(axis.maxSec, Math.max(start, end)));
    const cls = applied ? (f.endSec === null ? 'fault-window fault-open' : 'fault-window') : 'fault-window-planned';
    shapes += el(
      'rect',
      {
        class: cls,
        'data-fault-index': index,
        'data-start-sec': applied ? n(start) : null,
        'data-end-sec': applied && f.endSec !== null ? n(f.endSec) : null,
        'data-planned-start-sec': n(f.plannedStartSec),
        'data-planned-end-sec': n(f.plannedEndSec),
        x: x0,
        y: top,
        width: Math.max(1, x1 - x0),
        height,
      },
      title(faultTitle(f)),
    );
    if (!withLabels) return;
    const label = `${f.name} → ${f.target}${applied ? '' : ' (not applied)'}${f.endSec === null && applied ? ' (not removed)' : ''}`;
    const maxChars = Math.max(8, Math.floor((CHART_WIDTH - MARGIN.right - x0) / 6.2));
    const shown = clip(label, maxChars);
    const widthPx = shown.length * 6.2;
    let row = rowEnds.findIndex((e) => e + 8 <= x0);
    if (row < 0) row = rowEnds[0]! <= rowEnds[1]! ? 0 : 1;
    rowEnds[row] = x0 + widthPx;
    labels += `<g>${title(faultTitle(f))}${text(x0 + 2, top - 8 - (1 - row) * 14, shown, { class: applied ? 'fault-label' : 'fault-label planned', 'data-fault-index': index })}</g>`;
  });
  return `<g class="fault-windows${overlay ? ' overlay' : ''}">${shapes}${labels}</g>`;
}

function linePath(points: readonly TimeSeriesPoint[], key: 'p50Ms' | 'p95Ms' | 'p99Ms', x: LinearScale, y: LinearScale, bucketSec: number): { d: string; dots: [number, number][] } {
  let d = '';
  const dots: [number, number][] = [];
  let run: [number, number][] = [];
  const flush = () => {
    if (run.length === 1) dots.push(run[0]!);
    else if (run.length > 1) d += run.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${n(px)} ${n(py)}`).join('');
    run = [];
  };
  for (const p of points) {
    const v = p[key];
    if (v === null) {
      flush();
      continue;
    }
    run.push([x(p.tSec + bucketSec / 2), y(v)]);
  }
  flush();
  return { d, dots };
}

export function legend(items: { label: string; colour: string; dashed?: boolean; box?: boolean }[]): string {
  let out = '';
  let px = CHART_WIDTH - MARGIN.right;
  for (const item of [...items].reverse()) {
    const w = 30 + item.label.length * 6.5;
    px -= w;
    out += item.box
      ? el('rect', { x: px, y: 6, width: 14, height: 10, fill: item.colour, class: 'legend-swatch' })
      : el('line', { x1: px, y1: 11, x2: px + 16, y2: 11, stroke: item.colour, 'stroke-width': 2.5, 'stroke-dasharray': item.dashed ? '4 3' : null });
    out += text(px + 20, 15, item.label, { class: 'legend' });
  }
  return `<g class="legend-group">${out}</g>`;
}

export function frame(id: string, label: string, body: string, axis: TimeAxis): string {
  return `<svg id="${id}" class="chart" viewBox="0 0 ${CHART_WIDTH} ${CHART_HEIGHT}" role="img" aria-label="${label}" data-x-min="${n(axis.minSec)}" data-x-max="${n(axis.maxSec)}" data-plot-left="${MARGIN.left}" data-plot-right="${CHART_WIDTH - MARGIN.right}" preserveAspectRatio="xMinYMin meet">${body}</svg>`;
}

/** What a latency chart shows: the upload requests (default) or a pipeline stage. */
export interface LatencyChartOptions {
  id: string;
  ariaLabel: string;
  /** Counted thing in tooltips ("req", "uploads"). */
  unit: string;
  emptyText: string;
}

const REQUEST_LATENCY: LatencyChartOptions = { id: 'chart-latency', ariaLabel: 'Latency percentiles over time with fault windows', unit: 'req', emptyText: 'no requests recorded' };

export function latencyChart(points: readonly TimeSeriesPoint[], faults: readonly FaultWindowView[], axis: TimeAxis, options: LatencyChartOptions = REQUEST_LATENCY): string {
  const x = xScale(axis);
  let maxV = 0;
  for (const p of points) for (const l of LATENCY_LINES) maxV = Math.max(maxV, p[l.key] ?? 0);
  const yMax = niceMax(maxV);
  const y = linearScale([0, yMax], [CHART_HEIGHT - MARGIN.bottom, MARGIN.top]);
  let body = yAxis(y, yMax, formatTickMs, null);
  body += faultWindows(x, faults, axis, true);
  for (const l of LATENCY_LINES) {
    const { d, dots } = linePath(points, l.key, x, y, axis.bucketSec);
    if (d) body += el('path', { class: `series ${l.cls}`, d, stroke: l.colour, fill: 'none' });
    for (const [px, py] of dots) body += el('circle', { class: `series ${l.cls}`, cx: px, cy: py, r: 2, fill: l.colour });
  }
  body += xAxis(x, axis);
  // Hover columns: a native tooltip per bucket.
  let hover = '';
  for (const p of points) {
    const x0 = x(p.tSec);
    hover += el(
      'rect',
      { x: x0, y: MARGIN.top, width: Math.max(0.5, x(p.tSec + axis.bucketSec) - x0), height: CHART_HEIGHT - MARGIN.top - MARGIN.bottom, class: 'hover' },
      title(`${formatOffset(p.tSec)}: ${p.requests} ${options.unit}${p.errors > 0 ? ` (${p.errors} failed)` : ''}, p50 ${formatMs(p.p50Ms)}, p95 ${formatMs(p.p95Ms)}, p99 ${formatMs(p.p99Ms)}`),
    );
  }
  body += `<g class="hover-columns">${hover}</g>`;
  if (points.length === 0) body += text(CHART_WIDTH / 2, CHART_HEIGHT / 2, options.emptyText, { 'text-anchor': 'middle', class: 'empty' });
  body += legend([...LATENCY_LINES.map((l) => ({ label: l.label, colour: l.colour })), { label: 'fault window', colour: 'rgba(213,94,0,0.22)', box: true }]);
  return frame(options.id, options.ariaLabel, body, axis);
}

export function throughputChart(points: readonly TimeSeriesPoint[], faults: readonly FaultWindowView[], axis: TimeAxis): string {
  const x = xScale(axis);
  const rate = (count: number) => count / axis.bucketSec;
  const maxV = points.reduce((m, p) => Math.max(m, rate(p.requests)), 0);
  const yMax = niceMax(maxV * 1.1);
  const y = linearScale([0, yMax], [CHART_HEIGHT - MARGIN.bottom, MARGIN.top]);
  let body = yAxis(y, yMax, (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)), 'requests / s');
  let ok = '';
  let bad = '';
  const base = y(0);
  for (const p of points) {
    const x0 = x(p.tSec);
    const w = Math.max(0.6, x(p.tSec + axis.bucketSec) - x0 - (axis.bucketSec > 0 && x(p.tSec + axis.bucketSec) - x0 > 3 ? 1 : 0));
    const okCount = p.requests - p.errors;
    const yOk = y(rate(okCount));
    const tip = title(`${formatOffset(p.tSec)}: ${p.requests} requests, ${p.errors} failed`);
    if (okCount > 0) ok += el('rect', { x: x0, y: yOk, width: w, height: base - yOk }, tip);
    if (p.errors > 0) {
      const yErr = y(rate(p.requests));
      bad += el('rect', { x: x0, y: yErr, width: w, height: yOk - yErr }, tip);
    }
  }
  body += `<g class="bars-ok">${ok}</g><g class="bars-error">${bad}</g>`;
  // Over the bars (translucent, not catching the mouse), so a full-height bar does not hide the window.
  body += faultWindows(x, faults, axis, true, true);
  body += xAxis(x, axis);
  if (points.length === 0) body += text(CHART_WIDTH / 2, CHART_HEIGHT / 2, 'no requests recorded', { 'text-anchor': 'middle', class: 'empty' });
  body += legend([
    { label: 'ok', colour: '#7FA7C9', box: true },
    { label: 'failed', colour: '#D62728', box: true },
    { label: 'fault window', colour: 'rgba(213,94,0,0.22)', box: true },
  ]);
  return frame('chart-throughput', 'Throughput and errors over time with fault windows', body, axis);
}
