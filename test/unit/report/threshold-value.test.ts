import { describe, expect, it, vi } from 'vitest';
import { printExperiment } from '../../../harness/cli/main.ts';
import { loadDoneLine } from '../../../harness/load/load-result.ts';
import { builtinThresholdValue, thresholdValue } from '../../../harness/report/format.ts';
import { makeModel } from './fixture-model.ts';

/**
 * Threshold values in the reports (summary.md, report.html, JUnit), in the unit of what the
 * expression compared. The `mixed` run's report showed `http_req_waiting p(95)<2000 | 216.72`,
 * `ws_connecting | 132.53` (ms, unlabelled) and `checks rate>0.99 | 1` (a share): the unit came
 * from words in the metric's name.
 */
const v = (metric: string, expression: string, value: number) => thresholdValue({ metric, expression, ok: true, value });

describe('threshold values: the unit from the metric type, contains and aggregation', () => {
  it("the mixed scenario's twelve thresholds read as a k6 user expects", () => {
    expect(v('http_req_waiting', 'p(95)<2000', 216.7168)).toBe('217 ms');
    expect(v('ws_connecting', 'p(95)<1000', 132.5312)).toBe('133 ms');
    expect(v('checks{check:status is 200}', 'rate>0.99', 1)).toBe('100.00 %');
    expect(v('http_req_failed{scenario:cameras}', 'rate<0.01', 0)).toBe('0.00 %');
    expect(v('http_req_duration{scenario:dashboard}', 'p(95)<2000', 253.72)).toBe('254 ms');
    expect(v('ws_sessions{status:101}', 'count>=3', 9)).toBe('9');
    expect(v('ws_msgs_received', 'count>0', 21)).toBe('21');
    expect(v('ws_event_latency', 'p(95)<2000', 76)).toBe('76.0 ms');
  });

  it('counts of a trend are numbers, data is bytes, a counter rate is per second', () => {
    expect(v('http_req_duration', 'count>100', 257)).toBe('257');
    expect(v('data_sent', 'count>100000', 28_522_368)).toBe('28.5 MB');
    expect(v('data_received', 'rate>1000', 17_167.45)).toBe('17,167.45/s');
    expect(v('http_reqs', 'rate>5', 8.29)).toBe('8.29/s');
    expect(v('vus', 'value<20', 10)).toBe('10');
    expect(v('iteration_duration', 'avg<5000', 846.16)).toBe('846 ms');
  });

  it('custom metrics and unreadable expressions keep the name-based format', () => {
    expect(builtinThresholdValue('event_list_duration', 'p(95)<2000', 201.5)).toBeUndefined();
    expect(v('event_list_duration', 'p(95)<2000', 201.5)).toBe('202 ms');
    expect(builtinThresholdValue('http_req_duration', 'p(95)<2000 && x>1', 2500)).toBeUndefined();
    expect(v('http_req_duration', 'p(95)<2000 && x>1', 2500)).toBe('2500 ms');
    expect(thresholdValue({ metric: 'http_req_waiting', expression: 'p(95)<2000', ok: true })).toBe('n/a');
  });
});

describe('the end-of-load line', () => {
  const counter = (count: number) => ({ type: 'counter' as const, contains: 'default' as const, values: { count, rate: 0 } });
  it('keeps HTTP requests and WebSocket sessions apart (the mixed run printed "266 sent, 266 accepted" for 257 requests and 9 sessions)', () => {
    const requests = { sent: 266, completed: 266, interrupted: 0, dropped: 0, accepted: 266, failed: 0 };
    expect(loadDoneLine({ requests, aborted: false, metrics: { http_reqs: counter(257), ws_sessions: counter(9) } })).toBe('load done: 257 HTTP requests and 9 WebSocket sessions (266 sent, 0 failed)');
    expect(loadDoneLine({ requests: { ...requests, sent: 180, accepted: 179, failed: 1 }, aborted: false, metrics: { http_reqs: counter(180) } })).toBe('load done: 180 sent, 179 accepted, 1 failed');
  });
});

describe('the terminal summary', () => {
  it('prints threshold values with their unit, as the reports do', () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string) => out.push(chunk) > 0) as typeof process.stdout.write);
    try {
      printExperiment(makeModel({ thresholds: [{ metric: 'http_req_waiting', expression: 'p(95)<2000', ok: true, value: 216.7168 }, { metric: 'checks', expression: 'rate>0.99', ok: true, value: 1 }] }), '/tmp/x');
    } finally {
      spy.mockRestore();
    }
    const text = out.join('');
    expect(text).toMatch(/threshold +ok +http_req_waiting: p\(95\)<2000 \(217 ms\)/);
    expect(text).toMatch(/threshold +ok +checks: rate>0\.99 \(100\.00 %\)/);
  });
});
