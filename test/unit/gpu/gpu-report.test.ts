import { describe, expect, it } from 'vitest';
import { gpuPeaks } from '../../../harness/gpu/gpu-peaks.ts';
import { gpuReportView, gpuSummaryLine } from '../../../harness/report/gpu-report-view.ts';
import type { GpuSample } from '../../../harness/gpu/gpu-sample.ts';
import type { GpuTelemetry } from '../../../harness/gpu/gpu-sampler.ts';
import { renderReportHtml } from '../../../harness/report/html/report-html.ts';
import { parseRunReport } from '../../../harness/report/report-schema.ts';
import { renderSummaryMarkdown } from '../../../harness/report/summary-md.ts';
import { makeModel } from '../report/fixture-model.ts';

const LOAD_START = 1_700_000_000_000;

/** 300 s at 1 Hz on two GPUs (the fixture model's run); no reads 100–105 s; GPU 1 gone from 200 s. */
function samples(): GpuSample[] {
  const out: GpuSample[] = [];
  for (let t = 0; t < 300; t += 1) {
    if (t >= 100 && t < 106) continue;
    const gpus = [0, 1]
      .filter((i) => i === 0 || t < 200)
      .map((i) => ({ index: i, name: 'NVIDIA RTX A5500', utilizationPct: Math.min(100, 20 + t / 4 + i), memoryUsedMiB: 12000 + t * 40 + i, memoryTotalMiB: 24564, temperatureC: 45 + t / 10, powerW: t === 250 ? null : 90 + t / 3 }));
    out.push({ kind: 'sample', epochMs: LOAD_START + t * 1000, source: 'nvidia-smi', gpus });
  }
  return out;
}

function telemetry(s: GpuSample[]): GpuTelemetry {
  const { overall, perGpu } = gpuPeaks(s);
  return { source: 'nvidia-smi', sourceLabel: 'nvidia-smi (host)', tried: [], sampleCount: s.length, malformedLines: 1, readFailures: 6, lastReadFailure: 'exit 6: No devices were found', lost: [{ index: 1, name: 'NVIDIA RTX A5500', epochMs: LOAD_START + 200_000 }], peaks: overall, perGpu };
}

const NONE: GpuTelemetry = {
  source: null,
  sourceLabel: 'no GPU telemetry',
  tried: [
    { source: 'nvidia-smi (host)', reason: 'nvidia-smi not found on PATH' },
    { source: 'backend /api/system/gpu', reason: 'emulated AI services, no GPU' },
  ],
  sampleCount: 0,
  malformedLines: 0,
  readFailures: 0,
  lastReadFailure: null,
  lost: [],
  peaks: { utilizationPct: null, memoryUsedMiB: null, memoryTotalMiB: null, memoryUsedFraction: null, temperatureC: null, powerW: null },
  perGpu: [],
};

const chart = (html: string, id: string) => [...html.matchAll(/<svg id="([^"]+)"[^>]*>[\s\S]*?<\/svg>/g)].find((m) => m[1] === id)?.[0] ?? '';
const attr = (svg: string, name: string) => Number(new RegExp(`${name}="([-\\d.]+)"`).exec(svg)?.[1]);

