import { formatMs } from '../format.ts';
import type { ExampleTrace, WaterfallSpan } from '../report-model.ts';
import { clip, el, formatTickMs, linearScale, n, niceTicks, text, title } from './svg.ts';

/**
 * Waterfall of one example trace (`svg.waterfall`): one row per span in tree order
 * (children under their parent, by start offset), a bar from its start offset for its
 * duration in its service's colour; error spans outlined red (`.span-error`) and
 * labelled "error"; spans whose parent is not in the trace (`.span-orphan`: a hop that
 * lost its context) get a dashed outline.
 */
export const WATERFALL_MAX_ROWS = 150;
const WIDTH = 960;
const LABEL_W = 330;
const RIGHT = 70;
const ROW_H = 20;
const TOP = 26;

export interface WaterfallRow {
  span: WaterfallSpan;
  depth: number;
  orphan: boolean;
}

export function treeOrder(spans: readonly WaterfallSpan[]): WaterfallRow[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, WaterfallSpan[]>();
  const roots: WaterfallSpan[] = [];
  for (const s of spans) {
    if (s.parentSpanId !== undefined && ids.has(s.parentSpanId) && s.parentSpanId !== s.spanId) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else {
      roots.push(s);
    }
  }
  const byStart = (a: WaterfallSpan, b: WaterfallSpan) => a.startOffsetMs - b.startOffsetMs || a.name.localeCompare(b.name);
  roots.sort(byStart);
  const rows: WaterfallRow[] = [];
  const seen = new Set<string>();
  const firstRoot = roots[0];
  const visit = (s: WaterfallSpan, depth: number, orphan: boolean) => {
    if (seen.has(s.spanId)) return;
    seen.add(s.spanId);
    rows.push({ span: s, depth, orphan });
    for (const c of (children.get(s.spanId) ?? []).sort(byStart)) visit(c, depth + 1, false);
  };
  // The earliest root is the trace's own root; every other root lost its parent.
  for (const r of roots) visit(r, 0, r !== firstRoot);
  // Cycles (bad data) would leave spans unvisited: show them flat rather than drop them.
  for (const s of spans) if (!seen.has(s.spanId)) visit(s, 0, true);
  return rows;
}

export function waterfallSvg(trace: ExampleTrace, index: number, colours: ReadonlyMap<string, string>): string {
  const all = treeOrder(trace.spans);
  const rows = all.slice(0, WATERFALL_MAX_ROWS);
  const endMs = Math.max(1, ...trace.spans.map((s) => s.startOffsetMs + Math.max(0, s.durationMs)));
  const x = linearScale([0, endMs], [LABEL_W, WIDTH - RIGHT]);
  const height = TOP + rows.length * ROW_H + 8;
  let body = '';
  for (const t of niceTicks(0, endMs, 6)) {
    const px = x(t);
    body += `<g class="x-tick" data-value="${n(t)}">${el('line', { class: 'grid', x1: px, y1: TOP - 4, x2: px, y2: height - 4 })}${text(px, TOP - 10, formatTickMs(t), { 'text-anchor': 'middle' })}</g>`;
  }
  rows.forEach((row, i) => {
    const s = row.span;
    const y = TOP + i * ROW_H;
    const colour = colours.get(s.service) ?? '#888';
    const x0 = x(s.startOffsetMs);
    const w = Math.max(1.5, x(s.startOffsetMs + Math.max(0, s.durationMs)) - x0);
    const cls = ['span', s.error ? 'span-error' : '', row.orphan ? 'span-orphan' : ''].filter(Boolean).join(' ');
    const tip = title(
      `${s.service} · ${s.name}\nstart +${formatMs(s.startOffsetMs)}, duration ${formatMs(s.durationMs)}${s.error ? '\nERROR' : ''}${row.orphan ? '\nparent span not in this trace (context lost?)' : ''}\nspan ${s.spanId}`,
    );
    if (i % 2 === 1) body += el('rect', { class: 'row-band', x: 0, y, width: WIDTH, height: ROW_H });
    const indent = Math.min(row.depth, 12) * 10;
    body += el('rect', { class: 'service-dot', x: 4 + indent, y: y + 6, width: 8, height: 8, rx: 2, fill: colour });
    body += text(16 + indent, y + 14, clip(`${s.service} · ${s.name}`, Math.floor((LABEL_W - 22 - indent) / 6.4)), { class: row.orphan ? 'span-label orphan' : 'span-label' });
    body += el(
      'rect',
      { class: cls, x: x0, y: y + 3, width: w, height: ROW_H - 6, rx: 2, fill: colour, 'data-service': s.service, 'data-span-id': s.spanId },
      tip,
    );
    const after = `${formatMs(s.durationMs)}${s.error ? ' error' : ''}`;
    const textW = after.length * 6.3;
    const labelX = x0 + w + 4;
    if (labelX + textW < WIDTH) {
      body += text(labelX, y + 14, after, { class: s.error ? 'span-dur error' : 'span-dur' });
    } else if (w > textW + 10) {
      // No room right of a long bar: inside it, at its end.
      body += text(x0 + w - 5, y + 14, after, { class: s.error ? 'span-dur inside error' : 'span-dur inside', 'text-anchor': 'end' });
    } else {
      body += text(Math.max(LABEL_W + textW, x0 - 4), y + 14, after, { class: s.error ? 'span-dur error' : 'span-dur', 'text-anchor': 'end' });
    }
  });
  if (all.length > rows.length) body += text(LABEL_W, height - 2, `… ${all.length - rows.length} more spans not shown`, { class: 'empty' });
  if (rows.length === 0) body += text(WIDTH / 2, TOP + 10, 'no spans', { 'text-anchor': 'middle', class: 'empty' });
  return `<svg id="waterfall-${index}" class="waterfall" viewBox="0 0 ${WIDTH} ${Math.max(height, 40)}" role="img" aria-label="Waterfall of trace ${trace.traceId.replace(/[^0-9a-zA-Z]/g, '')}" data-trace-id="${trace.traceId.replace(/[^0-9a-zA-Z]/g, '')}">${body}</svg>`;
}
