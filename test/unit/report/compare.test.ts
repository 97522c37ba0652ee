import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../harness/errors.ts';
import { compareCommand, compareRunDirs, compareRuns, comparisonExitCode, runResultsOf, writeComparison, type ComparisonReport } from '../../../harness/report/compare.ts';
import { erfc, mannWhitneyU, normalCdf } from '../../../harness/report/mann-whitney.ts';
import type { RunReportModel } from '../../../harness/report/report-model.ts';
import { parseRequestSamples } from '../../../harness/report/request-samples.ts';
import { RunResults } from '../../../harness/util/run-results.ts';
import { writeSummaryJson } from '../../../harness/report/summary-json.ts';
import { timeSeriesFromSamples, type LatencySample } from '../../../harness/report/time-series.ts';
import { generateSamples, loadOf, makeModel } from './fixture-model.ts';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function run(samples: LatencySample[], runId: string, seconds = 300, extra: Partial<RunReportModel> = {}): RunReportModel {
  return makeModel({ runId, load: loadOf(samples, seconds), timeSeries: timeSeriesFromSamples(samples), ...extra });
}
const latencies = (s: LatencySample[]) => s.map((x) => x.latencyMs);
const metric = (c: ComparisonReport, name: string) => c.metrics.find((m) => m.metric === name)!;

describe('Mann–Whitney U', () => {
  it('matches a hand-computed example with ties', () => {
    // current 12 15 15 20 22, baseline 10 11 15 13. Pooled ranks: 10→1 11→2 12→3 13→4 15,15,15→6 20→8 22→9.
    // R1 = 3+6+6+8+9 = 32, U1 = 32 − 5·6/2 = 17, U2 = 20 − 17 = 3, mean = 10.
    // Ties: one group of 3 → Σ(t³−t) = 24; σ² = 20/12 · (10 − 24/72) = 145/9; σ = 4.01386.
    // z = (17 − 10 − 0.5)/σ = 1.61939; p = erfc(z/√2) = 0.105364.
    const r = mannWhitneyU([12, 15, 15, 20, 22], [10, 11, 15, 13]);
    expect(r.u1).toBe(17);
    expect(r.u2).toBe(3);
    expect(r.meanU).toBe(10);
    expect(r.tieTerm).toBe(24);
    expect(r.sigmaU).toBeCloseTo(Math.sqrt(145 / 9), 10);
    expect(r.z).toBeCloseTo(1.6193869, 6);
    expect(r.pValue).toBeCloseTo(0.1053641, 6);
    expect(r.probabilityOfSuperiority).toBeCloseTo(17 / 20, 12);
  });

  it('matches a hand-computed example without ties (scipy asymptotic: p = 0.0808556)', () => {
    // U1 = 0, mean 4.5, σ² = 9·7/12 = 5.25, z = (0 − 4.5 + 0.5)/√5.25 = −1.745743.
    const r = mannWhitneyU([1, 2, 3], [4, 5, 6]);
    expect(r.u1).toBe(0);
    expect(r.z).toBeCloseTo(-1.7457431, 6);
    expect(r.pValue).toBeCloseTo(0.0808556, 6);
    expect(mannWhitneyU([4, 5, 6], [1, 2, 3]).z).toBeCloseTo(1.7457431, 6);
  });

  it('says p = 1 when both samples are one constant; erfc/Φ are accurate', () => {
    expect(mannWhitneyU([5, 5, 5], [5, 5]).pValue).toBe(1);
    expect(erfc(0)).toBeCloseTo(1, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-2.575829)).toBeCloseTo(0.005, 6);
  });
});