describe('GPU telemetry in the report', () => {
  const s = samples();
  const view = gpuReportView(telemetry(s), s, LOAD_START, { tSec: 150, label: '12 cameras at 1 fps' });

  it('peaks and the memory used fraction (the number a VRAM headroom SLO reads)', () => {
    expect(view.peaks.utilizationPct).toBe(94.75); // 20 + 299/4 on GPU 0 (GPU 1 was gone by then)
    expect(view.peaks.memoryUsedMiB).toBe(12000 + 299 * 40);
    expect(view.peaks.memoryUsedFraction).toBeCloseTo((12000 + 299 * 40) / 24564, 9);
    expect(view.perGpu.map((g) => [g.index, g.memoryUsedMiB])).toEqual([[0, 23960], [1, 12000 + 199 * 40 + 1]]);
    expect(view.lost).toEqual([{ index: 1, name: 'NVIDIA RTX A5500', atSec: 200 }]);
  });

  it('charts utilisation, memory and temperature per GPU on the load charts\' time axis, with faults, load, the lost GPU and the knee', () => {
    const html = renderReportHtml(makeModel({ gpu: view }));
    const latency = chart(html, 'chart-latency');
    for (const id of ['chart-gpu-utilization', 'chart-gpu-memory', 'chart-gpu-temperature']) {
      const svg = chart(html, id);
      expect(svg, id).not.toBe('');
      // Same axis as the latency chart: same seconds on the same pixels.
      for (const a of ['data-x-min', 'data-x-max', 'data-plot-left', 'data-plot-right']) expect(attr(svg, a), `${id} ${a}`).toBe(attr(latency, a));
      expect(svg.match(/class="fault-window"/g)).toHaveLength(2);
      expect(svg).toContain('class="load-bars"');
      // Both broken at the 6 s gap in reads (no line drawn across it); GPU 1 ends where it was lost.
      expect(svg.match(/<path class="series gpu-line" data-gpu-index="0"/g)).toHaveLength(2);
      expect(svg.match(/<path class="series gpu-line" data-gpu-index="1"/g)).toHaveLength(2);
      const lastX = (index: number) => Math.max(...[...svg.matchAll(new RegExp(`data-gpu-index="${index}"[^>]* d="([^"]+)"`, 'g'))].flatMap((m) => [...m[1]!.matchAll(/[ML]([\d.]+) /g)].map((p) => Number(p[1]))));
      expect(lastX(1)).toBeLessThan(lastX(0));
      const knee = /<line class="knee-marker" data-t-sec="150" x1="([\d.]+)"/.exec(svg);
      const left = attr(svg, 'data-plot-left');
      const right = attr(svg, 'data-plot-right');
      const expectedX = left + ((150 - attr(svg, 'data-x-min')) / (attr(svg, 'data-x-max') - attr(svg, 'data-x-min'))) * (right - left);
      expect(Number(knee?.[1])).toBeCloseTo(expectedX, 0);
      expect(svg).toContain('knee: 12 cameras at 1 fps');
      expect(svg).toMatch(/<line class="gpu-lost-marker" data-t-sec="200"/);
    }
    expect(chart(html, 'chart-gpu-memory').match(/gpu-memory-total/g)?.length).toBeGreaterThanOrEqual(2);
    expect(html).toContain('id="gpu-peaks"');
    expect(html).toContain('97.5 %'); // 23960 / 24564 peak memory used fraction, in the peaks table
    expect(html).not.toContain('id="gpu-none"');
  });

  it('summary.md, the terminal line and summary.json carry the source and the peaks', () => {
    const model = makeModel({ gpu: view });
    const line = gpuSummaryLine(view);
    expect(line).toBe(
      'nvidia-smi (host), 2 GPUs, 294 samples, peak utilisation 95 %, peak memory 23.4 GiB of 24.0 GiB (97.5 %), peak 75 °C, peak 190 W, 1 malformed line(s) skipped, 6 failed read(s) (last: exit 6: No devices were found), GPU 1 (NVIDIA RTX A5500) lost at 200.0 s',
    );
    expect(renderSummaryMarkdown(model)).toContain(`GPU: nvidia-smi (host), 2 GPUs, 294 samples`);
    const back = parseRunReport(JSON.parse(JSON.stringify(model)), 'summary.json');
    expect(back.gpu).toEqual(view);
    expect(() => parseRunReport({ ...JSON.parse(JSON.stringify(model)), gpu: { ...view, peaks: { ...view.peaks, memoryUsedFraction: 'high' } } }, 'summary.json')).toThrow(/summary\.json: gpu\.peaks\.memoryUsedFraction: /);
  });

  it('without a source, says "no GPU telemetry" plainly everywhere and draws no zeros', () => {
    const none = gpuReportView(NONE, [], LOAD_START);
    const model = makeModel({ gpu: none });
    const html = renderReportHtml(model);
    expect(html).toMatch(/<p id="gpu-none" class="gpu-none"><b>no GPU telemetry<\/b>/);
    expect(html).toContain('<li>backend /api/system/gpu: emulated AI services, no GPU</li>');
    expect(html).toContain('<div class="tile"><div class="k">GPU</div><div class="v">no GPU telemetry</div></div>');
    expect(html).not.toContain('chart-gpu-');
    expect(html).not.toContain('id="gpu-peaks"');
    const md = renderSummaryMarkdown(model);
    expect(md).toContain('GPU: no GPU telemetry (nvidia-smi (host): nvidia-smi not found on PATH; backend /api/system/gpu: emulated AI services, no GPU)');
    expect(md).not.toMatch(/GPU:.*\b0 %/);
    // Older reports without GPU data say nothing about GPUs rather than something wrong.
    expect(renderReportHtml(makeModel())).not.toContain('id="gpu"');
  });
});
