import { escapeHtml as h } from './escape.ts';
import type { EventStreamView } from './report-model.ts';

/**
 * The report's /ws/events figures (what a dashboard saw), in one wording for the terminal,
 * summary.md, JUnit properties and report.html.
 */
const ms = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v)} ms`);

export function eventStreamLine(v: EventStreamView): string {
  if (!v.subscribed) return `${v.path}: not subscribed (${v.note ?? 'never opened'})`;
  const l = v.uploadToEventMs;
  const frames = `${v.frames.single} single, ${v.frames.batch} batched frame${v.frames.batch === 1 ? '' : 's'}`;
  const gaps = v.gaps > 0 ? `; subscription dropped ${v.gaps}×` : '';
  return `upload → ${v.path} event p50 ${ms(l.p50Ms)}, p95 ${ms(l.p95Ms)}, p99 ${ms(l.p99Ms)} (n=${l.count}); ${v.broadcastEvents}/${v.storedEvents} stored events received (${frames})${gaps}`;
}

/** JUnit properties: `ws.upload_to_event.p95` and friends (ms), plus the counts. */
export function eventStreamProperties(v: EventStreamView): [string, string][] {
  const props: [string, string][] = [['ws.subscribed', String(v.subscribed)], ['ws.events.stored', String(v.storedEvents)], ['ws.events.received', String(v.broadcastEvents)]];
  const l = v.uploadToEventMs;
  props.push(['ws.upload_to_event.count', String(l.count)]);
  for (const [k, value] of [['p50', l.p50Ms], ['p95', l.p95Ms], ['p99', l.p99Ms]] as const) if (value !== null) props.push([`ws.upload_to_event.${k}`, value.toFixed(1)]);
  return props;
}

export function eventStreamHtmlSection(v: EventStreamView | undefined): string {
  if (!v) return '';
  const l = v.uploadToEventMs;
  const missing = v.storedEvents - v.broadcastEvents;
  const rows = [
    ['upload → WebSocket event p50', ms(l.p50Ms)],
    ['p95', ms(l.p95Ms)],
    ['p99', ms(l.p99Ms)],
    ['max', ms(l.maxMs)],
    ['events measured', String(l.count)],
    ['stored events (PostgreSQL) / received', `${v.storedEvents} / ${v.broadcastEvents}`],
    ['frames: single / batched / other / invalid', `${v.frames.single} / ${v.frames.batch} / ${v.frames.other} / ${v.frames.invalid}`],
  ]
    .map(([k, value]) => `<tr><td>${h(k!)}</td><td class="num">${h(value!)}</td></tr>`)
    .join('');
  const status = !v.subscribed
    ? `<p class="failed"><b>Not subscribed</b>: ${h(v.note ?? 'the subscription never opened')}.</p>`
    : missing > 0
      ? `<p class="failed"><b>${missing} stored event(s) never reached the WebSocket</b> (see the nothing-lost expectation).</p>`
      : '';
  return `<section id="websocket"><h2>What a person sees: events on ${h(v.path)}</h2>
<p class="muted">A subscriber on ${h(v.path)} for the whole run; each stored event of the run matched to the frame that carried it (by event id, batch id or detection ids), from the send time of the batch's earliest upload to the frame's receive time. Single and batched envelopes (the real HSI batches 100 ms / 50 messages) are both read.${v.gaps > 0 ? ` The subscription dropped ${v.gaps} time(s) and was reopened.` : ''}</p>
${status}<div class="table-wrap"><table class="data"><tbody>${rows}</tbody></table></div></section>`;
}
