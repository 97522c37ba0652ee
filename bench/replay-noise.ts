/**
 * The reference stack's run-to-run noise on short spans (issue 12's "p95 within ±20 %"), read from
 * the results of a replay round trip with its A/A rerun, one command:
 *
 *   node bench/replay-noise.ts chaos-redis-reset [--since 20261202T0700] [--results results]
 *
 * Takes the first three runs of the scenario since that time (original, `replay-…`, A/A rerun, as
 * `HSI_CHAOS_REPLAY_AA=1 … experiments/replay-round-trip.experiment.ts` writes them) and prints,
 * per judged backend operation whose median is under 10 ms: p50 and p95 of each run, the replay's and the A/A rerun's p95
 * difference, and the tail spread p95/p50 (a wide tail is what makes the p95 of ~50 spans move
 * between runs). Then, per run, how often the detection worker started its job before the
 * upload's `detection_queue publish` span had ended (the worker's start delays the publish's
 * reply on the backend's one event loop: the race behind the bimodal publish spans).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compareFidelity } from '../harness/replay/fidelity.ts';
import { readTraceFile } from '../harness/replay/input.ts';
import { percentile } from '../harness/replay/stats.ts';
import type { NormalizedSpan, TraceTree } from '../harness/traces/span-model.ts';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { since: { type: 'string', default: '' }, results: { type: 'string', default: 'results' } },
});
const scenario = positionals[0];
if (scenario === undefined) {
  process.stderr.write('usage: node bench/replay-noise.ts <scenario> [--since 20261202T0700] [--results results]\n');
  process.exit(2);
}

const stamp = (dir: string): string => dir.slice(dir.search(/\d{8}T\d{6}Z/));
const runs = readdirSync(args.results)
  .filter((d) => (d.startsWith(`${scenario}-`) || d.startsWith(`replay-${scenario}-`)) && /\d{8}T\d{6}Z/.test(d) && stamp(d) >= args.since)
  .sort((a, b) => stamp(a).localeCompare(stamp(b)))
  .slice(0, 3);
if (runs.length < 3) {
  process.stderr.write(`${scenario}: found ${runs.length} run(s) since ${args.since || 'the start'} in ${args.results}; need original, replay, rerun\n`);
  process.exit(2);
}
const traces = runs.map((r) => readTraceFile(join(args.results, r, 'traces.json')).traces);
process.stdout.write(`runs: ${runs.join(', ')}\n`);

function spansOf(ts: readonly TraceTree[], service: string, name: string): NormalizedSpan[] {
  return ts.flatMap((t) => t.spans).filter((s) => s.service === service && s.name === name);
}

const fmt = (n: number | null | undefined, digits = 2): string => (n === null || n === undefined ? '–' : n.toFixed(digits));
const pct = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : `${n >= 0 ? '+' : ''}${(n * 100).toFixed(0)} %`);

/** The reference backend's few-ms operations: judged on both sides, median under 10 ms in the original. */
const BACKEND = 'nemotron-backend';
const [original, replay, rerun] = traces as [TraceTree[], TraceTree[], TraceTree[]];
const vsReplay = compareFidelity(original, replay, { incident: 'original' });
const vsRerun = compareFidelity(original, rerun, { incident: 'original' });
process.stdout.write(`${'operation'.padEnd(52)} ${'n'.padStart(4)}  p50 orig/repl/rerun   p95 orig/repl/rerun   replay Δ   A/A Δ   p95/p50\n`);
const summary = { ops: 0, aaWithin: 0, replayWithin: 0, aaAbs: [] as number[], replayAbs: [] as number[], spread: [] as number[] };
for (const op of vsReplay.operations.filter((o) => o.judged && o.service === BACKEND && (o.incident.p50Ms ?? 0) < 10)) {
  const aa = vsRerun.operations.find((o) => o.service === op.service && o.name === op.name);
  summary.ops += 1;
  if (aa?.p95Diff !== null && aa?.p95Diff !== undefined) {
    summary.aaAbs.push(Math.abs(aa.p95Diff));
    if (Math.abs(aa.p95Diff) <= 0.2) summary.aaWithin += 1;
  }
  if (op.p95Diff !== null) {
    summary.replayAbs.push(Math.abs(op.p95Diff));
    if (Math.abs(op.p95Diff) <= 0.2) summary.replayWithin += 1;
  }
  const p50s = traces.map((t) => percentile(spansOf(t, op.service, op.name).map((s) => s.durationMs), 50));
  const spread = traces.map((t) => {
    const d = spansOf(t, op.service, op.name).map((s) => s.durationMs);
    const p50 = percentile(d, 50);
    const p95 = percentile(d, 95);
    return p50 !== null && p95 !== null && p50 > 0 ? p95 / p50 : null;
  });
  for (const v of spread) if (v !== null) summary.spread.push(v);
  process.stdout.write(
    `${`${op.service} ${op.name}`.padEnd(52)} ${String(op.incident.count).padStart(4)}  ${p50s.map((v) => fmt(v)).join('/').padEnd(20)} ${[op.incident.p95Ms, op.replay.p95Ms, aa?.replay.p95Ms].map((v) => fmt(v)).join('/').padEnd(20)} ${pct(op.p95Diff).padStart(8)} ${pct(aa?.p95Diff).padStart(7)}   ${spread.map((v) => fmt(v, 1)).join('/')}\n`,
  );
}

const medianPct = (v: number[]): string => pct(percentile(v, 50));
process.stdout.write(
  `summary: ${summary.ops} backend operations with a median under 10 ms; A/A within ±20 %: ${summary.aaWithin}, median |A/A| ${medianPct(summary.aaAbs)}; replay within ±20 %: ${summary.replayWithin}, median |replay Δ| ${medianPct(summary.replayAbs)}; median p95/p50 ${fmt(percentile(summary.spread, 50), 1)}\n`,
);

/** Successful publishes split by whether the job's consumer span started before the publish ended (ms-resolution start times: ±1 ms). */
function publishRace(ts: readonly TraceTree[]): { before: number; after: number; unclear: number; medianBefore: number | null; medianAfter: number | null } {
  const before: number[] = [];
  const after: number[] = [];
  let unclear = 0;
  for (const t of ts) {
    const pub = t.spans.find((s) => s.name === 'detection_queue publish' && s.status.code !== 'error');
    const consumer = t.spans.find((s) => s.name === 'detection_processing');
    if (pub === undefined || consumer === undefined) continue;
    const end = pub.startTimeMs + pub.durationMs;
    if (consumer.startTimeMs + 1 <= end) before.push(pub.durationMs);
    else if (consumer.startTimeMs >= end) after.push(pub.durationMs);
    else unclear += 1;
  }
  return { before: before.length, after: after.length, unclear, medianBefore: percentile(before, 50), medianAfter: percentile(after, 50) };
}

for (const [i, ts] of traces.entries()) {
  const r = publishRace(ts);
  process.stdout.write(
    `${runs[i]}: worker started before the publish ended in ${r.before} (publish median ${fmt(r.medianBefore)} ms), after in ${r.after} (median ${fmt(r.medianAfter)} ms), unclear ${r.unclear}\n`,
  );
}
