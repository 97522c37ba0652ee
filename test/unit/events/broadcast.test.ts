import { describe, expect, it } from 'vitest';
import { broadcastLatency, checkEveryEventBroadcast, matchBroadcasts } from '../../../assertions/lost/broadcast.ts';
import type { PipelineOutcome } from '../../../assertions/lost/outcome.ts';
import { evaluateExpectations, parseExpectations } from '../../../assertions/expectations.ts';
import { decodeWsFrame } from '../../../harness/contract/hsi-ws-events.ts';
import type { BroadcastLog, BroadcastReceipt } from '../../../harness/events/event-stream-recorder.ts';
import { eventStreamLine, eventStreamProperties } from '../../../harness/report/event-stream-view.ts';
import { eventStreamView } from '../../../assertions/hsi/experiment-evaluator.ts';

/** Two events: 10 (batch b-1: uploads a and b) and 11 (batch b-2: upload c). */
function outcome(): PipelineOutcome {
  return {
    detections: [
      { id: '1', file_path: '/a.jpg' },
      { id: '2', file_path: '/b.jpg' },
      { id: '3', file_path: '/c.jpg' },
    ],
    eventDetections: [
      { event_id: '10', detection_id: '1' },
      { event_id: '10', detection_id: '2' },
      { event_id: '11', detection_id: '3' },
    ],
    events: [
      { id: '10', batch_id: 'b-1', trace_id: 'a'.repeat(32) },
      { id: '11', batch_id: 'b-2', trace_id: 'b'.repeat(32) },
    ],
    dlq: { detection: [], analysis: [] },
  };
}

const uploads = [
  { filePath: '/a.jpg', sentEpochMs: 1_000 },
  { filePath: '/b.jpg', sentEpochMs: 1_400 },
  { filePath: '/c.jpg', sentEpochMs: 2_000 },
];

function log(frames: [number, string][], extra: Partial<BroadcastLog> = {}): BroadcastLog {
  const receipts: BroadcastReceipt[] = frames.map(([at, text]) => {
    const f = decodeWsFrame(text);
    return { receivedEpochMs: at, form: f.form, events: f.events, ...(f.problem ? { problem: f.problem } : {}) };
  });
  return { path: '/ws/events', subscribed: true, receipts, gaps: [], ...extra };
}

const single = (data: Record<string, unknown>) => JSON.stringify({ type: 'event', data, timestamp: new Date().toISOString() });

describe('decodeWsFrame: both envelopes of /ws/events', () => {
  it('reads the reference stack single message and the real HSI batch', () => {
    expect(decodeWsFrame(single({ id: 7, batch_id: 'x', camera_id: 'front_door' }))).toEqual({ form: 'single', events: [{ eventId: '7', batchId: 'x', cameraId: 'front_door' }] });
    const batch = JSON.stringify({ type: 'batch', channel: 'events', count: 2, messages: [{ type: 'event', data: { id: 1, event_id: 1, batch_id: 'u1' } }, { type: 'event', data: { event_id: 2 } }], batched_at: 1.5 });
    expect(decodeWsFrame(batch)).toEqual({ form: 'batch', events: [{ eventId: '1', batchId: 'u1' }, { eventId: '2' }] });
  });

  it('names what is wrong, and counts other message types as carrying no event', () => {
    expect(decodeWsFrame('{nope')).toMatchObject({ form: 'invalid', problem: 'not JSON' });
    expect(decodeWsFrame(JSON.stringify({ type: 'service_status', data: {} }))).toEqual({ form: 'other', events: [] });
    expect(decodeWsFrame(single({ summary: 'no id' }))).toMatchObject({ form: 'invalid', problem: expect.stringMatching(/without id/) });
    expect(decodeWsFrame(JSON.stringify({ type: 'batch', count: 3, messages: [] }))).toMatchObject({ form: 'batch', problem: 'batch count 3 but 0 messages' });
  });
});

