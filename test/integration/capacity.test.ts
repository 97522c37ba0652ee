import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCapacityResult } from '../../harness/capacity/capacity-schema.ts';
import { readRunReport } from '../../harness/report/report-schema.ts';
import { dockerResourcesOfRun, PROJECT_ROOT, runCli } from './stack-helpers.ts';

/**
 * The capacity command on the real stack, kept short (~1 min on a quiet machine): the
 * detector-bound scenario (1 emulated GPU slot × 320 ms = 3.125 images/s, light on the CPU; the
 * mean given again as a what-if, --set detector.service_ms=320) and coarse bounds, so the
 * search measures three loads: 1.5/s (holds), 3.75/s (20 % over the detector: the backlog
 * grows), 2.625/s (holds).
 * The long acceptance searches (±5 % of the analytic capacity) are nightly
 * (experiments/capacity.experiment.ts).
 */
describe('hsi-chaos capacity on the embedded stack', () => {
  it('brackets the knee, names the detector, explains it per stage, gates on --require, leaves nothing behind', async () => {
    const args = ['--set', 'detector.service_ms=320', '--min', '1.5', '--max', '4.5', '--step-factor', '2.5', '--resolution', '0.9', '--window', '4', '--max-windows', '2', '--warmup', '1', '--require', '11'];
    const res = await runCli(['capacity', 'capacity-detector', ...args], undefined, 240_000);
    // 2.625 uploads/s at 0.25 fps = 10 cameras < 11 required: exit 1
    expect(res.code, res.stdout + res.stderr).toBe(1);
    // the what-if's prediction, printed before any load
    expect(res.stdout).toMatch(/model predicts 3\.13 uploads\/s = 12 cameras at 0\.25 fps, bottleneck detector/);
    expect(res.stdout).toMatch(/step 2 \(coarse\): 3\.75 uploads\/s/);
    const dir = join(PROJECT_ROOT, 'results', res.runId!);
    const result = readCapacityResult(dir)!;
    expect(result.steps.map((s) => [s.uploadsPerSec, s.sustained])).toEqual([
      [1.5, true],
      [3.75, false],
      [2.625, true],
    ]);
    expect(result.knee).toMatchObject({ kind: 'knee', uploadsPerSec: 2.625, cameras: 10, failedAtUploadsPerSec: 3.75, bottleneck: 'detector' });
    expect(result.settings.whatIfs).toEqual([{ key: 'detector.service_ms', value: '320' }]);
    expect(result.knee.limitedBy).toContain('queue depth not growing');
    const detector = result.stages.find((s) => s.stage === 'detector')!;
    expect(detector.slots).toBe(1);
    expect(detector.serviceMs!).toBeGreaterThan(240); // the what-if's 320 ms mean, measured from the emulator's spans
    expect(detector.serviceMs!).toBeLessThan(400);
    expect(detector.utilisation!).toBeGreaterThan(0.6); // 2.625 × 0.32 = 0.84
    expect(result.little).not.toBeNull();
    expect(result.perGpu.statement).toMatch(/^10 cameras at 0\.25 fps per GPU \(1 GPU, emulated: no GPU telemetry\)$/);
    expect(result.errors).toContain('--require 11: only 10 cameras sustained');
    // the run report carries the search: JUnit case per SLO at the knee, the charts, summary.md
    const report = readRunReport(dir);
    expect(report.capacity?.knee.uploadsPerSec).toBe(2.625);
    // GPU telemetry ran beside the search (the run's GpuObserver): said plainly, knee marked
    expect(report.gpu).toMatchObject({ available: false, source: 'no GPU telemetry' });
    expect(report.gpu?.knee?.label).toBe('knee 2.63 uploads/s');
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
