import { formatNumber } from '../format.ts';
import type { ServiceEdge } from '../report-model.ts';
import { attrs, clip, el, n, text, title } from './svg.ts';

/**
 * Propagation map (`#service-map`): nodes = services (`g.service-node`), edges from the
 * model's serviceMap (`path.edge`), broken hops (context lost) dashed red
 * (`path.edge.edge-broken`). Layout: columns by longest path from the sources (back
 * edges of cycles ignored), rows ordered by the mean row of each node's callers.
 */
const NODE_W = 180;
const NODE_H = 38;
const COL_GAP = 170;
const ROW_GAP = 34;
const PAD = 24;

export interface Layout {
  columns: string[][];
  pos: Map<string, { x: number; y: number }>;
  width: number;
  height: number;
  backEdges: Set<string>;
}

const edgeKey = (e: { from: string; to: string }) => `${e.from}\u0000${e.to}`;

export function layoutServices(edges: readonly ServiceEdge[]): Layout {
  const nodes = [...new Set(edges.flatMap((e) => [e.from, e.to]))].sort((a, b) => a.localeCompare(b));
  const out = new Map<string, string[]>(nodes.map((s) => [s, []]));
  for (const e of edges) if (e.from !== e.to) out.get(e.from)!.push(e.to);
  // Back edges by DFS from sources first (then any node left), so cycles do not loop the layering.
  const indeg = new Map(nodes.map((s) => [s, 0]));
  for (const e of edges) if (e.from !== e.to) indeg.set(e.to, (indeg.get(e.to) ?? 0) + 1);
  const order = [...nodes].sort((a, b) => (indeg.get(a)! === 0 ? 0 : 1) - (indeg.get(b)! === 0 ? 0 : 1) || a.localeCompare(b));
  const state = new Map<string, 0 | 1 | 2>();
  const backEdges = new Set<string>();
  const dfs = (v: string) => {
    state.set(v, 1);
    for (const w of out.get(v)!) {
      const st = state.get(w) ?? 0;
      if (st === 1) backEdges.add(edgeKey({ from: v, to: w }));
      else if (st === 0) dfs(w);
    }
    state.set(v, 2);
  };
  for (const v of order) if ((state.get(v) ?? 0) === 0) dfs(v);
  // Longest-path layering over the forward edges.
  const layer = new Map<string, number>(nodes.map((s) => [s, 0]));
  for (let pass = 0; pass < nodes.length; pass += 1) {
    let changed = false;
    for (const e of edges) {
      if (e.from === e.to || backEdges.has(edgeKey(e))) continue;
      const want = layer.get(e.from)! + 1;
      if (want > layer.get(e.to)!) {
        layer.set(e.to, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns: string[][] = [];
  for (const s of nodes) (columns[layer.get(s)!] ??= []).push(s);
  const rowOf = new Map<string, number>();
  columns.forEach((col, ci) => {
    if (ci > 0) {
      const score = (s: string) => {
        const callers = edges.filter((e) => e.to === s && rowOf.has(e.from)).map((e) => rowOf.get(e.from)!);
        return callers.length > 0 ? callers.reduce((a, b) => a + b, 0) / callers.length : Infinity;
      };
      col.sort((a, b) => score(a) - score(b) || a.localeCompare(b));
    }
    col.forEach((s, i) => rowOf.set(s, i));
  });
  const maxRows = Math.max(1, ...columns.map((c) => c.length));
  const height = PAD * 2 + maxRows * NODE_H + (maxRows - 1) * ROW_GAP + 20;
  const width = PAD * 2 + columns.length * NODE_W + Math.max(0, columns.length - 1) * COL_GAP;
  const pos = new Map<string, { x: number; y: number }>();
  columns.forEach((col, ci) => {
    const colHeight = col.length * NODE_H + (col.length - 1) * ROW_GAP;
    const top = PAD + 10 + (maxRows * NODE_H + (maxRows - 1) * ROW_GAP - colHeight) / 2;
    col.forEach((s, ri) => pos.set(s, { x: PAD + ci * (NODE_W + COL_GAP), y: top + ri * (NODE_H + ROW_GAP) }));
  });
  return { columns, pos, width: Math.max(width, 320), height, backEdges };
}

interface EdgeGeometry {
  d: string;
  lx: number;
  ly: number;
  anchor: 'middle' | 'end';
}

type Point = { x: number; y: number };

/** The path of one edge and where its label goes; `nth` bends a second edge between one pair apart, `into` stacks labels into one node. */
function edgeGeometry(e: ServiceEdge, a: Point, b: Point, nth: number, into: Map<string, number>): EdgeGeometry {
  if (e.from === e.to) {
    const cx = a.x + NODE_W / 2;
    return { d: `M${n(cx - 20)} ${n(a.y)}C${n(cx - 40)} ${n(a.y - 30)} ${n(cx + 40)} ${n(a.y - 30)} ${n(cx + 20)} ${n(a.y)}`, lx: cx, ly: a.y - 26, anchor: 'middle' };
  }
  if (b.x > a.x) {
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2 + (nth ? 8 : 0);
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2 + (nth ? 8 : 0);
    const mx = (x1 + x2) / 2;
    // Label right-aligned just above the arrowhead, where edges fanning out of one node
    // have separated (several edges into one node stack their labels upwards).
    const k = into.get(e.to) ?? 0;
    into.set(e.to, k + 1);
    return { d: `M${n(x1)} ${n(y1)}C${n(mx)} ${n(y1)} ${n(mx)} ${n(y2)} ${n(x2 - 2)} ${n(y2)}`, lx: x2 - 10, ly: y2 - 6 - k * 13, anchor: 'end' };
  }
  // Backwards or within a column: arc below the nodes.
  const x1 = a.x + NODE_W / 2;
  const y1 = a.y + NODE_H;
  const x2 = b.x + NODE_W / 2;
  const y2 = b.y + NODE_H;
  const dip = Math.max(y1, y2) + 40 + nth * 14;
  return { d: `M${n(x1)} ${n(y1)}C${n(x1)} ${n(dip)} ${n(x2)} ${n(dip)} ${n(x2)} ${n(y2 + 2)}`, lx: (x1 + x2) / 2, ly: dip - 6, anchor: 'middle' };
}

/** Every edge's path, then every edge's label (labels drawn above the paths). */
function edgesAndLabels(edges: readonly ServiceEdge[], pos: ReadonlyMap<string, Point>): { edgesSvg: string; labels: string } {
  let edgesSvg = '';
  let labels = '';
  // Parallel edges between the same pair in both directions are bent apart.
  const pairCount = new Map<string, number>();
  const intoCount = new Map<string, number>();
  for (const e of edges) {
    const pair = [e.from, e.to].sort().join('\u0000');
    const nth = pairCount.get(pair) ?? 0;
    pairCount.set(pair, nth + 1);
    const { d, lx, ly, anchor } = edgeGeometry(e, pos.get(e.from)!, pos.get(e.to)!, nth, intoCount);
    const tip = title(`${e.from} → ${e.to}: ${formatNumber(e.calls)} calls${e.broken ? ' — trace context LOST on this hop' : ''}`);
    edgesSvg += el(
      'path',
      {
        class: e.broken ? 'edge edge-broken' : 'edge',
        d,
        fill: 'none',
        stroke: e.broken ? '#D62728' : '#556',
        'stroke-width': e.broken ? 2.2 : 1.6,
        'stroke-dasharray': e.broken ? '7 5' : null,
        'marker-end': e.broken ? 'url(#arrow-broken)' : 'url(#arrow-ok)',
        'data-from': e.from,
        'data-to': e.to,
      },
      tip,
    );
    labels += text(lx, ly, `${formatNumber(e.calls)} ${e.calls === 1 ? 'call' : 'calls'}${e.broken ? ' · context lost' : ''}`, { class: e.broken ? 'edge-label broken' : 'edge-label', 'text-anchor': anchor });
  }
  return { edgesSvg, labels };
}

export function serviceMapSvg(edges: readonly ServiceEdge[], colours: ReadonlyMap<string, string>): string {
  if (edges.length === 0) {
    return `<svg id="service-map" class="service-map" viewBox="0 0 600 60" role="img" aria-label="Service propagation map">${text(300, 34, 'no service edges recorded', { 'text-anchor': 'middle', class: 'empty' })}</svg>`;
  }
  const layout = layoutServices(edges);
  const defs =
    '<defs>' +
    '<marker id="arrow-ok" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#556"/></marker>' +
    '<marker id="arrow-broken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#D62728"/></marker>' +
    '</defs>';
  const { edgesSvg, labels } = edgesAndLabels(edges, layout.pos);
  let nodesSvg = '';
  for (const [service, p] of layout.pos) {
    const colour = colours.get(service) ?? '#888';
    nodesSvg +=
      `<g${attrs({ class: 'service-node', 'data-service': service })}>` +
      el('rect', { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 6, fill: '#fff', stroke: colour, 'stroke-width': 2 }) +
      el('rect', { x: p.x, y: p.y, width: 8, height: NODE_H, rx: 3, fill: colour }) +
      text(p.x + NODE_W / 2 + 4, p.y + NODE_H / 2 + 4, clip(service, 25), { 'text-anchor': 'middle', class: 'node-label' }) +
      title(service) +
      '</g>';
  }
  const height = layout.height + (edges.some((e) => e.from === e.to || layout.pos.get(e.to)!.x <= layout.pos.get(e.from)!.x) ? 50 : 0);
  return `<svg id="service-map" class="service-map" viewBox="0 0 ${n(layout.width)} ${n(height)}" role="img" aria-label="Service propagation map" style="max-width:${n(layout.width)}px">${defs}${edgesSvg}${labels}${nodesSvg}</svg>`;
}
