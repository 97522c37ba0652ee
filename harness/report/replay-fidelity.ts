import { z } from 'zod';
import { escapeHtml as h } from './escape.ts';

/**
 * The "replay fidelity" part of a run report: how close a replay (`hsi-chaos replay --run`)
 * came to the incident it was built from, per check, with the tolerances used and a verdict.
 * Written by harness/replay/fidelity.ts; rendered here as a report.html section.
 */

export interface FidelityTolerances {
  /** per-operation p95: |replay − incident| / incident at most this (0.2 = ±20 %) */
  p95Relative: number;
  /** … or at most this many ms apart (spans of a few ms jitter by more than 20 %) */
  p95AbsoluteMs: number;
  /** error spans per window: relative … */
  errorsRelative: number;
  /** … or absolute */
  errorsAbsolute: number;
  /** fault window start and end offsets, ms */
  windowOffsetMs: number;
  /** uploads: relative difference of the totals */
  loadRelative: number;
  /** operations with fewer spans than this on either side are shown but not judged */
  minSpans: number;
  /**
   * A p95 outside the band fails only when the two duration samples also differ significantly
   * (two-sample KS distance above its critical value at this α). 0 turns the guard off (strict
   * p95). Needed because the p95 of a few dozen spans of a few ms moves by more than 20 %
   * between two runs of the same scenario on a loaded machine (docs/replay.md).
   */
  ksAlpha: 0 | 0.05 | 0.01;
}

export const DEFAULT_FIDELITY_TOLERANCES: FidelityTolerances = {
  p95Relative: 0.2,
  p95AbsoluteMs: 5,
  errorsRelative: 0.1,
  errorsAbsolute: 1,
  windowOffsetMs: 1000,
  loadRelative: 0.1,
  minSpans: 10,
  ksAlpha: 0.05,
};

