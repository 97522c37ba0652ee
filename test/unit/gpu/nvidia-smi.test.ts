import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GpuSampler } from '../../../harness/gpu/gpu-sampler.ts';
import { GpuNdjsonLineSchema, memoryUsedFraction, NO_GPU_TELEMETRY, type GpuNdjsonLine } from '../../../harness/gpu/gpu-sample.ts';
import { NVIDIA_SMI_ARGS, NvidiaSmiSource, parseNvidiaSmiCsv, parseNvidiaSmiLine } from '../../../harness/gpu/nvidia-smi.ts';
import { RunResults } from '../../../harness/util/run-results.ts';

const FIXTURE_DIR = resolve(import.meta.dirname, '..', '..', 'fixtures', 'gpu');

describe('nvidia-smi CSV (--format=csv,noheader,nounits)', () => {
  it('reads a real row; [N/A] and [Not Supported] are null, not zero', () => {
    expect(parseNvidiaSmiLine('0, NVIDIA RTX A5500, 35, 17870, 24564, 52, 98.41')).toEqual({
      reading: { index: 0, name: 'NVIDIA RTX A5500', utilizationPct: 35, memoryUsedMiB: 17870, memoryTotalMiB: 24564, temperatureC: 52, powerW: 98.41 },
    });
    const r = parseNvidiaSmiLine('1, NVIDIA GeForce RTX 4090, 0, 1, 24564, 38, [N/A]');
    expect('reading' in r && r.reading.powerW).toBeNull();
    const t = parseNvidiaSmiLine('2, Tesla T4, [Not Supported], 10, 15360, [N/A], 27.9');
    expect('reading' in t && [t.reading.utilizationPct, t.reading.temperatureC]).toEqual([null, null]);
  });

  it('keeps a comma inside a GPU name', () => {
    const r = parseNvidiaSmiLine('0, NVIDIA A100-SXM4-80GB, rev 2, 5, 1024, 81920, 33, 61.2');
    expect('reading' in r && r.reading.name).toBe('NVIDIA A100-SXM4-80GB, rev 2');
  });

  it('skips what is not a row: cut-off line, empty value (never read as 0), out-of-range value, used > total, an error text', () => {
    const bad = [
      '1, NVIDIA RTX A5500, 8',
      '0, NVIDIA RTX A5500, , 17870, 24564, 52, 98.41',
      '0, NVIDIA RTX A5500, 101, 17870, 24564, 52, 98.41',
      '0, NVIDIA RTX A5500, 35, 30000, 24564, 52, 98.41',
      '0, NVIDIA RTX A5500, 35, 17870, 24564, hot, 98.41',
      'Unable to determine the device handle for GPU 0000:41:00.0: GPU is lost.  Reboot the system to recover this GPU',
    ];
    const out = parseNvidiaSmiCsv(['0, NVIDIA RTX A5500, 35, 17870, 24564, 52, 98.41', ...bad, ''].join('\n'));
    expect(out.gpus.map((g) => g.index)).toEqual([0]);
    expect(out.malformed.map((m) => m.line)).toEqual(bad);
    expect(out.malformed[2]!.reason).toMatch(/utilizationPct.*outside 0\.\.100/);
  });

  it('memory used fraction needs both numbers', () => {
    expect(memoryUsedFraction({ memoryUsedMiB: 23975, memoryTotalMiB: 24564 })).toBeCloseTo(0.976, 3);
    expect(memoryUsedFraction({ memoryUsedMiB: 23975, memoryTotalMiB: null })).toBeNull();
    expect(memoryUsedFraction({ memoryUsedMiB: null, memoryTotalMiB: 24564 })).toBeNull();
  });
});

