import { describe, expect, it } from 'vitest';
import { MetricStore, parseMetricName } from '../../../harness/load/metrics.ts';
import { checkThreshold, parseThresholdExpression, ThresholdEvaluator } from '../../../harness/load/thresholds.ts';

describe('threshold expressions (k6 syntax)', () => {
  it('parses aggregations and operators', () => {
    expect(parseThresholdExpression('p(95)<2000')).toMatchObject({ aggregation: 'p', percentile: 95, operator: '<', value: 2000 });
    expect(parseThresholdExpression('p(99.9) <= 1.5')).toMatchObject({ aggregation: 'p', percentile: 99.9, operator: '<=', value: 1.5 });
    expect(parseThresholdExpression('rate<0.01')).toMatchObject({ aggregation: 'rate', operator: '<', value: 0.01 });
    expect(parseThresholdExpression('count>=10')).toMatchObject({ aggregation: 'count', operator: '>=', value: 10 });
    expect(parseThresholdExpression('avg > 1')).toMatchObject({ aggregation: 'avg', operator: '>' });
    expect(parseThresholdExpression('count===3')).toMatchObject({ operator: '===', value: 3 });
    expect(parseThresholdExpression('count==3')).toMatchObject({ operator: '==', value: 3 });
    expect(parseThresholdExpression('value!=0')).toMatchObject({ aggregation: 'value', operator: '!=', value: 0 });
    for (const a of ['min', 'max', 'med']) expect(parseThresholdExpression(`${a}<1`).aggregation).toBe(a);
  });
  it('rejects what k6 rejects', () => {
    expect(() => parseThresholdExpression('p(95)')).toThrowError(/malformed threshold expression/);
    expect(() => parseThresholdExpression('p(101)<5')).toThrowError(/between 0 and 100/);
    expect(() => parseThresholdExpression('p95<5')).toThrowError(/unknown aggregation "p95"/);
    expect(() => parseThresholdExpression('avg<fast')).toThrowError(/not a number/);
    expect(() => parseThresholdExpression('mean<5')).toThrowError(/unknown aggregation/);
  });
  it('checks the aggregation fits the metric type', () => {
    expect(checkThreshold('http_req_duration{scenario:steady}', 'p(95)<2000')).toBeUndefined();
    expect(checkThreshold('http_reqs', 'rate>5')).toBeUndefined();
    expect(checkThreshold('http_reqs', 'avg>5')).toMatch(/not supported on a counter metric \(use count, rate\)/);
    expect(checkThreshold('vus', 'max<5')).toMatch(/gauge metric \(use value\)/);
    expect(checkThreshold('nope', 'count<5')).toMatch(/no metric named "nope"/);
    expect(checkThreshold('http_reqs{scenario}', 'count<5')).toMatch(/malformed/);
  });
  it('parses submetric names like k6', () => {
    expect(parseMetricName('http_req_duration{scenario:steady}')).toEqual({ name: 'http_req_duration', tags: { scenario: 'steady' } });
    expect(parseMetricName('http_req_duration{ scenario : "x" ,status:202}')).toEqual({ name: 'http_req_duration', tags: { scenario: 'x', status: '202' } });
    expect(() => parseMetricName('x{a:1')).toThrowError(/unmatched/);
    expect(() => parseMetricName('x{a:1}y')).toThrowError(/last position/);
  });
});

function storeWith(durations: number[], failed: number[]): MetricStore {
  const store = new MetricStore('exact');
  store.defineBuiltins();
  store.submetric('http_req_duration{scenario:a}');
  durations.forEach((d, i) => {
    const tags = { scenario: i % 2 === 0 ? 'a' : 'b' };
    store.add('http_req_duration', d, tags);
    store.add('http_reqs', 1, tags);
    store.add('http_req_failed', failed[i] ?? 0, tags);
  });
  return store;
}

