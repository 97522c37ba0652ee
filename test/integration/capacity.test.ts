import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCapacityResult } from '../../harness/capacity/capacity-schema.ts';
import { readRunReport } from '../../harness/report/report-schema.ts';
import { dockerResourcesOfRun, PROJECT_ROOT, runCli } from './stack-helpers.ts';

/**
 * The capacity command on the real stack, kept short (~1 min on a quiet machine): the detector-bound scenario
 * (1 emulated GPU slot × 160 ms = 6.25 images/s) with coarse bounds, so the search measures
 * three loads: 3/s (holds), 7.5/s (20 % over the detector: the backlog grows), 5.25/s (holds).
 * The long acceptance searches (±5 % of the analytic capacity) are nightly
 * (experiments/capacity.experiment.ts).
 */
describe('hsi-chaos capacity on the embedded stack', () => {
  it('brackets the knee, names the detector, explains it per stage, gates on --require, leaves nothing behind', async () => {
    const res = await runCli(['capacity', 'capacity-detector', '--min', '3', '--max', '9', '--step-factor', '2.5', '--resolution', '0.9', '--window', '4', '--max-windows', '2', '--warmup', '1', '--require', '11'], undefined, 240_000);
    // 5.25 uploads/s at 0.5 fps = 10 cameras < 11 required: exit 1
    expect(res.code, res.stdout + res.stderr).toBe(1);
    expect(res.stdout).toMatch(/model predicts 6\.25 uploads\/s = 12 cameras at 0\.5 fps, bottleneck detector/);
    expect(res.stdout).toMatch(/step 2 \(coarse\): 7\.50 uploads\/s/);
    const dir = join(PROJECT_ROOT, 'results', res.runId!);
    const result = readCapacityResult(dir)!;
    expect(result.steps.map((s) => [s.uploadsPerSec, s.sustained])).toEqual([
      [3, true],
      [7.5, false],
      [5.25, true],
    ]);
    expect(result.knee).toMatchObject({ kind: 'knee', uploadsPerSec: 5.25, cameras: 10, failedAtUploadsPerSec: 7.5, bottleneck: 'detector' });
    expect(result.knee.limitedBy).toContain('queue depth not growing');
    const detector = result.stages.find((s) => s.stage === 'detector')!;
    expect(detector.slots).toBe(1);
    expect(detector.serviceMs!).toBeGreaterThan(120); // the emulator's 160 ms mean, measured from its spans
    expect(detector.serviceMs!).toBeLessThan(200);
    expect(detector.utilisation!).toBeGreaterThan(0.6); // 5.25 × 0.16 = 0.84
    expect(result.little).not.toBeNull();
    expect(result.perGpu.statement).toMatch(/^10 cameras at 0\.5 fps per GPU \(1 GPU, emulated: no GPU telemetry\)$/);
    expect(result.errors).toContain('--require 11: only 10 cameras sustained');
    // the run report carries the search: JUnit case per SLO at the knee, the charts, summary.md
    expect(readRunReport(dir).capacity?.knee.uploadsPerSec).toBe(5.25);
    const junit = readFileSync(join(dir, 'junit.xml'), 'utf8');
    expect(junit).toContain('classname="capacity.slo" name="queue depth not growing"');
    expect(junit).toMatch(/<testcase classname="capacity" name="at least 11 cameras" time="0">\s*<failure/);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('id="chart-capacity-latency"');
    expect(html).toContain('id="chart-capacity-utilisation"');
    expect(readFileSync(join(dir, 'summary.md'), 'utf8')).toContain('### Capacity');
    expect(await dockerResourcesOfRun(res.runId!)).toEqual([]);
  });
});
