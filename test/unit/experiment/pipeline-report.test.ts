import { describe, expect, it } from 'vitest';
import type { FaultWindowRecord } from '../../../harness/chaos/toxic-timeline.ts';
import type { PipelineLatencySample } from '../../../harness/experiment/evaluator.ts';
import { faultViews, reportFromPipeline } from '../../../harness/experiment/report-builder.ts';

// Detector +600 ms from load 10 s to 20 s; 4 uploads/s for 40 s; the upload itself stays at 5 ms.
const WINDOW: FaultWindowRecord = { index: 0, name: 'detector-slow', target: 'detector', faultType: 'latency', plannedStartMs: 10_000, plannedEndMs: 20_000, applyRequestedAtMs: 10_001, appliedAtMs: 10_009, removedAtMs: 20_007 };

function pipelines(): PipelineLatencySample[] {
  const out: PipelineLatencySample[] = [];
  for (let atMs = 0; atMs < 40_000; atMs += 250) {
    const slow = atMs >= 10_009 && atMs < 20_007;
    const failed = atMs === 15_000; // one upload whose detection failed (dead-lettered)
    const unsampledBatch = atMs === 30_000; // its event is in no fetched trace: unknown, not an error
    out.push({ atMs, uploadToDetectionMs: slow ? 700 : 100, detectionFailed: failed, uploadToEventMs: failed || unsampledBatch ? null : slow ? 2_700 : 2_100 });
  }
  return out;
}

describe('the pipeline part of the report', () => {
  it('shows a detector fault that the upload latency does not: per-stage series and before/during/after', () => {
    const requests = pipelines().map((p) => ({ atMs: p.atMs, latencyMs: 5, ok: true }));
    const views = faultViews([WINDOW], requests);
    expect(views[0]!.impact!.during.p95Ms).toBe(5); // the upload answers before detection runs
    const { pipelineTimeSeries, faults } = reportFromPipeline(pipelines(), [WINDOW], views);
    const d = faults[0]!.pipelineImpact!.uploadToDetection;
    expect([d.before.p95Ms, d.during.p95Ms, d.after.p95Ms]).toEqual([100, 700, 100]);
    expect(d.during.errorRate).toBeCloseTo(1 / 40); // the failed upload counts as an error, not as a latency
    expect(faults[0]!.pipelineImpact!.uploadToEvent.during.errorRate).toBeCloseTo(1 / 40);
    expect(faults[0]!.pipelineImpact!.uploadToEvent.after.errorRate).toBe(0);
    expect(pipelineTimeSeries.eventsNotTraced).toBe(1);
    expect(pipelineTimeSeries.uploadToEvent.find((p) => p.tSec === 30)!.requests).toBe(3);
    expect(d.recoverySeconds).toBe(0);
    expect(faults[0]!.pipelineImpact!.uploadToEvent.during.p95Ms).toBe(2_700);
    expect(faults[0]!.impact).toEqual(views[0]!.impact);
    expect(pipelineTimeSeries.bucketSec).toBe(1);
    const at = (s: number) => pipelineTimeSeries.uploadToDetection.find((p) => p.tSec === s)!;
    expect([at(5).p95Ms, at(12).p95Ms, at(25).p95Ms]).toEqual([100, 700, 100]);
    expect([at(15).requests, at(15).errors]).toEqual([4, 1]);
  });

  it('leaves a view without a matching window as it was', () => {
    const views = faultViews([WINDOW], []);
    const { faults } = reportFromPipeline([], [], views);
    expect(faults[0]!.pipelineImpact).toBeUndefined();
  });
});