describe('threshold evaluation (k6 semantics)', () => {
  // durations 100, 200, ..., 1000 ms; scenario a gets 100, 300, 500, 700, 900
  const durations = Array.from({ length: 10 }, (_, i) => (i + 1) * 100);
  const failed = [0, 0, 1, 0, 0, 0, 0, 0, 0, 1];

  it('compares the hand-computed values', () => {
    const evaluator = new ThresholdEvaluator({
      http_req_duration: [
        { threshold: 'p(95)<956', abortOnFail: false }, // p(95) = 900 + 0.55 * 100 = 955
        { threshold: 'p(95)<954.9', abortOnFail: false },
        { threshold: 'avg==550', abortOnFail: false },
        { threshold: 'med<=550', abortOnFail: false }, // (500 + 600) / 2
        { threshold: 'min>=100', abortOnFail: false },
        { threshold: 'max<1000', abortOnFail: false },
      ],
      'http_req_duration{scenario:a}': [{ threshold: 'p(50)===500', abortOnFail: false }],
      http_req_failed: [{ threshold: 'rate<0.2', abortOnFail: false }, { threshold: 'rate<=0.2', abortOnFail: false }],
      http_reqs: [{ threshold: 'count==10', abortOnFail: false }, { threshold: 'rate>=2', abortOnFail: false }], // 10 in 5 s
    });
    // submetrics must exist before the samples arrive (as in k6)
    const fresh = new MetricStore('exact');
    fresh.defineBuiltins();
    evaluator.register(fresh);
    durations.forEach((d, i) => {
      const tags = { scenario: i % 2 === 0 ? 'a' : 'b' };
      fresh.add('http_req_duration', d, tags);
      fresh.add('http_reqs', 1, tags);
      fresh.add('http_req_failed', failed[i] ?? 0, tags);
    });
    const { verdicts, ok, abort } = evaluator.evaluate(fresh, 5000, { ignoreEmptySinks: false });
    const byExpr = Object.fromEntries(verdicts.map((v) => [`${v.metric} ${v.threshold}`, v]));
    expect(byExpr['http_req_duration p(95)<956']).toMatchObject({ ok: true, value: expect.closeTo(955, 9) });
    expect(byExpr['http_req_duration p(95)<954.9']?.ok).toBe(false);
    expect(byExpr['http_req_duration avg==550']).toMatchObject({ ok: true, value: 550 });
    expect(byExpr['http_req_duration med<=550']).toMatchObject({ ok: true, value: 550 });
    expect(byExpr['http_req_duration min>=100']?.ok).toBe(true);
    expect(byExpr['http_req_duration max<1000']).toMatchObject({ ok: false, value: 1000 });
    expect(byExpr['http_req_duration{scenario:a} p(50)===500']).toMatchObject({ ok: true, value: 500 });
    expect(byExpr['http_req_failed rate<0.2']).toMatchObject({ ok: false, value: 0.2 });
    expect(byExpr['http_req_failed rate<=0.2']?.ok).toBe(true);
    expect(byExpr['http_reqs count==10']?.ok).toBe(true);
    expect(byExpr['http_reqs rate>=2']).toMatchObject({ ok: true, value: 2 });
    expect(ok).toBe(false);
    expect(abort).toBe(false);
  });

  it('abortOnFail respects delayAbortEval', () => {
    const store = storeWith(durations, failed);
    const evaluator = new ThresholdEvaluator({ http_req_failed: [{ threshold: 'rate<0.1', abortOnFail: true, delayAbortEvalMs: 10_000 }] });
    expect(evaluator.evaluate(store, 5000, { ignoreEmptySinks: true })).toMatchObject({ ok: false, abort: false });
    expect(evaluator.evaluate(store, 10_001, { ignoreEmptySinks: true })).toMatchObject({ ok: false, abort: true });
    const now = new ThresholdEvaluator({ http_req_failed: [{ threshold: 'rate<0.1', abortOnFail: true }] });
    expect(now.evaluate(store, 1, { ignoreEmptySinks: true }).abort).toBe(true);
  });

  it('treats empty sinks like k6: skipped while running, zero trends at the end, absent rates pass', () => {
    const store = new MetricStore('hdr');
    store.defineBuiltins();
    const evaluator = new ThresholdEvaluator({
      http_req_duration: [{ threshold: 'avg>1', abortOnFail: true }],
      http_req_failed: [{ threshold: 'rate>0.5', abortOnFail: false }],
    });
    expect(evaluator.evaluate(store, 3000, { ignoreEmptySinks: true })).toMatchObject({ ok: true, abort: false });
    const end = evaluator.evaluate(store, 3000, { ignoreEmptySinks: false });
    expect(end.verdicts[0]).toMatchObject({ ok: false, value: 0 });
    expect(end.verdicts[1]?.ok).toBe(true);
    expect(end.verdicts[1]?.value).toBeUndefined();
  });
});