export interface Percentiles {
  count: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface OperationFidelity {
  service: string;
  name: string;
  incident: Percentiles;
  replay: Percentiles;
  /** (replay − incident) / incident of p95 */
  p95Diff: number | null;
  /** p95 within the band (the strict check) */
  p95Ok: boolean;
  ks: number | null;
  /** critical KS distance at `ksAlpha` for these sample sizes; null when the guard is off */
  ksCritical: number | null;
  judged: boolean;
  ok: boolean;
}

export interface WindowFidelity {
  target: string;
  faultType: string;
  /** seconds from each side's first upload */
  incident: { fromSec: number; toSec: number } | null;
  replay: { fromSec: number; toSec: number } | null;
  startOffsetSec: number | null;
  endOffsetSec: number | null;
  /**
   * Edges the traces cannot place within the tolerance on at least one side (a bracket wider
   * than twice the tolerance, e.g. between a circuit breaker's opening and its trial call),
   * each with the two sides' brackets (seconds): such an edge is judged by whether the brackets,
   * widened by the tolerance, overlap, not by the offset of their midpoints.
   */
  hidden?: HiddenEdge[];
  ok: boolean;
}

export interface HiddenEdge {
  edge: 'start' | 'end';
  incidentSec: [number, number];
  replaySec: [number, number];
}

export interface ErrorWindowFidelity {
  /** "before the faults", a fault's name, … */
  window: string;
  incident: number;
  replay: number;
  ok: boolean;
}

export interface LoadFidelity {
  incidentUploads: number;
  replayUploads: number;
  /** KS distance of the arrival offsets */
  ks: number | null;
  incidentPerSecond: number[];
  replayPerSecond: number[];
  ok: boolean;
}

/**
 * The noise a replay's miss can be held against (A/A): two runs of one scenario in the same
 * session (the original rerun in the round trip, the replay run twice with `replay --run --aa`),
 * per operation the relative difference of their p95. A replay's p95 further from the
 * incident's than this is a miss beyond what the machine does to one scenario run twice.
 */
export interface NoiseReference {
  /** what was run twice */
  reference: string;
  operations: { service: string; name: string; counts: [number, number]; p95Diff: number | null }[];
}

export interface ReplayFidelityView {
  incident: string;
  verdict: 'faithful' | 'unfaithful';
  failures: string[];
  tolerances: FidelityTolerances;
  operations: OperationFidelity[];
  windows: WindowFidelity[];
  errors: ErrorWindowFidelity[];
  load: LoadFidelity;
  noise?: NoiseReference;
}

/** The A/A p95 difference of an operation, when the view has a noise reference that judged it. */
export function noiseOf(view: Pick<ReplayFidelityView, 'noise'>, o: Pick<OperationFidelity, 'service' | 'name'>): number | null {
  return view.noise?.operations.find((x) => x.service === o.service && x.name === o.name)?.p95Diff ?? null;
}

/** A p95 miss larger than the A/A difference of the same operation (null: no noise reference for it). */
export function beyondNoise(view: Pick<ReplayFidelityView, 'noise'>, o: Pick<OperationFidelity, 'service' | 'name' | 'p95Diff'>): boolean | null {
  const noise = noiseOf(view, o);
  if (noise === null || o.p95Diff === null) return null;
  return Math.abs(o.p95Diff) > Math.abs(noise);
}

const n = z.number();
const nn = z.number().nullable();
const percentiles = z.object({ count: n, p50Ms: nn, p95Ms: nn, p99Ms: nn });
const span = z.object({ fromSec: n, toSec: n }).nullable();

export const ReplayFidelitySchema = z.object({
  incident: z.string(),
  verdict: z.enum(['faithful', 'unfaithful']),
  failures: z.array(z.string()),
  tolerances: z.object({ p95Relative: n, p95AbsoluteMs: n, errorsRelative: n, errorsAbsolute: n, windowOffsetMs: n, loadRelative: n, minSpans: n, ksAlpha: z.union([z.literal(0), z.literal(0.05), z.literal(0.01)]) }),
  operations: z.array(z.object({ service: z.string(), name: z.string(), incident: percentiles, replay: percentiles, p95Diff: nn, p95Ok: z.boolean(), ks: nn, ksCritical: nn, judged: z.boolean(), ok: z.boolean() })),
  windows: z.array(z.object({ target: z.string(), faultType: z.string(), incident: span, replay: span, startOffsetSec: nn, endOffsetSec: nn, hidden: z.array(z.object({ edge: z.enum(['start', 'end']), incidentSec: z.tuple([n, n]), replaySec: z.tuple([n, n]) })).optional(), ok: z.boolean() })),
  errors: z.array(z.object({ window: z.string(), incident: n, replay: n, ok: z.boolean() })),
  load: z.object({ incidentUploads: n, replayUploads: n, ks: nn, incidentPerSecond: z.array(n), replayPerSecond: z.array(n), ok: z.boolean() }),
  noise: z.object({ reference: z.string(), operations: z.array(z.object({ service: z.string(), name: z.string(), counts: z.tuple([n, n]), p95Diff: nn })) }).optional(),
});

const ms = (v: number | null) => (v === null ? '–' : `${v.toFixed(v < 10 ? 1 : 0)}`);
const pct = (v: number | null) => (v === null ? '–' : `${v >= 0 ? '+' : ''}${(v * 100).toFixed(0)} %`);
const sec = (v: number | null) => (v === null ? '–' : `${v >= 0 ? '+' : ''}${v.toFixed(2)} s`);
const mark = (ok: boolean, judged = true) => (!judged ? '<span class="muted">·</span>' : ok ? '✓' : '<b class="bad">✗</b>');

function noiseCell(view: Pick<ReplayFidelityView, 'noise'>, o: OperationFidelity): string {
  if (!view.noise) return '';
  const beyond = beyondNoise(view, o);
  return `<td>${pct(noiseOf(view, o))}${beyond === true ? ' <b class="bad">beyond</b>' : beyond === false ? ' <span class="muted">within</span>' : ''}</td>`;
}

function operationsTable(view: Pick<ReplayFidelityView, 'operations' | 'noise'>): string {
  const rows = view.operations
    .map((o) => `<tr><td>${mark(o.ok, o.judged)}</td><td>${h(o.service)}</td><td>${h(o.name)}</td><td>${o.incident.count} / ${o.replay.count}</td><td>${ms(o.incident.p50Ms)} / ${ms(o.replay.p50Ms)}</td><td>${ms(o.incident.p95Ms)} / ${ms(o.replay.p95Ms)}</td><td>${pct(o.p95Diff)}</td>${noiseCell(view, o)}<td>${ms(o.incident.p99Ms)} / ${ms(o.replay.p99Ms)}</td><td>${o.ks === null ? '–' : o.ks.toFixed(2)}${o.ksCritical === null ? '' : ` <span class="muted">/ ${o.ksCritical.toFixed(2)}</span>`}</td></tr>`)
    .join('');
  const noise = view.noise ? '<th>A/A p95 Δ</th>' : '';
  return `<table><thead><tr><th></th><th>service</th><th>operation</th><th>spans</th><th>p50 ms</th><th>p95 ms</th><th>p95 Δ</th>${noise}<th>p99 ms</th><th>KS / critical</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function noiseNote(view: Pick<ReplayFidelityView, 'noise'>): string {
  if (!view.noise) return '';
  return `<p class="muted">A/A: ${h(view.noise.reference)} ran twice in this session; "A/A p95 Δ" is how far apart the two runs' p95 lie, the noise of this machine at this load. A replay's p95 Δ "beyond" it is a miss larger than that noise.</p>`;
}

function windowsTable(windows: readonly WindowFidelity[]): string {
  if (windows.length === 0) return '<p class="muted">No fault window on either side.</p>';
  const at = (w: { fromSec: number; toSec: number } | null) => (w ? `${w.fromSec.toFixed(2)}–${w.toSec.toFixed(2)} s` : 'not seen');
  const rows = windows.map((w) => `<tr><td>${mark(w.ok)}</td><td>${h(w.target)}</td><td>${h(w.faultType)}</td><td>${at(w.incident)}</td><td>${at(w.replay)}</td><td>${sec(w.startOffsetSec)}${hiddenNote(w, 'start')}</td><td>${sec(w.endOffsetSec)}${hiddenNote(w, 'end')}</td></tr>`).join('');
  return `<table><thead><tr><th></th><th>hop</th><th>fault</th><th>incident</th><th>replay</th><th>start offset</th><th>end offset</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** For an edge the traces hide: both sides' brackets, which the verdict compares instead of the offset. */
function hiddenNote(w: WindowFidelity, edge: 'start' | 'end'): string {
  const hidden = w.hidden?.find((x) => x.edge === edge);
  if (!hidden) return '';
  const b = ([lo, hi]: [number, number]) => `${lo.toFixed(2)}–${hi.toFixed(2)} s`;
  return ` <span class="muted">(hidden: incident ${b(hidden.incidentSec)}, replay ${b(hidden.replaySec)})</span>`;
}

function errorsTable(errors: readonly ErrorWindowFidelity[]): string {
  const rows = errors.map((e) => `<tr><td>${mark(e.ok)}</td><td>${h(e.window)}</td><td>${e.incident}</td><td>${e.replay}</td></tr>`).join('');
  return `<table><thead><tr><th></th><th>window</th><th>incident error spans</th><th>replay error spans</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** The report.html section; empty when the run is not a replay. */
export function replayFidelitySection(view: ReplayFidelityView | undefined): string {
  if (!view) return '';
  const t = view.tolerances;
  const verdict = view.verdict === 'faithful' ? '<span class="badge passed">faithful</span>' : '<span class="badge failed">unfaithful</span>';
  const failures = view.failures.length > 0 ? `<ul>${view.failures.map((f) => `<li>${h(f)}</li>`).join('')}</ul>` : '';
  const l = view.load;
  return `<section id="replay-fidelity"><h2>Replay fidelity ${verdict}</h2>
<p class="muted">This run replays ${h(view.incident)}. Tolerances: p95 ±${(t.p95Relative * 100).toFixed(0)} % (or ${t.p95AbsoluteMs} ms), error spans ±${(t.errorsRelative * 100).toFixed(0)} % (or ${t.errorsAbsolute}), fault windows ±${(t.windowOffsetMs / 1000).toFixed(1)} s, uploads ±${(t.loadRelative * 100).toFixed(0)} %; operations with fewer than ${t.minSpans} spans on a side are not judged${t.ksAlpha > 0 ? `; a p95 outside the band fails only when the durations also differ significantly (KS distance above its critical value at α = ${t.ksAlpha})` : ''}.</p>${failures}
<h3>Load</h3><p>${mark(l.ok)} uploads ${l.incidentUploads} (incident) / ${l.replayUploads} (replay), KS distance of arrival times ${l.ks === null ? '–' : l.ks.toFixed(2)}. Per second, incident: ${l.incidentPerSecond.join(' ')}; replay: ${l.replayPerSecond.join(' ')}.</p>
<h3>Fault windows (read from each side's traces)</h3>${windowsTable(view.windows)}
<h3>Error spans per window</h3>${errorsTable(view.errors)}
<h3>Per operation (incident / replay)</h3>${noiseNote(view)}${operationsTable(view)}</section>`;
}