describe('GpuSampler with a stand-in nvidia-smi on PATH (test/fixtures/gpu)', () => {
  let dir: string;
  let savedPath: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hsi-gpu-'));
    savedPath = process.env['PATH'];
    process.env['PATH'] = `${FIXTURE_DIR}:${savedPath ?? ''}`;
    process.env['NVIDIA_SMI_FIXTURE_STATE'] = join(dir, 'calls');
  });
  afterEach(() => {
    process.env['PATH'] = savedPath;
    delete process.env['NVIDIA_SMI_FIXTURE_STATE'];
    rmSync(dir, { recursive: true, force: true });
  });

  it('samples, skips and counts the malformed line, records the GPU that disappears, writes gpu.ndjson as it goes', async () => {
    const results = new RunResults(dir, 'run');
    const lines: GpuNdjsonLine[] = [];
    let clock = 1_000_000;
    const sampler = new GpuSampler({
      sources: [new NvidiaSmiSource()],
      intervalMs: 3_600_000, // the test steps with sampleOnce()
      now: () => (clock += 1_000),
      sink: (line) => {
        lines.push(line);
        results.appendNdjson('gpu.ndjson', line);
      },
    });
    const first = await sampler.start();
    expect(first.source).toBe('nvidia-smi');
    expect(first.sourceLabel).toBe('nvidia-smi (host)');
    expect(first.perGpu.map((g) => g.index)).toEqual([0, 1]);
    for (let i = 0; i < 4; i += 1) await sampler.sampleOnce(); // calls 2..5
    // Written as it goes: the file already holds every line before stop().
    const onDisk = results.readNdjson('gpu.ndjson').map((l) => GpuNdjsonLineSchema.parse(l));
    expect(onDisk).toEqual(lines);
    const t = await sampler.stop();

    expect(t.sampleCount).toBe(4);
    expect(t.malformedLines).toBe(3); // the cut-off row, and the "GPU is lost" line twice
    expect(t.lost).toEqual([{ index: 1, name: 'NVIDIA RTX A5500', epochMs: 1_004_000 }]);
    expect(t.readFailures).toBe(1);
    expect(t.lastReadFailure).toBe('exit 6: No devices were found');
    expect(t.peaks.utilizationPct).toBe(97);
    expect(t.peaks.memoryUsedMiB).toBe(23975);
    expect(t.peaks.memoryUsedFraction).toBeCloseTo(23975 / 24564, 6);
    expect(t.peaks.temperatureC).toBe(83);
    expect(t.peaks.powerW).toBe(211.35);
    expect(t.perGpu.find((g) => g.index === 1)?.utilizationPct).toBe(12);
    expect(lines.map((l) => l.kind)).toEqual(['source', 'sample', 'malformed', 'sample', 'malformed', 'gpu-lost', 'sample', 'malformed', 'sample', 'read-failed']);
    // No sample carries a made-up GPU 1 after it was lost, and the N/A power stays null.
    const samples = lines.filter((l) => l.kind === 'sample');
    expect(samples.slice(2).every((s) => s.gpus.every((g) => g.index === 0))).toBe(true);
    expect(samples[3]!.gpus[0]!.powerW).toBeNull();
  });

  it('runs its own loop until stop(), one read at a time', async () => {
    const sampler = new GpuSampler({ sources: [new NvidiaSmiSource()], intervalMs: 60 });
    await sampler.start();
    // Five reads by the loop's own timer (each spawns the stand-in, slow on a loaded machine).
    for (let waited = 0; sampler.telemetry().sampleCount + sampler.telemetry().readFailures < 5 && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    const t = await sampler.stop();
    const calls = t.sampleCount + t.readFailures;
    expect(calls).toBeGreaterThanOrEqual(5);
    await new Promise((r) => setTimeout(r, 250));
    expect(sampler.telemetry().sampleCount + sampler.telemetry().readFailures).toBe(calls); // stopped means stopped
  });

  it('asks nvidia-smi exactly the documented query (the stand-in refuses anything else)', async () => {
    expect(NVIDIA_SMI_ARGS.join(' ')).toBe('--query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw --format=csv,noheader,nounits');
    const wrong = new NvidiaSmiSource({ kind: 'host' }, { runner: (cmd, args, o) => import('../../../harness/util/exec.ts').then((m) => m.run(cmd, [...args.slice(0, 1), '--format=csv'], o)) });
    const r = await wrong.read();
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/^exit 2: Field .* is not a valid field to query\.$/) });
  });

  it('says "no GPU telemetry" when nvidia-smi is not installed', async () => {
    const sampler = new GpuSampler({ sources: [new NvidiaSmiSource({ kind: 'host', command: join(dir, 'no-such-nvidia-smi') })] });
    const t = await sampler.start();
    expect(t.source).toBeNull();
    expect(t.sourceLabel).toBe(NO_GPU_TELEMETRY);
    expect(t.tried).toEqual([{ source: 'nvidia-smi (host)', reason: `${join(dir, 'no-such-nvidia-smi')} not found on PATH` }]);
    expect(t.peaks).toEqual({ utilizationPct: null, memoryUsedMiB: null, memoryTotalMiB: null, memoryUsedFraction: null, temperatureC: null, powerW: null });
  });
});
