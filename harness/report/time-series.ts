import { percentile } from '../chaos/fault-impact.ts';
import type { TimeSeriesPoint } from './report-model.ts';

/**
 * Convention for `RunReportModel.timeSeries`: one point per bucket, `tSec` = the bucket's
 * START in seconds since the load started, `requests`/`errors` = the requests counted in
 * the bucket, percentiles over their latencies (null: none). This helper buckets by each
 * sample's `atMs` (pass send or completion times, as the caller prefers).
 */
export interface LatencySample {
  /** ms from the load's start (send or completion time: the bucket it is counted in). */
  atMs: number;
  latencyMs: number;
  ok: boolean;
}

/** A sample that may never have finished (a pipeline that never reached the stage): counted, not in the percentiles. */
export interface MaybeLatencySample extends Omit<LatencySample, 'latencyMs'> {
  latencyMs: number | null;
}

/** Buckets samples into points (empty buckets between the first and last are kept, with null percentiles). */
export function timeSeriesFromSamples(samples: readonly MaybeLatencySample[], bucketMs = 1_000): TimeSeriesPoint[] {
  if (samples.length === 0) return [];
  const buckets = new Map<number, { latencies: number[]; count: number; errors: number }>();
  let last = 0;
  for (const s of samples) {
    const b = Math.max(0, Math.floor(s.atMs / bucketMs));
    last = Math.max(last, b);
    const bucket = buckets.get(b) ?? { latencies: [], count: 0, errors: 0 };
    bucket.count += 1;
    if (s.latencyMs !== null) bucket.latencies.push(s.latencyMs);
    if (!s.ok) bucket.errors += 1;
    buckets.set(b, bucket);
  }
  const points: TimeSeriesPoint[] = [];
  for (let b = 0; b <= last; b += 1) {
    const bucket = buckets.get(b);
    const sorted = bucket ? [...bucket.latencies].sort((x, y) => x - y) : [];
    points.push({
      tSec: (b * bucketMs) / 1000,
      requests: bucket?.count ?? 0,
      errors: bucket?.errors ?? 0,
      p50Ms: percentile(sorted, 50),
      p95Ms: percentile(sorted, 95),
      p99Ms: percentile(sorted, 99),
    });
  }
  return points;
}

const maxOf = (values: (number | null)[]): number | null => {
  let m: number | null = null;
  for (const v of values) if (v !== null && (m === null || v > m)) m = v;
  return m;
};

/**
 * At most `maxPoints` points: consecutive points are merged `k` at a time; requests and
 * errors are summed, each percentile is the MAXIMUM of the merged points' (percentiles
 * cannot be merged exactly; the maximum keeps spikes visible and keeps p50 ≤ p95 ≤ p99).
 */
export function downsampleTimeSeries(points: readonly TimeSeriesPoint[], maxPoints: number): { points: TimeSeriesPoint[]; factor: number } {
  if (points.length <= maxPoints || maxPoints < 1) return { points: [...points], factor: 1 };
  const k = Math.ceil(points.length / maxPoints);
  const out: TimeSeriesPoint[] = [];
  for (let i = 0; i < points.length; i += k) {
    const group = points.slice(i, i + k);
    out.push({
      tSec: group[0]!.tSec,
      requests: group.reduce((s, p) => s + p.requests, 0),
      errors: group.reduce((s, p) => s + p.errors, 0),
      p50Ms: maxOf(group.map((p) => p.p50Ms)),
      p95Ms: maxOf(group.map((p) => p.p95Ms)),
      p99Ms: maxOf(group.map((p) => p.p99Ms)),
    });
  }
  return { points: out, factor: k };
}
