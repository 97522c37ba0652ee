import { escapeHtml } from '../escape.ts';

/** Small SVG helpers: coordinates rounded to 0.1 px (keeps the file small), every text escaped. */

export const n = (v: number): string => {
  const r = Math.round(v * 10) / 10;
  return Object.is(r, -0) ? '0' : String(r);
};

export type Attrs = Record<string, string | number | undefined | null | false>;

export function attrs(a: Attrs): string {
  let out = '';
  for (const [k, v] of Object.entries(a)) {
    if (v === undefined || v === null || v === false) continue;
    out += ` ${k}="${escapeHtml(typeof v === 'number' ? n(v) : v)}"`;
  }
  return out;
}

export function el(tag: string, a: Attrs, children = ''): string {
  return children === '' ? `<${tag}${attrs(a)}/>` : `<${tag}${attrs(a)}>${children}</${tag}>`;
}

export function text(x: number, y: number, content: string, a: Attrs = {}): string {
  return `<text${attrs({ x, y, ...a })}>${escapeHtml(content)}</text>`;
}

/** A native tooltip (no script needed). */
export function title(content: string): string {
  return `<title>${escapeHtml(content)}</title>`;
}

export interface LinearScale {
  (v: number): number;
  domain: [number, number];
  range: [number, number];
  invert(px: number): number;
}

export function linearScale(domain: [number, number], range: [number, number]): LinearScale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  const f = ((v: number) => r0 + (v - d0) * k) as LinearScale;
  f.domain = domain;
  f.range = range;
  f.invert = (px: number) => (k === 0 ? d0 : d0 + (px - r0) / k);
  return f;
}

/** Tick values at 1/2/5 × 10^k steps covering [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count = 6): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max <= min) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Math.round(v / step) * step);
  return ticks;
}

/** The upper end of a y axis: a tick value at or above `max`. */
export function niceMax(max: number): number {
  if (!Number.isFinite(max) || max <= 0) return 1;
  const ticks = niceTicks(0, max, 5);
  const last = ticks[ticks.length - 1]!;
  if (last >= max) return last;
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : max;
  return last + step;
}

/** Colour-blind-friendly qualitative palette (Okabe–Ito plus a few), assigned by sorted service name. */
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#7A6FBF', '#8C6D31', '#3B9AB2', '#999933', '#AA4499', '#44AA99'];

export function serviceColours(services: Iterable<string>): Map<string, string> {
  const sorted = [...new Set(services)].sort((a, b) => a.localeCompare(b));
  return new Map(sorted.map((s, i) => [s, PALETTE[i % PALETTE.length]!]));
}

/** Shorten a label to `max` characters with an ellipsis. */
export function clip(label: string, max: number): string {
  return label.length <= max ? label : `${label.slice(0, Math.max(1, max - 1))}…`;
}

/** Axis label in ms: `0 ms`, `2.5 ms`, `250 ms`, `1500 ms`, `12 s`. */
export function formatTickMs(v: number): string {
  if (v >= 10_000) return `${Number((v / 1000).toFixed(1))} s`;
  if (v >= 10 || v === 0) return `${Number(v.toFixed(0))} ms`;
  if (v >= 1) return `${Number(v.toFixed(1))} ms`;
  return `${Number(v.toPrecision(2))} ms`;
}