describe('matchBroadcasts and upload → WebSocket latency', () => {
  it('measures from the batch earliest upload, matching by event id or batch id', () => {
    const m = matchBroadcasts(outcome(), uploads, log([[1_900, single({ id: 10 })], [2_600, JSON.stringify({ type: 'batch', messages: [{ type: 'event', data: { batch_id: 'b-2' } }] })]]));
    expect(m.events).toEqual([
      expect.objectContaining({ eventId: '10', firstUploadEpochMs: 1_000, receivedEpochMs: 1_900, latencyMs: 900, matchedBy: 'event id' }),
      expect.objectContaining({ eventId: '11', firstUploadEpochMs: 2_000, receivedEpochMs: 2_600, latencyMs: 600, matchedBy: 'batch id' }),
    ]);
    expect(m.frames).toEqual({ single: 1, batch: 1, other: 0, invalid: 0 });
    expect(broadcastLatency(m)).toMatchObject({ count: 2, p50Ms: 750, maxMs: 900 });
    expect(checkEveryEventBroadcast(m, { graceMs: 2000 }).passed).toBe(true);
  });

  it('matches by detection ids when the message names them, and counts unrelated events', () => {
    const m = matchBroadcasts(outcome(), uploads, log([[3_000, single({ detection_ids: [3] })], [3_100, single({ id: 99 })], [3_200, single({ id: 10 })]]));
    expect(m.events.find((e) => e.eventId === '11')).toMatchObject({ matchedBy: 'detection ids', latencyMs: 1_000 });
    expect(m.unrelated).toBe(2);
  });

  it('fails when a stored event never reached a subscriber, naming the event and its batch (counter-example)', () => {
    const m = matchBroadcasts(outcome(), uploads, log([[1_900, single({ id: 10, batch_id: 'b-1' })]]));
    const r = checkEveryEventBroadcast(m, { graceMs: 2000 });
    expect(r.passed).toBe(false);
    expect(r.family).toBe('nothing-lost');
    expect(r.message).toBe('1/2 stored events never reached /ws/events: event 11 (batch b-2): stored in PostgreSQL, received by no subscriber');
    expect(r.exampleTraceIds).toEqual(['b'.repeat(32)]);
    expect(broadcastLatency(m).count).toBe(1);
  });

  it('fails without a subscription, and says how to turn the check off', () => {
    const m = matchBroadcasts(outcome(), uploads, log([], { subscribed: false, note: 'closed before opening (code 1006)' }));
    const r = checkEveryEventBroadcast(m, { graceMs: 2000 });
    expect(r.passed).toBe(false);
    expect(r.message).toMatch(/^no subscription to \/ws\/events: closed before opening \(code 1006\).*"broadcasts": false/);
  });

  it('mentions the subscription gaps when events are missing', () => {
    const m = matchBroadcasts(outcome(), uploads, log([], { gaps: [{ fromEpochMs: 1, toEpochMs: 2 }] }));
    expect(checkEveryEventBroadcast(m, { graceMs: 0 }).message).toMatch(/subscription was down 1 time/);
  });
});

describe('nothing-lost with broadcasts', () => {
  const uploadEvidence = [
    { traceId: 'a'.repeat(32), status: 202, filePath: '/a.jpg' },
    { traceId: 'b'.repeat(32), status: 202, filePath: '/b.jpg' },
    { traceId: 'c'.repeat(32), status: 202, filePath: '/c.jpg' },
  ];
  const broken = matchBroadcasts(outcome(), uploads, log([[1_900, single({ id: 10 })]]));

  it('adds the broadcast check to the family, off with broadcasts: false or endStage detections', () => {
    const results = (e: Record<string, unknown>) => evaluateExpectations(parseExpectations([e]), { traces: [], uploads: uploadEvidence, pipelineOutcome: outcome(), broadcasts: broken, broadcastGraceMs: 2000 });
    const on = results({ family: 'nothing-lost' });
    expect(on.map((r) => [r.name, r.passed])).toEqual([
      ['nothing lost', true],
      ['every event broadcast on /ws/events', false],
    ]);
    expect(results({ family: 'nothing-lost', broadcasts: false })).toHaveLength(1);
    expect(results({ family: 'nothing-lost', endStage: 'detections' })).toHaveLength(1);
  });

  it('asks for the evidence when broadcasts: true and the run did not subscribe', () => {
    const r = evaluateExpectations(parseExpectations([{ family: 'nothing-lost', broadcasts: true }]), { traces: [], uploads: uploadEvidence, pipelineOutcome: outcome() });
    expect(r[1]).toMatchObject({ passed: false, message: 'nothing-lost: cannot evaluate: a /ws/events subscription was not collected' });
  });
});

describe('the report view', () => {
  it('says the latency percentiles and the counts in one line and as JUnit properties', () => {
    const v = eventStreamView(matchBroadcasts(outcome(), uploads, log([[1_900, single({ id: 10 })], [2_600, single({ id: 11 })]])));
    expect(eventStreamLine(v)).toBe('upload → /ws/events event p50 750 ms, p95 885 ms, p99 897 ms (n=2); 2/2 stored events received (2 single, 0 batched frames)');
    expect(Object.fromEntries(eventStreamProperties(v))).toMatchObject({ 'ws.upload_to_event.p95': '885.0', 'ws.events.received': '2', 'ws.upload_to_event.count': '2' });
  });
});

describe('the report writers show the WebSocket figures', () => {
  it('report.html has the section, summary.md the line, junit.xml the properties, summary.json round-trips', async () => {
    const { makeModel } = await import('../report/fixture-model.ts');
    const { renderReportHtml } = await import('../../../harness/report/html/report-html.ts');
    const { renderSummaryMarkdown } = await import('../../../harness/report/summary-md.ts');
    const { renderJunitXml } = await import('../../../harness/report/junit.ts');
    const { parseRunReport } = await import('../../../harness/report/report-schema.ts');
    const view = eventStreamView(matchBroadcasts(outcome(), uploads, log([[1_900, single({ id: 10 })]])));
    const model = makeModel({ eventStream: view });
    const html = renderReportHtml(model);
    expect(html).toContain('<section id="websocket">');
    expect(html).toContain('1 stored event(s) never reached the WebSocket');
    expect(renderSummaryMarkdown(model)).toContain('WebSocket: upload → /ws/events event p50 900 ms');
    expect(renderJunitXml(model)).toContain('<property name="ws.events.received" value="1"/>');
    expect(parseRunReport(JSON.parse(JSON.stringify(model)), 'summary.json').eventStream).toEqual(view);
  });
});
