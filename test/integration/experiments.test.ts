import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gpuSummaryLine } from '../../harness/report/gpu-report-view.ts';
import { GpuNdjsonLineSchema } from '../../harness/gpu/gpu-sample.ts';
import type { RunReportModel } from '../../harness/report/report-model.ts';
import { run } from '../../harness/util/exec.ts';
import { expectChaosSummaryHolds } from './experiment-runs.ts';
import { dockerResourcesOfRun, PROJECT_ROOT, runCli as cli, switchBackendDefects } from './stack-helpers.ts';

/** Whether this machine has nvidia-smi (then a GPU source exists and "no GPU telemetry" is not expected). */
const hostHasNvidiaSmi = () => run('nvidia-smi', ['-L']).then((r) => r.code === 0, () => false);


describe('experiments end to end', () => {
  it('the main job (default experiment) passes and writes all five result files with the fault window', async () => {
    const res = await cli(['run']);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    // The terminal names a trace whose tree holds backend and detector spans.
    expect(res.stdout).toMatch(/trace +[0-9a-f]{32} +\d+ spans +.*ai-yolo26-emulator.*nemotron-backend/);
    const runId = res.runId!;
    const dir = join(PROJECT_ROOT, 'results', runId);
    for (const f of ['summary.json', 'junit.xml', 'summary.md', 'report.html', 'assertions.json', 'requests.ndjson', 'faults.json']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunReportModel;
    expect(summary.verdict).toBe('passed');
    const families = new Set(summary.assertions.map((a) => a.family));
    for (const f of ['span-tree', 'propagation', 'sampling', 'latency', 'errors', 'nothing-lost']) expect(families.has(f), f).toBe(true);
    expect(summary.faults).toHaveLength(1);
    expect(Math.abs(summary.faults[0]!.applyLagMs!)).toBeLessThan(50);
    expect(Math.abs(summary.faults[0]!.removeLagMs!)).toBeLessThan(50);
    // The harness sees the fault where it acts: the +600 ms detector latency moves upload →
    // detections by ~600 ms per call during the window, while the upload's own p95 does not.
    const pipeline = summary.faults[0]!.pipelineImpact!.uploadToDetection;
    expect(pipeline.during.p95Ms! - pipeline.before.p95Ms!, JSON.stringify(pipeline)).toBeGreaterThan(400);
    expect(pipeline.after.p95Ms!, JSON.stringify(pipeline)).toBeLessThan(pipeline.during.p95Ms!);
    expect(summary.pipelineTimeSeries!.uploadToDetection.length).toBeGreaterThan(30);
    expect(res.stdout).toMatch(/upload → detections p95 \d+ ms before, \d+ ms during/);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toMatch(/class="fault-window/);
    expect(html).toContain('id="chart-pipeline-detection"');
    // GPU telemetry in every experiment: the emulated stack is no GPU source, and every output says so.
    const gpuLines = readFileSync(join(dir, 'gpu.ndjson'), 'utf8').trim().split('\n').map((l) => GpuNdjsonLineSchema.parse(JSON.parse(l)));
    expect(gpuLines[0]).toMatchObject({ kind: 'source' });
    const gpu = summary.gpu!;
    expect(res.stdout).toContain(`  gpu              ${gpuSummaryLine(gpu)}`);
    expect(readFileSync(join(dir, 'summary.md'), 'utf8')).toContain(`GPU: ${gpu.source}`);
    if (!(await hostHasNvidiaSmi())) {
      expect(gpu).toMatchObject({ available: false, source: 'no GPU telemetry', sampleCount: 0 });
      expect(gpu.tried.map((t) => t.reason)).toEqual(['nvidia-smi not found on PATH', 'emulated AI services, no GPU', expect.stringMatching(/^detector: emulator; llm: emulator/)]);
      expect(html).toMatch(/<p id="gpu-none" class="gpu-none"><b>no GPU telemetry<\/b>/);
    }
    expect(await dockerResourcesOfRun(runId)).toEqual([]);
  });

  // One `hsi-chaos stack up` stack serves the external runs below (one stack start for three
  // runs): the built-in chaos scenario chaos-detector-down as the fast representative (all six
  // run nightly on their own stacks: experiments/chaos-scenarios.experiment.ts), a Ctrl-C inside
  // a fault window, and a run with a defect switch on (turned on at run time).
  describe('against an external stack (stack up)', () => {
    let stackId: string | undefined;
    let stackFile: { toxiproxyUrl: string; endpoints: { backendUrl: string } };
    let before: Record<string, string>;
    const liveSettings = async () => ((await (await fetch(new URL('/admin/settings', stackFile.endpoints.backendUrl))).json()) as { live: Record<string, string> }).live;
    beforeAll(async () => {
      const up = await cli(['stack', 'up']);
      expect(up.code, up.stderr).toBe(0);
      stackId = /stack (\S+) up in/.exec(up.stdout)?.[1];
      expect(stackId).toBeDefined();
      stackFile = JSON.parse(readFileSync(join(PROJECT_ROOT, 'results', stackId!, 'stack.json'), 'utf8')) as typeof stackFile;
      before = await liveSettings();
    });
    afterAll(async () => {
      if (stackId === undefined) return;
      await cli(['stack', 'down', stackId]);
      expect(await dockerResourcesOfRun(stackId)).toEqual([]);
    });

    it('built-in chaos scenario chaos-detector-down holds with faults within 50 ms of plan; the scenario\'s run-time settings are applied, the start-only ones named, the old ones put back', async () => {
      // Leftovers of an earlier run (a 5 s toxic, a disabled proxy) are reset before the steady-state check, not after it.
      const planted = [
        await fetch(new URL('/proxies/detector/toxics', stackFile.toxiproxyUrl), { method: 'POST', body: JSON.stringify({ name: 'leftover', type: 'latency', stream: 'downstream', attributes: { latency: 5000 } }) }),
        await fetch(new URL('/proxies/llm', stackFile.toxiproxyUrl), { method: 'POST', body: JSON.stringify({ enabled: false }) }),
      ];
      expect(planted.map((r) => r.status)).toEqual([200, 200]);
      const external = await cli(['run', 'chaos-detector-down', '--external', stackId!]);
      expect(external.code, external.stdout + external.stderr).toBe(0);
      expectChaosSummaryHolds(JSON.parse(readFileSync(join(PROJECT_ROOT, 'results', external.runId!, 'summary.json'), 'utf8')) as RunReportModel);
      // The scenario's run-time settings were applied before the steady state and the load, the start-only ones named, the old ones put back.
      const out = external.stdout;
      expect(out).toMatch(/external stack: settings applied for this run: .*DETECTOR_CB_RECOVERY_SECONDS=5/);
      // The resilience checks are judged against the settings read back from the stack.
      expect(out).toMatch(/external stack: settings in effect \(read back from the stack \(GET \/admin\/settings\)\): .*DETECTOR_CB_RECOVERY_SECONDS=5/);
      expect(out).toContain('external stack: NOT applied (not in effect for this run): backend YOLO26_READ_TIMEOUT=5: read only at start');
      expect(out).toContain('external stack: NOT applied (not in effect for this run): llm EMULATOR_TIME_SCALE=0.05');
      expect(out.indexOf('settings applied for this run')).toBeLessThan(out.indexOf('steady state before'));
      expect(out.indexOf('faults reset before the steady-state check')).toBeLessThan(out.indexOf('steady state before: ok'));
      expect(out).toContain('external stack: settings restored');
      expect(await liveSettings()).toEqual(before);
    });

    it('Ctrl-C inside a fault window leaves no toxic, every proxy enabled and the settings put back', async () => {
      let interrupted = false;
      const res = await cli(['run', 'chaos-detector-latency', '--external', stackId!], (line, kill) => {
        if (!interrupted && /fault detector-latency on detector applied/.test(line)) {
          interrupted = true;
          setTimeout(() => kill('SIGINT'), 1_000);
        }
      });
      expect(interrupted).toBe(true);
      expect(res.code).toBe(130);
      expect(await liveSettings(), 'settings put back after Ctrl-C').toEqual(before);
      const proxies = (await (await fetch(`${stackFile.toxiproxyUrl}/proxies`)).json()) as Record<string, { enabled: boolean; toxics: unknown[] }>;
      for (const [name, p] of Object.entries(proxies)) {
        expect(p.enabled, `${name} enabled`).toBe(true);
        expect(p.toxics, `${name} toxics`).toEqual([]);
      }
    });

    it('a run with a defect switch on exits 1 and names the failing expectation in the terminal, JUnit and markdown', async () => {
      // The main job's expectations over 4 s (the full main job runs in the test above), with
      // queue-no-trace-context turned on in the running backend: exit 1 and the hop named need
      // no long load, and this stack's full-time-scale LLM makes the drain grow with the load.
      await switchBackendDefects(stackFile.endpoints.backendUrl, ['queue-no-trace-context']);
      let res;
      try {
        res = await cli(['run', join(PROJECT_ROOT, 'test/fixtures/scenarios/main-job-4s.ts'), '--external', stackId!]);
      } finally {
        await switchBackendDefects(stackFile.endpoints.backendUrl, []);
      }
      expect(res.code, res.stdout + res.stderr).toBe(1);
      const hop = 'queue: detection_queue producer → consumer';
      expect(res.stdout).toContain(hop);
      const dir = join(PROJECT_ROOT, 'results', res.runId!);
      // The switch is what failed it: the hop's own expectation, not something of the external stack.
      const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunReportModel;
      expect(summary.assertions.find((a) => a.name === `hop: ${hop}`)?.passed).toBe(false);
      const junit = readFileSync(join(dir, 'junit.xml'), 'utf8');
      expect(junit).toMatch(/<failure[^>]*>/);
      expect(junit).toContain('detection_queue producer');
      expect(readFileSync(join(dir, 'summary.md'), 'utf8')).toContain('detection_queue producer');
    });
  });
});
