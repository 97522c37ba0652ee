import { escapeHtml as h } from './escape.ts';
import { el, linearScale, text, title } from './html/svg.ts';
import type { CapacityResult, CapacityStep, SloResult } from '../capacity/capacity-types.ts';

/**
 * What the run report (summary.json, report.html, summary.md, JUnit) shows of a capacity
 * search: the knee and what limited it, a throughput–latency chart of the steps with the
 * knee and the model's prediction marked, per-stage utilisation at the knee, and one JUnit
 * case per SLO at the knee. The report writers call these; the search fills the model
 * (harness/capacity/ computes, this file only renders: the report imports the capacity types, never
 * the other way).
 */
const fmt = (v: number | null | undefined, digits = 2) => (v === null || v === undefined ? 'n/a' : v.toFixed(digits));
const ms = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : `${v.toFixed(0)} ms`);

/** The step whose SLOs the JUnit cases and the table show: the highest that held, else the lowest that failed. */
export function kneeStep(r: CapacityResult): CapacityStep | undefined {
  const held = r.steps.filter((s) => s.sustained).sort((a, b) => b.uploadsPerSec - a.uploadsPerSec)[0];
  return held ?? [...r.steps].sort((a, b) => a.uploadsPerSec - b.uploadsPerSec)[0];
}

function lastP95(s: CapacityStep): number | null {
  return s.windows[s.windows.length - 1]?.detectP95Ms ?? null;
}

export function kneeLine(r: CapacityResult): string {
  const k = r.knee;
  const knee = k.uploadsPerSec === null ? 'no load held' : `${fmt(k.uploadsPerSec)} uploads/s = ${k.cameras} cameras at ${r.settings.fps} fps`;
  const limit = k.limitedBy.length > 0 ? `; limited by ${k.limitedBy.join(', ')}` : '';
  const bottleneck = k.bottleneck ? `; bottleneck ${k.bottleneck}` : '';
  return `Capacity: ${knee} (${k.kind})${limit}${bottleneck}. ${r.perGpu.statement}.`;
}

// ---- JUnit: one case per SLO at the knee ----

export interface CapacityCase {
  classname: string;
  name: string;
  failure?: { message: string; type: string; body: string };
  systemOut?: string;
}

export function capacityJunitCases(r: CapacityResult): CapacityCase[] {
  const step = kneeStep(r);
  const cases: CapacityCase[] = [];
  for (const slo of step?.slos ?? []) {
    const message = `${slo.name} at ${fmt(step!.uploadsPerSec)} uploads/s: ${fmt(slo.value)} (limit ${slo.limit})${slo.detail ? `; ${slo.detail}` : ''}`;
    cases.push({ classname: 'capacity.slo', name: slo.name, ...(slo.ok === false ? { failure: { message, type: 'capacity.slo', body: message } } : { systemOut: slo.ok === null ? `not applicable: ${message}` : message }) });
  }
  const required = r.settings.require;
  if (required !== undefined) {
    const message = `${r.knee.cameras ?? 0} cameras sustained, ${required} required`;
    cases.push({ classname: 'capacity', name: `at least ${required} cameras`, ...((r.knee.cameras ?? 0) < required ? { failure: { message, type: 'capacity.require', body: message } } : { systemOut: message }) });
  }
  return cases;
}

// ---- summary.md ----

function sloRow(s: SloResult): string {
  return `| ${s.name} | ${s.ok === null ? 'n/a' : s.ok ? 'ok' : '**FAILED**'} | ${fmt(s.value)} | ${s.limit} |`;
}

function queueCell(s: CapacityResult['steps'][number]): string {
  const b = s.backlog;
  if (!b) return `${fmt(s.backlogSlopePerSec)}/s`;
  return `${fmt(b.slopePerSec, 3)} ± ${b.se === null ? '∞' : fmt(b.se, 3)} (≤ ${fmt(b.limitPerSec, 3)}${b.decided ? '' : ', undecided'})`;
}

