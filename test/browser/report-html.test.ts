import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunResults } from '../../harness/util/run-results.ts';
import { writeReportHtml } from '../../harness/report/write-reports.ts';
import { FAULTS, makeModel } from '../unit/report/fixture-model.ts';

/**
 * report.html in a real browser: Debian's Chromium (headless) through playwright-core,
 * the file opened by file:// URL. Checks: no console/page error, no request leaves the
 * file, the latency chart's fault windows sit at the windows' actual start..end on the
 * chart's own axis (ticks read from the page), waterfall and service map drawn.
 * Screenshot: results/test-artifacts/report.png.
 */
const CHROMIUM = process.env['HSI_CHAOS_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = resolve(import.meta.dirname, '../../results/test-artifacts');

let context: BrowserContext;
let page: Page;
let work: string;
const consoleErrors: string[] = [];
const pageErrors: string[] = [];
const requests: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: the browser tests need Debian's Chromium; install it with \`apt-get install -y chromium\` (or set HSI_CHAOS_CHROMIUM to a Chromium binary)`);
  }
  work = mkdtempSync(join(tmpdir(), 'hsi-report-browser-'));
  const results = new RunResults(join(work, 'results'), 'run-browser');
  const file = writeReportHtml(results, makeModel());
  // A fresh profile every run (launchPersistentContext is how playwright takes --user-data-dir).
  context = await chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1200, height: 900 },
    deviceScaleFactor: 1,
    timeout: 60_000,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
}, 90_000);

