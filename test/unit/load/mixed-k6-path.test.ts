import { describe, expect, it } from 'vitest';
import { K6JsonOutputReader, k6ToLoadResult } from '../../../harness/load/k6/k6-output.ts';
import { renderK6, type RenderedScenario } from '../../../harness/load/k6/render-k6.ts';
import { K6_BUILTIN_METRICS } from '../../../harness/load/metrics.ts';
import { loadScenario } from '../../../harness/scenario/load-scenario.ts';
import type { Scenario } from '../../../harness/scenario/scenario-types.ts';

/**
 * The mixed scenario on the k6 path (k6 itself cannot run here): its rendered options carry every
 * threshold for k6 to evaluate, and the converter evaluates every one of them, with an observed
 * value, on `--out json` lines shaped as k6 writes them for what the script does (tags as k6 sets
 * them: system tags, the request kind's tags and name, check names, the subscriber's tags).
 */
const T0 = Date.parse('2026-12-01T12:00:00Z');
type Tags = Record<string, string>;

class PointWriter {
  readonly lines: string[] = [];
  private readonly declared = new Set<string>();
  point(metric: string, atMs: number, value: number, tags: Tags): void {
    if (!this.declared.has(metric)) {
      this.declared.add(metric);
      const m = K6_BUILTIN_METRICS[metric] ?? { type: 'trend', contains: 'time' };
      this.lines.push(JSON.stringify({ type: 'Metric', data: { type: m.type, contains: m.contains, thresholds: [], submetrics: null }, metric }));
    }
    this.lines.push(JSON.stringify({ type: 'Point', data: { time: new Date(atMs).toISOString(), value, tags }, metric }));
  }
  /** one HTTP request as k6's http module writes it */
  http(atMs: number, ms: number, ok: boolean, tags: Tags): void {
    const t = { ...tags, expected_response: String(ok), proto: 'HTTP/1.1', group: '' };
    this.point('http_reqs', atMs, 1, t);
    this.point('http_req_duration', atMs, ms, t);
    this.point('http_req_blocked', atMs, 0.1, t);
    this.point('http_req_connecting', atMs, 0, t);
    this.point('http_req_sending', atMs, 0.05, t);
    this.point('http_req_waiting', atMs, ms - 0.2, t);
    this.point('http_req_receiving', atMs, 0.05, t);
    this.point('http_req_failed', atMs, ok ? 0 : 1, t);
  }
}

/** What the k6 script emits for `mixed`: uploads, dashboard request kinds with checks and custom metrics, subscribers. */
function mixedPoints(s: Scenario, r: RenderedScenario, o: { messages: number }): string[] {
  const w = new PointWriter();
  for (let i = 0; i < 30; i++) {
    const camera = r.cameras[r.sequences['cameras']?.[i % 3] ?? 0]?.id ?? '';
    w.http(T0 + i * 166, 12 + (i % 5), true, { scenario: 'cameras', camera, name: 'POST /api/cameras/{camera_id}/uploads', method: 'POST', status: '202', url: `http://b/api/cameras/${camera}/uploads` });
    w.point('iterations', T0 + i * 166, 1, { scenario: 'cameras' });
  }
  const sequence = r.requestSequences['dashboard'] ?? [];
  sequence.forEach((kind, i) => {
    const req = r.requests[kind];
    if (!req) return;
    const at = T0 + 500 + i * 400;
    w.http(at, 20 + i, true, { ...req.tags, scenario: 'dashboard', name: req.name, method: req.method, status: '200', url: `http://b${req.path}` });
    for (const check of Object.keys(req.checks)) w.point('checks', at, 1, { ...req.tags, scenario: 'dashboard', check, group: '' });
    for (const metric of Object.keys(req.metrics)) w.point(metric, at, 20 + i, { ...req.tags, scenario: 'dashboard' });
  });
  const sub = s.websockets['events'];
  for (let v = 0; v < 3; v++) {
    const tags = { scenario: 'subscribers', status: '101', url: 'ws://b/ws/events', group: '' };
    for (let m = 0; m < o.messages; m++) {
      w.point('ws_msgs_received', T0 + 1000 + m * 100, 1, tags);
      w.point('ws_event_latency', T0 + 1000 + m * 100, 40 + m, { ...sub?.tags, scenario: 'subscribers' });
    }
    w.point('ws_sessions', T0 + 10_000, 1, tags);
    w.point('ws_connecting', T0 + 10_000, 3 + v, tags);
    w.point('ws_session_duration', T0 + 10_000, 10_000, tags);
  }
  return w.lines;
}

async function convert(o: { messages: number }) {
  const s = await loadScenario('mixed');
  const r = renderK6(s, { backendUrl: 'http://b' });
  const reader = new K6JsonOutputReader(Object.keys(s.scenarios), Object.keys(s.thresholds), s.metrics);
  for (const line of mixedPoints(s, r, o)) reader.addLine(line);
  const executors = Object.fromEntries(Object.entries(s.scenarios).map(([n, w]) => [n, w.executor]));
  return { s, r, result: k6ToLoadResult({ scenario: s.name, executors, points: reader, thresholds: s.thresholds }) };
}

describe('the mixed scenario on the k6 path', () => {
  it('k6 gets every threshold of the scenario and the custom metrics to declare', async () => {
    const { s, r } = await convert({ messages: 5 });
    for (const [metric, specs] of Object.entries(s.thresholds)) expect(r.options.thresholds[metric], metric).toEqual(specs.map((t) => t.threshold));
    expect(Object.keys(r.metrics)).toEqual(expect.arrayContaining(['event_list_duration']));
    expect(Object.values(r.options.scenarios).map((e) => e['exec'] ?? 'default')).toEqual(['default', 'api', 'subscriber']);
  });

  it('the converter evaluates all 12 thresholds, each with an observed value', async () => {
    const { s, result } = await convert({ messages: 5 });
    expect(result.thresholds).toHaveLength(12);
    expect(result.thresholds.map((t) => `${t.metric}: ${t.threshold}`).sort()).toEqual(
      Object.entries(s.thresholds).flatMap(([m, specs]) => specs.map((t) => `${m}: ${t.threshold}`)).sort(),
    );
    expect(result.thresholds.filter((t) => t.value === undefined)).toEqual([]);
    expect(result.thresholds.filter((t) => !t.ok)).toEqual([]);
    expect(result.thresholds.find((t) => t.metric === 'ws_sessions{status:101}')?.value).toBe(3);
    expect(result.thresholds.find((t) => t.metric === 'checks{check:status is 200}')?.value).toBe(1);
    expect(result.scenarios['dashboard']?.http_reqs.count).toBeGreaterThan(0);
  });

  it('a silent /ws/events fails ws_msgs_received there too (the verdicts can fail)', async () => {
    const { result } = await convert({ messages: 0 });
    expect(result.thresholds.find((t) => t.metric === 'ws_msgs_received')).toMatchObject({ ok: false, value: 0 });
    expect(result.thresholdsPassed).toBe(false);
    expect(result.exitCode).toBe(99);
  });
});