describe('compareRuns', () => {
  const base = generateSamples({ seed: 'baseline' });

  it('flags a clear regression (every latency ×2) and returns exit code 1 with --fail-on-regression', () => {
    const slow = base.map((s) => ({ ...s, latencyMs: s.latencyMs * 2 }));
    const c = compareRuns(run(slow, 'run-b'), run(base, 'run-a'), { currentSamples: latencies(slow), baselineSamples: latencies(base) });
    for (const name of ['http_req_duration p50', 'http_req_duration p95', 'http_req_duration p99']) {
      const m = metric(c, name);
      expect(m.verdict, m.reason).toBe('regressed');
      expect(m.relative).toBeCloseTo(1, 6);
      expect(m.shiftTest!.pValue).toBeLessThan(1e-10);
      expect(m.shiftTest!.direction).toBe('regressed');
    }
    expect(metric(c, 'http_req_failed rate').verdict).toBe('unchanged');
    expect(metric(c, 'http_reqs throughput').verdict).toBe('unchanged');
    expect(c.verdict).toBe('regressed');
    expect(c.uTestApplied).toBe(true);
    expect(comparisonExitCode(c, true)).toBe(1);
    expect(comparisonExitCode(c, false)).toBe(0);
    // And the other way round it is an improvement, not a failure.
    const back = compareRuns(run(base, 'run-c'), run(slow, 'run-b'), { currentSamples: latencies(base), baselineSamples: latencies(slow) });
    expect(back.verdict).toBe('improved');
    expect(comparisonExitCode(back, true)).toBe(0);
  });

  it('does not flag two runs drawn from the same distribution', () => {
    const again = generateSamples({ seed: 'tonight' });
    const c = compareRuns(run(again, 'run-b'), run(base, 'run-a'), { currentSamples: latencies(again), baselineSamples: latencies(base) });
    expect(c.regressions).toBe(0);
    expect(c.verdict).toBe('unchanged');
    expect(comparisonExitCode(c, true)).toBe(0);
  });

  it('the U test keeps noise from flagging: small runs whose percentiles move beyond the tolerance by chance', () => {
    let beyondTolerance = 0;
    let flagged = 0;
    for (let i = 0; i < 40; i += 1) {
      const a = generateSamples({ seed: `a${i}`, seconds: 30, perSecond: 2, withFaults: false, medianMs: 300 });
      const b = generateSamples({ seed: `b${i}`, seconds: 30, perSecond: 2, withFaults: false, medianMs: 300 });
      const c = compareRuns(run(a, `a${i}`, 30), run(b, `b${i}`, 30), { currentSamples: latencies(a), baselineSamples: latencies(b) });
      if (c.metrics.some((m) => m.beyondTolerance === 'regressed')) beyondTolerance += 1;
      flagged += c.regressions;
      for (const m of c.metrics.filter((x) => x.beyondTolerance === 'regressed')) expect(m.reason).toMatch(/within noise \(U test of the requests shifted by [\d.]+ ms: p = [\d.e+-]+ ≥ 0\.01, n = 60 \/ 60, (exact|normal)\)/);
    }
    expect(beyondTolerance).toBeGreaterThan(3); // the tolerance alone would have flagged these
    expect(flagged).toBe(0);
  });

  it('without samples the tolerance alone decides: > 20 % AND > 50 ms', () => {
    const a = run(base, 'run-a');
    const b = run(base, 'run-b');
    const d = a.load!.httpReqDuration;
    b.load = { ...a.load!, httpReqDuration: { ...d, med: d.med * 1.3, p95: d.p95 + 40, p99: d.p99 * 1.19 } };
    const c = compareRuns(b, a);
    expect(metric(c, 'http_req_duration p50').verdict).toBe(d.med * 0.3 > 50 ? 'regressed' : 'unchanged');
    expect(metric(c, 'http_req_duration p95').verdict).toBe('unchanged'); // +40 ms: under 50 ms
    expect(metric(c, 'http_req_duration p99').verdict).toBe('unchanged'); // +19 %
    expect(c.uTestApplied).toBe(false);
    expect(c.notes.join(' ')).toContain('no per-request samples');
  });

  it('failed rate: worse by more than 1 percentage point; throughput: lower by more than 20 %', () => {
    const a = run(base, 'run-a');
    const worse = makeModel({ ...a, runId: 'run-b', load: { ...a.load!, httpReqFailedRate: a.load!.httpReqFailedRate + 0.015, httpReqsPerSec: a.load!.httpReqsPerSec * 0.7 } });
    const c = compareRuns(worse, a);
    expect(metric(c, 'http_req_failed rate').verdict).toBe('regressed');
    expect(metric(c, 'http_req_failed rate').reason).toMatch(/\+1\.50 pp/);
    expect(metric(c, 'http_reqs throughput').verdict).toBe('regressed');
    const slightly = makeModel({ ...a, runId: 'run-c', load: { ...a.load!, httpReqFailedRate: a.load!.httpReqFailedRate + 0.005 } });
    expect(metric(compareRuns(slightly, a), 'http_req_failed rate').verdict).toBe('unchanged');
  });

  it('compares the p95 of operations present in both runs; lists the others', () => {
    const a = makeModel({ runId: 'run-a' });
    const ops = a.operations.map((o) => ({ ...o }));
    ops[1]!.p95Ms *= 2; // detection_processing: 1623 → 3246 ms
    ops[3]!.p95Ms *= 2; // redis BRPOP: 3.9 → 7.8 ms, +100 % but only +3.9 ms
    ops.push({ service: 'nemotron-llm', name: 'POST /completion', count: 10, p50Ms: 1, p90Ms: 1, p95Ms: 1, p99Ms: 1 });
    const c = compareRuns(makeModel({ runId: 'run-b', operations: ops }), a);
    const byName = (s: string) => c.operations.find((m) => m.metric.includes(s))!;
    expect(byName('detection_processing').verdict).toBe('regressed');
    expect(byName('BRPOP').verdict).toBe('unchanged');
    expect(c.operations).toHaveLength(a.operations.length);
    expect(c.onlyInCurrent).toEqual(['nemotron-llm POST /completion']);
  });

  it('without per-span samples an operation with too few spans is never called regressed (its p95 is its maximum)', () => {
    const a = makeModel({ runId: 'run-a' });
    const few = (count: number, p95Ms: number) => [{ service: 'nemotron-backend', name: 'analysis_processing', count, p50Ms: p95Ms / 2, p90Ms: p95Ms, p95Ms, p99Ms: p95Ms }];
    const twice = compareRuns(makeModel({ runId: 'run-b', operations: few(8, 4200) }), makeModel({ ...a, operations: few(12, 2100) }));
    expect(twice.operations[0]).toMatchObject({ beyondTolerance: 'regressed', verdict: 'unchanged' });
    expect(twice.operations[0]!.reason).toBe('2100 ms → 4200 ms (+100.0 %, +2100 ms): beyond tolerance but too few spans to judge without per-span samples (12 and 8; needs operation-samples.json or ≥ 20 in both)');
    expect(twice.regressions).toBe(0);
    expect(compareRuns(makeModel({ runId: 'run-b', operations: few(40, 4200) }), makeModel({ ...a, operations: few(20, 2100) })).operations[0]!.verdict).toBe('regressed');
  });
  it('notes a different scenario and a baseline that ended in error', () => {
    const a = makeModel({ runId: 'run-a', scenario: { name: 'other' }, verdict: 'error', errors: ['stack did not start'], load: undefined });
    const c = compareRuns(makeModel({ runId: 'run-b' }), a);
    expect(c.notes.join('\n')).toMatch(/different scenarios/);
    expect(c.notes.join('\n')).toMatch(/baseline run ended with verdict error \(stack did not start\)/);
    expect(metric(c, 'http_req_duration p95')).toMatchObject({ comparable: false, verdict: 'unchanged', reason: 'not measured in the baseline' });
  });
});

