import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AttachedTarget } from '../../../harness/experiment/phases.ts';
import type { RunContext } from '../../../harness/experiment/run-session.ts';
import { GPU_NDJSON_FILE, GpuObserver, gpuSourcesOfTarget } from '../../../harness/experiment/gpu-observer.ts';
import { GpuNdjsonLineSchema } from '../../../harness/gpu/gpu-sample.ts';
import { NvidiaSmiSource } from '../../../harness/gpu/nvidia-smi.ts';
import { RunResults } from '../../../harness/util/run-results.ts';
import { makeModel } from '../report/fixture-model.ts';

const STAND_IN = resolve(import.meta.dirname, '..', '..', 'fixtures', 'gpu', 'nvidia-smi');
const TARGET: AttachedTarget = {
  kind: 'external',
  endpoints: { backendUrl: 'http://127.0.0.1:9', jaegerUrl: 'http://127.0.0.1:9', postgresUrl: 'postgres://x@127.0.0.1:9/x', redisUrl: 'redis://127.0.0.1:9' },
  emulatorUrls: { detector: 'http://127.0.0.1:9', llm: 'http://127.0.0.1:9' },
};

describe('GpuObserver: GPU telemetry beside the phases of a run', () => {
  let dir: string;
  let ctx: RunContext;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hsi-gpu-obs-'));
    process.env['NVIDIA_SMI_FIXTURE_STATE'] = join(dir, 'calls');
    const model = makeModel();
    delete model.gpu;
    ctx = { runId: 'r', results: new RunResults(dir, 'r'), model, target: TARGET, log: () => {} };
  });
  afterEach(() => {
    delete process.env['NVIDIA_SMI_FIXTURE_STATE'];
    rmSync(dir, { recursive: true, force: true });
  });

  it('tries the stack\'s sources in HSI\'s order', () => {
    expect(gpuSourcesOfTarget(TARGET).map((s) => s.label)).toEqual(['nvidia-smi (host)', 'backend /api/system/gpu', "AI services' /health (detector, llm)"]);
  });

  it('samples into gpu.ndjson and puts the section on the load\'s time axis into the report model', async () => {
    const observer = new GpuObserver({ intervalMs: 50, sources: () => [new NvidiaSmiSource({ kind: 'host', command: STAND_IN })] });
    await observer.onTargetReady(ctx);
    const loadStart = Date.now() + 10_000; // the load starts 10 s after the first sample
    observer.onLoadStart(ctx, loadStart);
    observer.onLoadStart(ctx, loadStart + 60_000); // a later load (capacity step) does not move time zero
    // Until the stand-in has answered all four samples and its first "No devices" (a fifth call),
    // however slow process spawns are on this machine.
    const calls = (): number => Number(existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8') : 0);
    for (let waited = 0; calls() < 5 && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(observer.peaks()?.overall.memoryUsedFraction).toBeCloseTo(23975 / 24564, 6);
    observer.setKnee(42, '8 cameras at 1 fps');
    await observer.onFinish(ctx);
    const gpu = ctx.model.gpu!;
    expect([gpu.available, gpu.source, gpu.sampleCount, gpu.lost.map((l) => l.index)]).toEqual([true, 'nvidia-smi (host)', 4, [1]]);
    expect(gpu.series[0]!.points[0]!.tSec).toBeLessThan(-9); // sampled before the load: negative seconds
    expect(gpu.knee).toEqual({ tSec: 42, label: '8 cameras at 1 fps' });
    const lines = readFileSync(join(ctx.results.dir, GPU_NDJSON_FILE), 'utf8').trim().split('\n').map((l) => GpuNdjsonLineSchema.parse(JSON.parse(l)));
    expect(lines.filter((l) => l.kind === 'sample')).toHaveLength(4);
    expect(lines[0]).toMatchObject({ kind: 'source', source: 'nvidia-smi' });
  });

  it('without a source the model says "no GPU telemetry" (the emulated stack\'s case)', async () => {
    const observer = new GpuObserver({ sources: () => [new NvidiaSmiSource({ kind: 'host', command: join(dir, 'none') })] });
    await observer.onTargetReady(ctx);
    await observer.onFinish(ctx);
    expect(ctx.model.gpu).toMatchObject({ available: false, source: 'no GPU telemetry', sampleCount: 0, series: [] });
    expect(ctx.model.gpu!.peaks.memoryUsedFraction).toBeNull();
  });

  it('a stack that never came up adds no GPU section', async () => {
    await new GpuObserver().onFinish(ctx);
    expect(ctx.model.gpu).toBeUndefined();
  });
});