export function capacityMarkdown(r: CapacityResult): string[] {
  const lines = ['', '### Capacity', '', kneeLine(r), ''];
  if (r.prediction.before) lines.push(`Model before the run: ${fmt(r.prediction.before.uploadsPerSec)} uploads/s (${r.prediction.before.bottleneck}: ${r.prediction.before.basis}).`);
  if (r.prediction.fromTraces) lines.push(`Model from the traces: ${fmt(r.prediction.fromTraces.uploadsPerSec)} uploads/s (${r.prediction.fromTraces.basis}).`);
  lines.push('', `| step | uploads/s | cameras at ${r.settings.fps} fps | detect p95 | queue slope ± se (limit) | verdict |`, '|---|---|---|---|---|---|');
  for (const s of r.steps) {
    lines.push(`| ${s.index} (${s.phase}) | ${fmt(s.uploadsPerSec)} | ${fmt(s.uploadsPerSec / r.settings.fps, 1)} | ${ms(lastP95(s))} | ${queueCell(s)} | ${s.sustained ? 'held' : `**not sustained**: ${s.slos.filter((x) => x.ok === false).map((x) => x.name).join(', ')}`} |`);
  }
  if (r.stages.length > 0) {
    lines.push('', '| stage | X /s | S ms | W ms | c | U | capacity uploads/s |', '|---|---|---|---|---|---|---|');
    for (const s of r.stages) lines.push(`| ${s.label} | ${fmt(s.throughputPerSec)} | ${fmt(s.serviceMs, 1)} | ${fmt(s.waitMs, 1)} | ${s.slots ?? '-'} | ${s.utilisation === null ? '-' : `${(s.utilisation * 100).toFixed(0)} %`} | ${fmt(s.capacityUploadsPerSec)} |`);
  }
  const step = kneeStep(r);
  if (step) lines.push('', `SLOs at ${fmt(step.uploadsPerSec)} uploads/s:`, '', '| SLO | verdict | value | limit |', '|---|---|---|---|', ...step.slos.map(sloRow));
  if (r.little) lines.push('', `Little's law: L ${fmt(r.little.observedL)} (queue status) vs X·R ${fmt(r.little.predictedL)} (traces): ${r.little.ok ? 'consistent' : '**inconsistent**'}.`);
  return lines;
}

// ---- report.html ----

const W = 720;
const H = 260;
const M = { l: 64, r: 16, t: 16, b: 40 };