describe('compare on disk', () => {
  function writeRun(root: string, model: RunReportModel, samples?: LatencySample[]): string {
    const results = new RunResults(root, model.runId);
    writeSummaryJson(results, model);
    if (samples) writeFileSync(results.path('requests.ndjson'), samples.map((s) => JSON.stringify({ traceId: 'x', status: s.ok ? 202 : 503, accepted: s.ok, latencyMs: s.latencyMs })).join('\n') + '\n');
    return results.dir;
  }

  it('reads both runs (summary.json + requests.ndjson), writes comparison.json and comparison.md', () => {
    const root = mkdtempSync(join(tmpdir(), 'hsi-compare-'));
    roots.push(root);
    const base = generateSamples({ seed: 'disk-a' });
    const slow = generateSamples({ seed: 'disk-b', factor: 2 });
    const baselineDir = writeRun(root, run(base, 'run-20261123T020000Z-aaaaaa'), base);
    const currentDir = writeRun(root, run(slow, 'run-20261124T020000Z-bbbbbb'), slow);
    const c = compareRunDirs(currentDir, baselineDir);
    expect(c.uTestApplied).toBe(true);
    expect(c.current.samples).toBe(3000);
    expect(c.verdict).toBe('regressed');
    const files = writeComparison(runResultsOf(currentDir), c);
    const json = JSON.parse(readFileSync(files.json, 'utf8')) as ComparisonReport;
    expect(json.schemaVersion).toBe(1);
    expect(json.regressions).toBe(c.regressions);
    const md = readFileSync(files.markdown, 'utf8');
    expect(md.split('\n')[0]).toBe('## hsi-chaos compare: REGRESSED');
    const firstRow = md.split('\n').find((l) => l.startsWith('| **REGRESSED**') || l.startsWith('| unchanged'));
    expect(firstRow).toMatch(/^\| \*\*REGRESSED\*\* \| http_req_duration/);
    expect(md).toContain('one-sided Mann–Whitney U test of the requests (spans, for operations) shifted by the tolerance, at α = 0.01 (n = 3000 / 3000 requests)');
  });

  it('compareCommand: run ids under the results root, exit code for --fail-on-regression, printable lines', () => {
    const root = mkdtempSync(join(tmpdir(), 'hsi-compare-'));
    roots.push(root);
    const base = generateSamples({ seed: 'cmd-a' });
    const slow = base.map((s) => ({ ...s, latencyMs: s.latencyMs * 2 }));
    writeRun(root, run(base, 'run-a'), base);
    writeRun(root, run(slow, 'run-b'), slow);
    const result = compareCommand({ current: 'run-b', baseline: 'run-a', resultsRoot: root, failOnRegression: true });
    expect(result.exitCode).toBe(1);
    expect(result.lines[0]).toBe('compare run-b vs baseline run-a: REGRESSED (3 regressed, 0 improved, U test applied)');
    expect(result.lines[1]).toMatch(/^  REGRESSED http_req_duration p50: .* → .* \(\+100\.0 %, \+.*\): beyond tolerance and U test of the requests shifted by [\d.]+ ms: p = .* < 0\.01 \(n = 3000 \/ 3000, normal\)$/);
    expect(result.files.json).toBe(join(root, 'run-b', 'comparison.json'));
    expect(compareCommand({ current: 'run-b', baseline: 'run-a', resultsRoot: root, failOnRegression: false }).exitCode).toBe(0);
    expect(() => compareCommand({ current: 'run-b', baseline: 'run-zzz', resultsRoot: root, failOnRegression: true })).toThrow(/^run-zzz: no such run folder/);
  });

  it('a bad baseline is one line naming the file and field', () => {
    const root = mkdtempSync(join(tmpdir(), 'hsi-compare-'));
    roots.push(root);
    const good = writeRun(root, makeModel({ runId: 'run-good' }));
    const bad = new RunResults(root, 'run-bad');
    writeFileSync(bad.path('summary.json'), JSON.stringify({ ...makeModel({ runId: 'run-bad' }), load: { driver: 'native' } }));
    expect(() => compareRunDirs(good, bad.dir)).toThrow(ConfigError);
    expect(() => compareRunDirs(good, bad.dir)).toThrow(/run-bad\/summary\.json: load\.durationSec: /);
  });
});

