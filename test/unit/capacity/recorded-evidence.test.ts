import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HSI_TRACE_NAMES } from '../../../harness/capacity/hsi-stages.ts';
import { predictFromStages, stageTable } from '../../../harness/capacity/stage-model.ts';
import { detectionLittle, spansOfEvidence, type StepEvidence } from '../../../harness/capacity/step-runner.ts';

/**
 * Recorded data: the evidence.json of one real step (capacity-detector on the emulated stack,
 * 3 uploads/s offered for an 8 s window; the detector: 1 slot, lognormal service time of mean
 * 160 ms). The per-stage arithmetic and Little's law must reproduce what the emulator is.
 */
const evidence = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'capacity', 'step-evidence-detector.json'), 'utf8')) as StepEvidence;
const spans = spansOfEvidence(evidence);
const queue = { between: (from: number, to: number) => evidence.queue.filter((q) => q.atMs >= from && q.atMs < to) };

describe('the per-stage model on a recorded step', () => {
  const rows = stageTable(spans, evidence.window, evidence.slots);
  const by = (stage: string) => rows.find((r) => r.stage === stage)!;

  it('throughput is the offered load; one detector call per upload', () => {
    expect(by('upload').count).toBe(24);
    expect(by('upload').throughputPerSec).toBeCloseTo(3); // 24 uploads in 8 s
    expect(by('detector').visitsPerUpload).toBeCloseTo(1);
    expect(by('detection-queue').throughputPerSec).toBeCloseTo(3);
  });

  it("the detector's service time is the emulator's 160 ms; U = X·S/c; its capacity c/S is the analytic 6.25/s", () => {
    const d = by('detector');
    expect(d.serviceMs!).toBeGreaterThan(160 * 0.85);
    expect(d.serviceMs!).toBeLessThan(160 * 1.15);
    expect(d.utilisation!).toBeCloseTo((d.throughputPerSec * d.serviceMs!) / 1000 / d.slots!, 10);
    expect(Math.abs(d.capacityUploadsPerSec! / 6.25 - 1)).toBeLessThan(0.1);
    expect(d.waitMs!).toBeGreaterThan(0); // at ρ ≈ 0.5 some requests queue for the slot
  });

  it('the model names the detector the bottleneck', () => {
    expect(predictFromStages(rows)).toMatchObject({ bottleneck: 'detector' });
  });

  it("Little's law: the polled detection backlog matches X·R from the traces", () => {
    const check = detectionLittle(spans, evidence.window, queue)!;
    expect(check.ok, JSON.stringify(check)).toBe(true);
    expect(check.predictedL).toBeGreaterThan(0.3);
  });

  it("Little's law fails when the queue holds work the traces do not see (counter-example)", () => {
    const hidden = { between: (from: number, to: number) => queue.between(from, to).map((q) => ({ ...q, detection: q.detection + 1 })) };
    expect(detectionLittle(spans, evidence.window, hidden)!.ok).toBe(false);
  });

  it('without the AI server spans (detector not instrumented) the client span stands in for S: larger, still the bottleneck', () => {
    const blind = spans.filter((s) => s.service !== HSI_TRACE_NAMES.detectorService);
    const d = stageTable(blind, evidence.window, evidence.slots).find((r) => r.stage === 'detector')!;
    expect(d.serviceMs!).toBeGreaterThan(by('detector').serviceMs!);
    expect(predictFromStages(stageTable(blind, evidence.window, evidence.slots))!.bottleneck).toBe('detector');
  });
});