function throughputLatencyChart(r: CapacityResult): string {
  const steps = r.steps.filter((s) => lastP95(s) !== null);
  if (steps.length === 0) return '<p class="muted">No step was measured.</p>';
  const xMax = Math.max(...steps.map((s) => s.uploadsPerSec), r.prediction.before?.uploadsPerSec ?? 0) * 1.1;
  const yMax = Math.max(...steps.map((s) => lastP95(s)!), r.settings.budgets.detectP95Ms) * 1.1;
  const x = linearScale([0, xMax], [M.l, W - M.r]);
  const y = linearScale([0, yMax], [H - M.b, M.t]);
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    parts.push(el('line', { x1: M.l, x2: W - M.r, y1: y(v), y2: y(v), stroke: '#e5e7eb' }), text(M.l - 6, y(v) + 4, `${v.toFixed(0)} ms`, { 'text-anchor': 'end', 'font-size': 11 }));
    const xv = (xMax / 4) * i;
    parts.push(text(x(xv), H - M.b + 16, xv.toFixed(1), { 'text-anchor': 'middle', 'font-size': 11 }));
  }
  parts.push(text((M.l + W - M.r) / 2, H - 6, 'offered load (uploads/s)', { 'text-anchor': 'middle', 'font-size': 12 }));
  const budget = r.settings.budgets.detectP95Ms;
  parts.push(el('line', { x1: M.l, x2: W - M.r, y1: y(budget), y2: y(budget), stroke: '#dc2626', 'stroke-dasharray': '4 3' }), text(W - M.r, y(budget) - 4, `detect budget ${budget} ms`, { 'text-anchor': 'end', 'font-size': 11, fill: '#dc2626' }));
  if (r.knee.uploadsPerSec !== null) {
    parts.push(el('line', { x1: x(r.knee.uploadsPerSec), x2: x(r.knee.uploadsPerSec), y1: M.t, y2: H - M.b, stroke: '#16a34a', 'stroke-width': 2, class: 'knee' }), text(x(r.knee.uploadsPerSec) + 4, M.t + 12, `knee ${r.knee.uploadsPerSec.toFixed(2)}/s`, { 'font-size': 11, fill: '#16a34a' }));
  }
  const predicted = r.prediction.before?.uploadsPerSec;
  if (predicted !== undefined) parts.push(el('line', { x1: x(predicted), x2: x(predicted), y1: M.t, y2: H - M.b, stroke: '#6b7280', 'stroke-dasharray': '6 4' }), text(x(predicted) + 4, M.t + 26, `model ${predicted.toFixed(2)}/s`, { 'font-size': 11, fill: '#6b7280' }));
  for (const s of [...steps].sort((a, b) => a.uploadsPerSec - b.uploadsPerSec)) {
    const p = lastP95(s)!;
    parts.push(el('circle', { cx: x(s.uploadsPerSec), cy: y(p), r: 5, fill: s.sustained ? '#16a34a' : '#dc2626', class: s.sustained ? 'step held' : 'step failed' }, title(`step ${s.index}: ${s.uploadsPerSec.toFixed(2)} uploads/s, detect p95 ${p.toFixed(0)} ms, ${s.sustained ? 'held' : 'not sustained'}`)));
  }
  return el('svg', { id: 'chart-capacity-latency', viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img', 'aria-label': 'detect p95 against offered load' }, parts.join(''));
}

function utilisationChart(r: CapacityResult): string {
  const rows = r.stages.filter((s) => s.utilisation !== null);
  if (rows.length === 0) return '<p class="muted">No stage with known slots: no utilisation.</p>';
  const rowH = 28;
  const height = M.t + rows.length * rowH + 24;
  const x = linearScale([0, 1.1], [150, W - M.r]);
  const parts: string[] = [el('line', { x1: x(1), x2: x(1), y1: M.t, y2: height - 20, stroke: '#dc2626', 'stroke-dasharray': '4 3' }), text(x(1), height - 6, '100 %', { 'text-anchor': 'middle', 'font-size': 11 })];
  rows.forEach((s, i) => {
    const u = Math.min(1.1, s.utilisation!);
    const yTop = M.t + i * rowH;
    const isBottleneck = s.stage === r.knee.bottleneck;
    parts.push(text(144, yTop + 17, s.label, { 'text-anchor': 'end', 'font-size': 12, 'font-weight': isBottleneck ? 'bold' : undefined }));
    parts.push(el('rect', { x: x(0), y: yTop + 4, width: x(u) - x(0), height: rowH - 10, fill: isBottleneck ? '#dc2626' : '#2563eb', class: 'utilisation' }, title(`${s.label}: U = ${(s.utilisation! * 100).toFixed(1)} % (X ${s.throughputPerSec.toFixed(2)}/s × S ${s.serviceMs?.toFixed(1)} ms / c ${s.slots})`)));
    parts.push(text(x(u) + 4, yTop + 17, `${(s.utilisation! * 100).toFixed(0)} %`, { 'font-size': 11 }));
  });
  return el('svg', { id: 'chart-capacity-utilisation', viewBox: `0 0 ${W} ${height}`, width: '100%', role: 'img', 'aria-label': 'utilisation per stage at the knee' }, parts.join(''));
}

function stageTableHtml(r: CapacityResult): string {
  if (r.stages.length === 0) return '';
  const rows = r.stages
    .map((s) => `<tr${s.stage === r.knee.bottleneck ? ' class="bad"' : ''}><td>${h(s.label)}</td><td>${fmt(s.throughputPerSec)}</td><td>${fmt(s.serviceMs, 1)}</td><td>${fmt(s.waitMs, 1)}</td><td>${fmt(s.p95Ms, 0)}</td><td>${s.slots ?? '-'}</td><td>${s.utilisation === null ? '-' : `${(s.utilisation * 100).toFixed(0)} %`}</td><td>${fmt(s.visitsPerUpload)}</td><td>${fmt(s.capacityUploadsPerSec)}</td></tr>`)
    .join('');
  return `<table><thead><tr><th>stage</th><th>X /s</th><th>S ms</th><th>W ms</th><th>p95 ms</th><th>c</th><th>U</th><th>V</th><th>capacity uploads/s</th></tr></thead><tbody>${rows}</tbody></table>`;
}

export function capacityHtmlSection(r: CapacityResult): string {
  const before = r.prediction.before;
  const model = before ? `<p>Model before the run: <b>${fmt(before.uploadsPerSec)} uploads/s</b> (${h(before.bottleneck)}: ${h(before.basis)})${r.knee.uploadsPerSec !== null ? `; measured / predicted = ${(r.knee.uploadsPerSec / before.uploadsPerSec).toFixed(3)}` : ''}.</p>` : '';
  const little = r.little ? `<p>Little's law: L ${fmt(r.little.observedL)} (queue status) vs X·R ${fmt(r.little.predictedL)} (traces): ${r.little.ok ? 'consistent' : '<b>inconsistent</b>'}.</p>` : '';
  return `<section id="capacity"><h2>Capacity</h2><p class="verdict-line">${h(kneeLine(r))}</p>${model}
<figure>${throughputLatencyChart(r)}<figcaption>Throughput–latency: detect p95 (upload → detections) of each step's last window against its offered load; green held, red not sustained. Green line: the knee; grey dashed: the model's prediction; red dashed: the detect budget.</figcaption></figure>
<figure>${utilisationChart(r)}<figcaption>Utilisation U = X·S/c per stage at the knee (red: the bottleneck).</figcaption></figure>
${stageTableHtml(r)}${little}</section>`;
}
