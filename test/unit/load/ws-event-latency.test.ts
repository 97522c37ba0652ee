import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { wsFrameSentAtMs } from '../../../harness/contract/hsi-ws-events.ts';
import { runLoad } from '../../../harness/load/driver.ts';
import { MetricStore } from '../../../harness/load/metrics.ts';
import { ThresholdEvaluator } from '../../../harness/load/thresholds.ts';
import { PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { validateScenario } from '../../../harness/scenario/validate-scenario.ts';
import { MessageBatcher } from '../../../reference-stack/backend/event-broadcaster.ts';
import { EventStream } from '../../../reference-stack/backend/event-stream.ts';

/**
 * Issue 14/15: a threshold evaluated on zero samples must not pass silently. ws_event_latency is
 * the receive time minus the frame's send time; the real HSI's /ws/events frames carry no
 * top-level `timestamp` (single: `{type, data, sequence, requires_ack}`), its batches carry
 * `batched_at` (epoch seconds, backend/core/websocket/message_batcher.py). Before, the real
 * HSI's batches gave no sample and `ws_event_latency: p(95)<1000` passed on an empty trend.
 */

const EVENT = { type: 'event', data: { id: 7, event_id: 7, batch_id: 'b1', camera_id: 'front_door', risk_score: 20, risk_level: 'low', summary: 's', reasoning: 'r', started_at: '2026-12-02T00:00:00' }, sequence: 1, requires_ack: false };

describe('a /ws/events frame\'s send time (contract: wsFrameSentAtMs; k6-script.test.ts holds the k6 script\'s copy to it)', () => {
  const frames: [string, string, number | undefined][] = [
    ['reference single event, ISO timestamp', JSON.stringify({ type: 'event', data: { id: 1 }, timestamp: '2026-12-02T00:00:01.500Z' }), Date.parse('2026-12-02T00:00:01.500Z')],
    ['epoch-ms timestamp', JSON.stringify({ type: 'event', data: { id: 1 }, timestamp: 1_795_000_000_123 }), 1_795_000_000_123],
    ['real HSI batch, batched_at in epoch seconds', JSON.stringify({ type: 'batch', channel: 'events', count: 1, messages: [EVENT], batched_at: 1_795_000_000.25 }), 1_795_000_000_250],
    ['real HSI single event: no send time', JSON.stringify(EVENT), undefined],
    ['batched_at on a non-batch frame is not read', JSON.stringify({ type: 'event', data: {}, batched_at: 5 }), undefined],
    ['unparsable timestamp', JSON.stringify({ type: 'event', timestamp: 'yesterday' }), undefined],
  ];
  it.each(frames)('%s', (_what, text, expected) => {
    expect(wsFrameSentAtMs(text)).toBe(expected);
  });
  it('not JSON: no time', () => {
    expect(wsFrameSentAtMs('not json')).toBeUndefined();
  });
});

describe('thresholds on a metric with no samples: evaluated as k6 does, and named', () => {
  const evaluator = new ThresholdEvaluator({
    ws_event_latency: [{ threshold: 'p(95)<1000', abortOnFail: false }, { threshold: 'avg>0', abortOnFail: false }],
    checks: [{ threshold: 'rate>0.9', abortOnFail: false }],
    http_reqs: [{ threshold: 'count>=0', abortOnFail: false }],
    'ws_sessions{status:0}': [{ threshold: 'count<1', abortOnFail: false }],
  });
  const store = new MetricStore();
  store.defineBuiltins();
  evaluator.register(store);
  store.add('http_reqs', 1, {});

  it('at the end: an empty trend reads 0 (p(95)<1000 passes, avg>0 fails), an empty rate has no value and passes; each is marked noSamples', () => {
    const v = evaluator.evaluate(store, 10_000, { ignoreEmptySinks: false }).verdicts;
    expect(v.map((x) => [x.metric, x.threshold, x.ok, x.value, x.noSamples])).toEqual([
      ['ws_event_latency', 'p(95)<1000', true, 0, true],
      ['ws_event_latency', 'avg>0', false, 0, true],
      ['checks', 'rate>0.9', true, undefined, true],
      ['http_reqs', 'count>=0', true, 1, undefined],
      // an empty counter's 0 is a measured value: not marked
      ['ws_sessions{status:0}', 'count<1', true, 0, undefined],
    ]);
  });

  it('during the run, empty sinks are skipped (k6 ignoreEmptySinks) and not marked', () => {
    const v = evaluator.evaluate(store, 2_000, { ignoreEmptySinks: true }).verdicts;
    expect(v.filter((x) => x.noSamples)).toEqual([]);
  });
});

describe('the native driver\'s ws_event_latency on the real HSI\'s frames', () => {
  let server: Server | undefined;
  let publisher: NodeJS.Timeout | undefined;
  afterEach(async () => {
    clearInterval(publisher);
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  /** A /ws/events that sends what the real HSI sends: batches (batched_at) or single messages without a send time. */
  async function hsiEvents(batched: boolean): Promise<string> {
    const stream = new EventStream();
    const batcher = new MessageBatcher((b) => stream.send({ ...b }));
    server = createServer((_req, res) => res.writeHead(404).end());
    stream.attach(server);
    server.on('close', () => stream.close());
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    publisher = setInterval(() => (batched ? batcher.queue(EVENT) : stream.send(EVENT)), 40);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const scenario = () =>
    validateScenario(
      {
        name: 'ws-latency-unit',
        cameras: [{ id: 'front_door' }],
        limits: { maxDuration: '20s', maxRequests: 100 },
        websockets: { events: { path: '/ws/events', sessionDuration: '2s' } },
        scenarios: { subscribers: { executor: 'per-vu-iterations', vus: 1, iterations: 1, websocket: 'events' } },
        thresholds: { ws_event_latency: ['p(95)<30000'], ws_msgs_received: ['count>0'] },
      },
      { fixturesDir: resolve(PROJECT_ROOT, 'fixtures', 'images'), source: 'ws-latency-unit.ts', root: PROJECT_ROOT },
    );

  it('batches: one latency sample per frame, from batched_at', async () => {
    const result = await runLoad(scenario(), { backendUrl: await hsiEvents(true), progressLine: false });
    const latency = result.metrics['ws_event_latency'];
    // a frame every 100 ms for 2 s: what matters is that there are samples (the old rule had none)
    expect(latency?.type === 'trend' ? latency.values.count : -1).toBeGreaterThan(0);
    expect(result.thresholds.find((t) => t.metric === 'ws_event_latency')).toMatchObject({ ok: true });
    expect(result.thresholds.find((t) => t.metric === 'ws_event_latency')?.noSamples).toBeUndefined();
  }, 20_000);

  it('single messages without a send time: no sample, and the threshold says so instead of passing silently', async () => {
    const result = await runLoad(scenario(), { backendUrl: await hsiEvents(false), progressLine: false });
    const received = result.metrics['ws_msgs_received'];
    expect(received?.type === 'counter' ? received.values.count : -1).toBeGreaterThan(0);
    expect(result.thresholds.find((t) => t.metric === 'ws_event_latency')).toMatchObject({ ok: true, value: 0, noSamples: true });
  }, 20_000);
});
