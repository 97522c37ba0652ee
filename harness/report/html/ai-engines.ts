import { escapeHtml as h } from '../escape.ts';
import { formatMs, formatNumber, formatOffset } from '../format.ts';
import type { AiEnginePoint, FaultWindowView, Percentiles, RunReportModel, TimeSeriesPoint } from '../report-model.ts';
import { latencyChart, type TimeAxis } from './charts.ts';

/**
 * The report's "AI engines" section: which mode each AI service ran in and, from the spans,
 * the engines' own figures: llama.cpp's tokens/s and prompt time over the run, the detector's
 * measured inference time.
 */

function asLatencyPoints(series: readonly AiEnginePoint[], pick: (p: AiEnginePoint) => number | null | undefined): TimeSeriesPoint[] {
  return series.map((p) => ({ tSec: p.tSec, requests: p.count, errors: 0, p50Ms: pick(p) ?? null, p95Ms: null, p99Ms: null }));
}

function row(label: string, p: Percentiles, fmt: (v: number | null) => string): string {
  return `<tr><td>${h(label)}</td><td class="num">${h(fmt(p.p50))}</td><td class="num">${h(fmt(p.p95))}</td><td class="num">${h(fmt(p.mean))}</td><td class="num">${p.count}</td></tr>`;
}

function table(rows: string[]): string {
  return `<div class="table-wrap"><table class="data"><thead><tr><th>figure</th><th>p50</th><th>p95</th><th>mean</th><th>samples</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

const perSecond = (v: number | null) => (v === null ? 'n/a' : `${formatNumber(v, 1)} /s`);
const count = (v: number | null) => formatNumber(v, 0);

function llmPart(model: RunReportModel, faults: readonly FaultWindowView[], axis: TimeAxis): string {
  const l = model.aiEngines?.llm;
  if (!l) return '';
  const b = model.aiEngines?.bucketSec ?? 5;
  const chart = latencyChart(asLatencyPoints(l.series, (p) => p.promptMs), faults, { ...axis, bucketSec: b }, { id: 'chart-llm-prompt', ariaLabel: 'LLM prompt time over the run', unit: 'calls', emptyText: 'no LLM timings' });
  const overTime = l.series
    .map((p) => `<tr><td>${h(formatOffset(p.tSec))}</td><td class="num">${p.count}</td><td class="num">${h(perSecond(p.value))}</td><td class="num">${h(formatMs(p.promptMs ?? null))}</td></tr>`)
    .join('');
  return `<h3>LLM (${h(l.mode)}): llama.cpp timings</h3>${table([
    row('generated tokens/s', l.tokensPerSecond, perSecond),
    row('prompt time', l.promptMs, formatMs),
    row('prompt tokens', l.promptTokens, count),
    row('generated tokens', l.generatedTokens, count),
    row('llm_inference call', l.callMs, formatMs),
  ])}<figure>${chart}<figcaption>Median prompt (prefill) time per ${b} s bucket, from the timings on the backend's llm_inference spans.</figcaption></figure>
<div class="table-wrap"><table class="data" id="llm-over-time"><thead><tr><th>bucket</th><th>calls</th><th>tokens/s (p50)</th><th>prompt time (p50)</th></tr></thead><tbody>${overTime}</tbody></table></div>`;
}

function detectorPart(model: RunReportModel, faults: readonly FaultWindowView[], axis: TimeAxis): string {
  const d = model.aiEngines?.detector;
  if (!d) return '';
  const b = model.aiEngines?.bucketSec ?? 5;
  const chart = latencyChart(asLatencyPoints(d.series, (p) => p.value), faults, { ...axis, bucketSec: b }, { id: 'chart-detector-inference', ariaLabel: 'Detector inference time over the run', unit: 'images', emptyText: 'no detector timings' });
  const what = [d.mode, d.weights ? `weights ${d.weights}` : '', d.device ?? ''].filter((x) => x !== '').join(', ');
  return `<h3>Detector (${h(what)}): measured inference time</h3>${table([row('model inference', d.inferenceMs, formatMs), row('yolo26_detection_request call', d.callMs, formatMs)])}<figure>${chart}<figcaption>Median inference time per ${b} s bucket, from the detector's yolo26_inference spans.</figcaption></figure>`;
}

export function aiEnginesSection(model: RunReportModel, axis: TimeAxis): string {
  const ai = model.stack.ai;
  if (ai === undefined) return '';
  const modes = `<p class="facts" id="ai-modes">AI services: detector <b>${h(ai.detector)}</b>, LLM <b>${h(ai.llm)}</b>${ai.detector === 'real' || ai.llm === 'real' ? ' (real inference engines: docs/real-inference.md)' : ' (emulators)'}</p>`;
  const parts = llmPart(model, model.faults, axis) + detectorPart(model, model.faults, axis);
  return `<section id="ai-engines"><h2>AI engines</h2>${modes}${parts}</section>`;
}
