import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuSampler } from '../../../harness/gpu/gpu-sampler.ts';
import { gpuSourcesFor } from '../../../harness/gpu/gpu-sources.ts';
import { NO_GPU_TELEMETRY } from '../../../harness/gpu/gpu-sample.ts';
import { AiHealthSource, BackendGpuSource, parseAiHealth, parseBackendGpu } from '../../../harness/gpu/http-sources.ts';
import { NvidiaSmiSource } from '../../../harness/gpu/nvidia-smi.ts';

/** A stub HTTP server on 127.0.0.1 answering JSON by path (set per test). */
class StubServer {
  readonly answers = new Map<string, { status: number; body: unknown }>();
  hits = 0;
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.hits += 1;
      const a = this.answers.get(req.url ?? '') ?? { status: 404, body: { detail: 'Not Found' } };
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server?.close(() => r()) ?? r());
  }
}

// As the reference backend answers without a GPU (its emulators report no VRAM).
const REFERENCE_BACKEND = { gpu_utilization: null, memory_used: 0, memory_total: null, temperature: null, inference_fps: 3.2, emulated: true, gpu_name: null };
// As the real HSI answers (GPUStatsResponse: utilization, not gpu_utilization).
const REAL_HSI = { utilization: 88.5, memory_used: 23975, memory_total: 24564, temperature: 79, power_usage: 201.4, inference_fps: 14.2 };

describe('backend /api/system/gpu', () => {
  it('reads the real HSI names and the contract names', () => {
    const real = parseBackendGpu(REAL_HSI);
    expect(real).toEqual({ ok: true, reading: { index: 0, name: null, utilizationPct: 88.5, memoryUsedMiB: 23975, memoryTotalMiB: 24564, temperatureC: 79, powerW: 201.4 } });
    const contract = parseBackendGpu({ gpu_utilization: 40, memory_used: 1000, memory_total: 8000, temperature: 50, inference_fps: 2 });
    expect(contract.ok && contract.reading.utilizationPct).toBe(40);
  });

  it('does not count nulls, an emulated stack or HSI mock data as telemetry', () => {
    expect(parseBackendGpu({ gpu_utilization: null, memory_used: null, memory_total: null, temperature: null, inference_fps: null })).toEqual({ ok: false, reason: 'every GPU field is null (no GPU)' });
    expect(parseBackendGpu(REFERENCE_BACKEND)).toEqual({ ok: false, reason: 'emulated AI services, no GPU' });
    expect(parseBackendGpu({ ...REAL_HSI, gpu_name: 'Mock GPU (Development Mode)' })).toMatchObject({ ok: false, reason: expect.stringContaining('mock data') });
  });

  it('names the field of a bad answer', () => {
    expect(parseBackendGpu({ utilization: 'high' })).toEqual({ ok: false, reason: expect.stringMatching(/^\/api\/system\/gpu: utilization: /) });
    expect(parseBackendGpu([1, 2])).toMatchObject({ ok: false });
  });
});

describe("AI services' /health", () => {
  it('adds up VRAM (GB → MiB) as HSI does; no total reported means no fraction, never a guessed 24 GiB', () => {
    const r = parseAiHealth({ detector: { status: 'healthy', device: 'cuda:0', cuda_available: true, vram_used_gb: 3.2, model_loaded: true }, llm: { status: 'ok' } });
    expect(r).toEqual({ ok: true, reading: expect.objectContaining({ memoryUsedMiB: 3277, memoryTotalMiB: null, utilizationPct: null }) });
  });

  it('skips emulators and says what they model', () => {
    const r = parseAiHealth({ detector: { device: 'cpu-emulated', vram_used_gb: 0, emulated: true }, llm: { emulated: true, device: 'cpu-emulated', vram_used_gb: 5.5 } });
    expect(r).toEqual({ ok: false, reason: 'detector: emulator; llm: emulator (modelled VRAM 5.5 GB, not measured)' });
  });
});

describe('fallback order over HTTP (stub servers on 127.0.0.1)', () => {
  let backend: StubServer;
  let detector: StubServer;
  beforeAll(async () => {
    backend = await new StubServer().start();
    detector = await new StubServer().start();
  });
  afterAll(async () => {
    await backend.stop();
    await detector.stop();
  });

  const noSmi = () => new NvidiaSmiSource({ kind: 'host', command: '/nonexistent/nvidia-smi' });

  it('takes the backend when nvidia-smi is missing, and samples it', async () => {
    backend.answers.set('/api/system/gpu', { status: 200, body: REAL_HSI });
    const sampler = new GpuSampler({ sources: [noSmi(), new BackendGpuSource(backend.url), new AiHealthSource({ detector: detector.url })], intervalMs: 3_600_000 });
    const t = await sampler.start();
    await sampler.sampleOnce();
    await sampler.stop();
    expect(t.sourceLabel).toBe('backend /api/system/gpu');
    expect(t.tried).toEqual([{ source: 'nvidia-smi (host)', reason: '/nonexistent/nvidia-smi not found on PATH' }]);
    expect(sampler.telemetry().sampleCount).toBe(2);
    expect(sampler.telemetry().peaks.memoryUsedFraction).toBeCloseTo(23975 / 24564, 6);
  });

  it('falls through an emulated backend to /health', async () => {
    backend.answers.set('/api/system/gpu', { status: 200, body: REFERENCE_BACKEND });
    detector.answers.set('/health', { status: 200, body: { status: 'healthy', device: 'cuda:0', cuda_available: true, vram_used_gb: 4, gpu_utilization: 63, temperature: 70, power_watts: 180 } });
    const t = await new GpuSampler({ sources: [noSmi(), new BackendGpuSource(backend.url), new AiHealthSource({ detector: detector.url })] }).start();
    expect(t.source).toBe('ai-health');
    expect(t.tried.map((x) => x.reason)).toEqual(['/nonexistent/nvidia-smi not found on PATH', 'emulated AI services, no GPU']);
    expect(t.peaks).toMatchObject({ utilizationPct: 63, memoryUsedMiB: 4096, temperatureC: 70, powerW: 180, memoryUsedFraction: null });
  });

  it('"no GPU telemetry" when nothing answers with a GPU, naming each reason', async () => {
    backend.answers.set('/api/system/gpu', { status: 500, body: 'boom' });
    detector.answers.set('/health', { status: 200, body: 'not json{' });
    const sources = gpuSourcesFor({ host: false, backendUrl: backend.url, aiServices: { detector: detector.url } });
    const t = await new GpuSampler({ sources: [noSmi(), ...sources] }).start();
    expect(t.source).toBeNull();
    expect(t.sourceLabel).toBe(NO_GPU_TELEMETRY);
    expect(t.tried).toEqual([
      { source: 'nvidia-smi (host)', reason: '/nonexistent/nvidia-smi not found on PATH' },
      { source: 'backend /api/system/gpu', reason: 'HTTP 500' },
      { source: "AI services' /health (detector)", reason: 'detector: answer is not JSON' },
    ]);
    expect(t.sampleCount).toBe(0);
  });

  it('a source that stops answering mid-run is a failed read and a gap, not a zero sample', async () => {
    backend.answers.set('/api/system/gpu', { status: 200, body: REAL_HSI });
    const sampler = new GpuSampler({ sources: [new BackendGpuSource(backend.url)], intervalMs: 3_600_000 });
    await sampler.start();
    backend.answers.set('/api/system/gpu', { status: 503, body: { detail: 'down' } });
    await sampler.sampleOnce();
    const t = await sampler.stop();
    expect([t.sampleCount, t.readFailures, t.lastReadFailure]).toEqual([1, 1, 'HTTP 503']);
  });
});