afterAll(async () => {
  await context?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('report.html in Chromium', () => {
  it('loads with no console error, no page error and no request outside the file', () => {
    expect(consoleErrors).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
    expect(requests.filter((u) => u.startsWith('file:'))).toHaveLength(1);
  });

  it('shows the verdict', async () => {
    await expect(page.locator('#verdict').textContent()).resolves.toBe('FAILED');
  });

  it('shades each fault window at its actual start..end on the latency chart axis', async () => {
    const chart = page.locator('#chart-latency');
    await expect(chart.count()).resolves.toBe(1);
    // The axis as drawn: every x tick's value and its screen x.
    const ticks = await chart.locator('.x-tick').evaluateAll((nodes) =>
      nodes.map((g) => {
        const line = g.querySelector('line')!.getBoundingClientRect();
        return { value: Number(g.getAttribute('data-value')), label: g.querySelector('text')!.textContent ?? '', x: line.left + line.width / 2 };
      }),
    );
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    for (const t of ticks) expect(t.label).toBe(`${t.value} s`);
    const first = ticks[0]!;
    const last = ticks[ticks.length - 1]!;
    const pxPerSec = (last.x - first.x) / (last.value - first.value);
    const xOf = (sec: number) => first.x + (sec - first.value) * pxPerSec;
    // Every tick is on the same line (the axis is linear).
    for (const t of ticks) expect(Math.abs(t.x - xOf(t.value))).toBeLessThan(1);

    const windows = await chart.locator('.fault-window').evaluateAll((nodes) =>
      nodes.map((r) => {
        const box = r.getBoundingClientRect();
        return { index: Number(r.getAttribute('data-fault-index')), left: box.left, width: box.width, height: box.height };
      }),
    );
    expect(windows).toHaveLength(FAULTS.length);
    for (const w of windows) {
      const f = FAULTS[w.index]!;
      expect(Math.abs(w.left - xOf(f.startSec))).toBeLessThanOrEqual(1.5);
      expect(Math.abs(w.left + w.width - xOf(f.endSec))).toBeLessThanOrEqual(2);
      expect(w.height).toBeGreaterThan(100);
    }
    const labels = await chart.locator('.fault-label').allTextContents();
    expect(labels).toEqual(FAULTS.map((f) => `${f.name} → ${f.target}`));
    // Percentile lines drawn.
    for (const cls of ['line-p50', 'line-p95', 'line-p99']) await expect(chart.locator(`path.${cls}`).count()).resolves.toBe(1);
    // The throughput chart shades the same windows.
    await expect(page.locator('#chart-throughput .fault-window').count()).resolves.toBe(FAULTS.length);
    // The pipeline charts share the time axis: the same windows at the same screen x.
    for (const id of ['#chart-pipeline-detection', '#chart-pipeline-event']) {
      const stage = page.locator(id);
      const lefts = await stage.locator('.fault-window').evaluateAll((nodes) => nodes.map((r) => ({ index: Number(r.getAttribute('data-fault-index')), left: r.getBoundingClientRect().left })));
      expect(lefts).toHaveLength(FAULTS.length);
      for (const w of lefts) expect(Math.abs(w.left - xOf(FAULTS[w.index]!.startSec))).toBeLessThanOrEqual(1.5);
      await expect(stage.locator('path.line-p95').count()).resolves.toBe(1);
    }
  });

  it('draws the waterfalls (error spans marked) and the service map (broken hop dashed red)', async () => {
    await expect(page.locator('svg.waterfall').count()).resolves.toBe(2);
    await expect(page.locator('#waterfall-0 rect.span').count()).resolves.toBe(9);
    await expect(page.locator('#waterfall-1 rect.span-error').count()).resolves.toBe(3);
    await expect(page.locator('#waterfall-1 rect.span-orphan').count()).resolves.toBe(1);
    // An escaped span name from a trace renders as text, it does not run.
    await expect(page.locator('#waterfall-0').textContent()).resolves.toContain('<script>alert(1)</script>');
    await expect(page.locator('script').count()).resolves.toBe(0);

    const map = page.locator('#service-map');
    await expect(map.locator('.service-node').count()).resolves.toBe(5);
    await expect(map.locator('path.edge').count()).resolves.toBe(4);
    const broken = map.locator('path.edge-broken');
    await expect(broken.count()).resolves.toBe(1);
    const style = await broken.evaluate((p) => {
      const s = p.ownerDocument.defaultView!.getComputedStyle(p);
      return { dash: s.strokeDasharray, stroke: s.stroke, from: p.getAttribute('data-from'), to: p.getAttribute('data-to') };
    });
    expect(style.from).toBe('nemotron-backend');
    expect(style.to).toBe('ai-yolo26-emulator');
    expect(style.dash).not.toBe('none');
    expect(style.stroke).toBe('rgb(214, 39, 40)');
    // Every node is inside the drawing, none overlap.
    const boxes = await map.locator('.service-node rect:first-child').evaluateAll((nodes) => nodes.map((n) => n.getBoundingClientRect().toJSON() as { left: number; top: number; right: number; bottom: number }));
    for (let i = 0; i < boxes.length; i += 1)
      for (let j = i + 1; j < boxes.length; j += 1) {
        const a = boxes[i]!;
        const b = boxes[j]!;
        expect(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top).toBe(true);
      }
  });

  it('has the tables: thresholds, expectations (failed first), operations', async () => {
    const statuses = await page.locator('#expectations tbody td.status').allTextContents();
    expect(statuses.slice(0, 2)).toEqual(['FAILED', 'FAILED']);
    expect(statuses.slice(2).every((s) => s === 'passed')).toBe(true);
    await expect(page.locator('#thresholds tbody tr').count()).resolves.toBe(3);
    await expect(page.locator('#operations tbody tr').first().textContent()).resolves.toContain('detection_processing');
    // Example trace ids link to their waterfall.
    await expect(page.locator('#expectations a[href="#trace-0af7651916cd43dd8448eb211c80319c"]').count()).resolves.toBe(1);
  });

  it('takes a screenshot for a person to look at', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const path = join(ARTIFACTS, 'report.png');
    await page.screenshot({ path, fullPage: true });
    expect(existsSync(path)).toBe(true);
  });
});
