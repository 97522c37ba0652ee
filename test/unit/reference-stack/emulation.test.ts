import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createRng,
  emulateDetections,
  lognormalFromMeanP95,
  sampleLognormal,
  SlotPool,
  Z95,
} from '../../../reference-stack/detector-emulator/emulation.ts';
import { EmulatorSettingsError, loadEmulatorSettings } from '../../../reference-stack/detector-emulator/settings.ts';

describe('lognormalFromMeanP95', () => {
  it('reproduces the requested mean and p95', () => {
    const { mu, sigma } = lognormalFromMeanP95(40, 80);
    expect(Math.exp(mu + (sigma * sigma) / 2)).toBeCloseTo(40, 9);
    expect(Math.exp(mu + Z95 * sigma)).toBeCloseTo(80, 9);
  });

  it('samples match mean and p95 empirically', () => {
    const params = lognormalFromMeanP95(40, 80);
    const rng = createRng('test-seed');
    const samples = Array.from({ length: 200_000 }, () => sampleLognormal(rng, params)).sort((a, b) => a - b);
    const mean = samples.reduce((s, x) => s + x, 0) / samples.length;
    expect(mean).toBeGreaterThan(39);
    expect(mean).toBeLessThan(41);
    const p95 = samples[Math.floor(samples.length * 0.95)] ?? 0;
    expect(p95).toBeGreaterThan(78);
    expect(p95).toBeLessThan(82);
  });

  it('rejects impossible combinations', () => {
    expect(() => lognormalFromMeanP95(40, 30)).toThrow(/at least the mean/);
    expect(() => lognormalFromMeanP95(40, 400)).toThrow(/too wide/);
    expect(lognormalFromMeanP95(40, 40).sigma).toBe(0);
  });
});

describe('createRng', () => {
  it('is deterministic per seed', () => {
    const a = createRng('x');
    const b = createRng('x');
    const c = createRng('y');
    const seqA = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(seqA);
    expect([c(), c(), c()]).not.toEqual(seqA);
    for (const v of seqA) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
    }
  });
});

describe('emulateDetections', () => {
  it('is a pure function of the hash, with 1-3 boxes inside the image', () => {
    for (let i = 0; i < 500; i++) {
      const hash = createHash('sha256').update(`image-${i}`).digest();
      const first = emulateDetections(hash, 640, 480);
      expect(emulateDetections(hash, 640, 480)).toEqual(first);
      expect(first.length).toBeGreaterThanOrEqual(1);
      expect(first.length).toBeLessThanOrEqual(3);
      for (const d of first) {
        expect(d.confidence).toBeGreaterThanOrEqual(0.5);
        expect(d.confidence).toBeLessThan(1);
        expect(d.bbox.x).toBeGreaterThanOrEqual(0);
        expect(d.bbox.y).toBeGreaterThanOrEqual(0);
        expect(d.bbox.width).toBeGreaterThan(0);
        expect(d.bbox.height).toBeGreaterThan(0);
        expect(d.bbox.x + d.bbox.width).toBeLessThanOrEqual(640);
        expect(d.bbox.y + d.bbox.height).toBeLessThanOrEqual(480);
      }
    }
  });

  it('reports a calibrated number of objects per image (EMULATOR_DETECTIONS_PER_IMAGE), still a pure function of the hash', () => {
    const hash = createHash('sha256').update('calibrated').digest();
    expect(emulateDetections(hash, 640, 480, 4)).toHaveLength(4);
    expect(emulateDetections(hash, 640, 480, 4)).toEqual(emulateDetections(hash, 640, 480, 4));
    expect(emulateDetections(hash, 640, 480, 0)).toEqual([]);
    expect(loadEmulatorSettings({ EMULATOR_DETECTIONS_PER_IMAGE: '4' }).detectionsPerImage).toBe(4);
    expect(loadEmulatorSettings({}).detectionsPerImage).toBeUndefined();
    expect(() => loadEmulatorSettings({ EMULATOR_DETECTIONS_PER_IMAGE: '2.5' })).toThrow(/EMULATOR_DETECTIONS_PER_IMAGE: expected an integer/);
  });

  it('fits tiny images', () => {
    const hash = createHash('sha256').update('tiny').digest();
    for (const d of emulateDetections(hash, 1, 1)) expect(d.bbox).toEqual({ x: 0, y: 0, width: 1, height: 1 });
  });
});

describe('SlotPool', () => {
  it('runs at most N at once and serves waiters in FIFO order', async () => {
    const pool = new SlotPool(2);
    const order: number[] = [];
    const r1 = await pool.acquire();
    const r2 = await pool.acquire();
    expect(pool.inUse).toBe(2);
    const waiting = [3, 4, 5].map((n) => pool.acquire().then((release) => { order.push(n); return release; }));
    expect(pool.queued).toBe(3);
    r1();
    r1(); // double release is ignored
    const r3 = await waiting[0];
    expect(pool.inUse).toBe(2);
    r2();
    r3?.();
    const [r4, r5] = [await waiting[1], await waiting[2]];
    expect(order).toEqual([3, 4, 5]);
    r4?.();
    r5?.();
    expect(pool.inUse).toBe(0);
    expect(pool.queued).toBe(0);
  });
});

describe('loadEmulatorSettings', () => {
  it('has the documented defaults', () => {
    const s = loadEmulatorSettings({});
    expect(s).toMatchObject({ port: 8095, gpuSlots: 1, serviceMeanMs: 40, serviceP95Ms: 80, seed: undefined });
  });

  it('reads replayed service times (EMULATOR_SERVICE_TIMES_MS) and names the variable when they are not milliseconds', () => {
    expect(loadEmulatorSettings({}).serviceTimesMs).toEqual([]);
    expect(loadEmulatorSettings({ EMULATOR_SERVICE_TIMES_MS: '31.5, 40,12' }).serviceTimesMs).toEqual([31.5, 40, 12]);
    expect(() => loadEmulatorSettings({ EMULATOR_SERVICE_TIMES_MS: '31.5,fast' })).toThrow(/EMULATOR_SERVICE_TIMES_MS: expected comma-separated milliseconds/);
    expect(() => loadEmulatorSettings({ EMULATOR_SERVICE_TIMES_MS: '0,5' })).toThrow(/EMULATOR_SERVICE_TIMES_MS: expected milliseconds above 0/);
  });

  it('names the faulty variable', () => {
    expect(() => loadEmulatorSettings({ EMULATOR_GPU_SLOTS: 'two' })).toThrow(EmulatorSettingsError);
    expect(() => loadEmulatorSettings({ EMULATOR_GPU_SLOTS: '0' })).toThrow(/EMULATOR_GPU_SLOTS/);
    expect(() => loadEmulatorSettings({ EMULATOR_SERVICE_P95_MS: '10' })).toThrow(/EMULATOR_SERVICE_P95_MS/);
  });
});