describe('requests.ndjson samples', () => {
  it('reads latency and status, counts failures, skips a cut-off last line', () => {
    const text = ['{"latencyMs":10,"status":202,"accepted":true}', '{"latencyMs":20,"status":503,"accepted":false}', '{"latencyMs":5,"status":0}', '{"latencyMs":3'].join('\n');
    const s = parseRequestSamples(text, 'requests.ndjson');
    expect(s.latenciesMs).toEqual([10, 20, 5]);
    expect(s.failed).toBe(2);
    expect(s.skippedPartialLines).toBe(1);
  });

  it('names the file, line and field of a bad line', () => {
    expect(() => parseRequestSamples('{"latencyMs":10,"status":202}\n{"latencyMs":"slow","status":202}\n', 'r/requests.ndjson')).toThrow(/^r\/requests\.ndjson:2: latencyMs: /);
    expect(() => parseRequestSamples('{"latencyMs":10\n{"latencyMs":1,"status":2}\n', 'f')).toThrow(/^f:1: not valid JSON$/);
  });
});

describe('compare: a more crowded machine is not a regression of the stack', () => {
  const base = generateSamples({ seed: 'baseline' });
  const slowMachine = base.map((s) => ({ ...s, latencyMs: s.latencyMs * 2 }));
  const on = (samples: LatencySample[], runId: string, runnablePerCpu: number) => {
    const model = run(samples, runId);
    return { ...model, load: { ...model.load!, runnablePerCpu } };
  };
  const opts = { currentSamples: latencies(slowMachine), baselineSamples: latencies(base) };

  it('the same slowdown is regressed on equally crowded machines, unchanged (naming both) when the current machine was more crowded than the tolerance', () => {
    const same = compareRuns(on(slowMachine, 'run-b', 11), on(base, 'run-a', 10), opts);
    expect(metric(same, 'http_req_duration p95').verdict).toBe('regressed');
    expect(same.notes.join('\n')).not.toMatch(/machines differed/);
    const busier = compareRuns(on(slowMachine, 'run-b', 16), on(base, 'run-a', 11), opts);
    for (const name of ['http_req_duration p50', 'http_req_duration p95', 'http_req_duration p99']) {
      const m = metric(busier, name);
      expect(m.verdict).toBe('unchanged');
      expect(m.beyondTolerance).toBe('regressed');
      expect(m.reason).toMatch(/not attributed to the stack: the current run's machine was more crowded \(runnable tasks per CPU: current 16\.0, baseline 11\.0\)/);
    }
    expect(busier.verdict).toBe('unchanged');
    expect(busier.notes.join('\n')).toMatch(/the machines differed: 16\.0 runnable tasks per CPU during the current run's load, 11\.0 during the baseline's/);
    // the bound is the relative tolerance: ×1.2 is still judged, ×1.3 is not
    expect(metric(compareRuns(on(slowMachine, 'run-b', 12), on(base, 'run-a', 10), opts), 'http_req_duration p95').verdict).toBe('regressed');
    expect(metric(compareRuns(on(slowMachine, 'run-b', 13), on(base, 'run-a', 10), opts), 'http_req_duration p95').verdict).toBe('unchanged');
  });

  it('a quieter current machine does not excuse a regression, and a busy baseline makes no improvement', () => {
    expect(metric(compareRuns(on(slowMachine, 'run-b', 2), on(base, 'run-a', 12), opts), 'http_req_duration p95').verdict).toBe('regressed');
    const back = compareRuns(on(base, 'run-c', 2), on(slowMachine, 'run-b', 12), { currentSamples: latencies(base), baselineSamples: latencies(slowMachine) });
    expect(metric(back, 'http_req_duration p95').verdict).toBe('unchanged');
    expect(metric(back, 'http_req_duration p95').reason).toMatch(/the baseline run's machine was more crowded/);
    // an idle machine counts as at least 0.5 runnable tasks per CPU: 0.1 vs 0.4 is no difference
    expect(metric(compareRuns(on(slowMachine, 'run-b', 0.4), on(base, 'run-a', 0.1), opts), 'http_req_duration p95').verdict).toBe('regressed');
  });

  it('reads the run queue from /proc/loadavg (the fourth field, less the reading process itself)', async () => {
    const { parseRunnable, RunQueueSampler } = await import('../../../harness/util/run-queue.ts');
    expect(parseRunnable('21.53 22.04 22.31 23/1890 412345\n')).toBe(23);
    expect(parseRunnable('garbage')).toBeUndefined();
    const dir = mkdtempSync(join(tmpdir(), 'runq-'));
    roots.push(dir);
    writeFileSync(join(dir, 'loadavg'), '1.00 1.00 1.00 9/100 1\n');
    expect(new RunQueueSampler({ path: join(dir, 'loadavg'), cpus: 2 }).stop()).toBe(4);
    expect(new RunQueueSampler({ path: join(dir, 'missing'), cpus: 2 }).stop()).toBeUndefined();
  });
});
