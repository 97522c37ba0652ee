import { createHash } from 'node:crypto';

/**
 * The parts of the YOLO26 emulator that decide what it answers and how long it takes:
 * a seedable RNG, lognormal service times fitted to a mean and a p95, a FIFO pool of
 * "GPU slots", and detections derived deterministically from the image's SHA-256.
 */

export type Rng = () => number;

/** sfc32: small, fast, seedable; 32-bit state words. Returns floats in [0, 1). */
function sfc32(a: number, b: number, c: number, d: number): Rng {
  return () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

/** An RNG seeded from bytes (the first 16 are used) or from a string (its SHA-256). */
export function createRng(seed: string | Uint8Array): Rng {
  const bytes = typeof seed === 'string' ? createHash('sha256').update(seed).digest() : Buffer.from(seed);
  if (bytes.length < 16) throw new Error('an RNG seed needs at least 16 bytes');
  const rng = sfc32(bytes.readUInt32LE(0), bytes.readUInt32LE(4), bytes.readUInt32LE(8), bytes.readUInt32LE(12));
  for (let i = 0; i < 12; i++) rng(); // mix the state
  return rng;
}

/** Standard normal deviate (Box-Muller). */
export function normal(rng: Rng): number {
  const u1 = 1 - rng(); // (0, 1]
  const u2 = rng();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** z of the 95th percentile of the standard normal. */
export const Z95 = 1.6448536269514722;

export interface LognormalParams {
  mu: number;
  sigma: number;
}

/**
 * mu and sigma of the lognormal whose mean and 95th percentile are the given values:
 * mean = exp(mu + sigma²/2), p95 = exp(mu + Z95·sigma), so ln(p95/mean) = Z95·sigma - sigma²/2,
 * whose smaller root is sigma = Z95 - sqrt(Z95² - 2·ln(p95/mean)). It exists for
 * mean <= p95 <= mean·exp(Z95²/2) ≈ 3.87·mean.
 */
export function lognormalFromMeanP95(meanMs: number, p95Ms: number): LognormalParams {
  if (!(meanMs > 0) || !(p95Ms > 0)) throw new RangeError('mean and p95 must be positive');
  if (p95Ms < meanMs) throw new RangeError(`p95 (${p95Ms}) must be at least the mean (${meanMs})`);
  const d = Math.log(p95Ms / meanMs);
  const discriminant = Z95 * Z95 - 2 * d;
  if (discriminant < 0) {
    throw new RangeError(`p95/mean = ${(p95Ms / meanMs).toFixed(2)} is too wide for a lognormal; at most ${Math.exp((Z95 * Z95) / 2).toFixed(2)}`);
  }
  const sigma = Z95 - Math.sqrt(discriminant);
  return { mu: Math.log(meanMs) - (sigma * sigma) / 2, sigma };
}

export function sampleLognormal(rng: Rng, params: LognormalParams): number {
  return Math.exp(params.mu + params.sigma * normal(rng));
}

/**
 * A real detector's work outside its inference slots (JPEG decode, letterbox, output decoding:
 * one image at a time on its event loop), calibrated: a median of base + perMegapixel × the
 * image's megapixels, times a lognormal factor of spread `sigma`.
 */
export interface HostWorkParams {
  baseMs: number;
  perMegapixelMs: number;
  sigma: number;
}

export function sampleHostWork(rng: Rng, params: HostWorkParams, width: number, height: number): number {
  const median = params.baseMs + params.perMegapixelMs * ((width * height) / 1e6);
  return params.sigma > 0 ? median * Math.exp(params.sigma * normal(rng)) : median;
}

/** FIFO pool of N slots: the emulated GPU runs at most N inferences at once, others queue in order. */
export class SlotPool {
  readonly size: number;
  private busy = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('slot count must be a positive integer');
    this.size = size;
  }

  get inUse(): number {
    return this.busy;
  }

  get queued(): number {
    return this.waiters.length;
  }

  /** Resolves with a release function once a slot is free (first come, first served). */
  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = (): void => {
        this.busy++;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.busy--;
          this.waiters.shift()?.();
        });
      };
      if (this.busy < this.size && this.waiters.length === 0) grant();
      else this.waiters.push(grant);
    });
  }
}

export interface EmulatedDetection {
  class: string;
  confidence: number;
  bbox: { x: number; y: number; width: number; height: number };
}

/** COCO classes a home camera sees, with the weights the emulator draws them by. */
export const EMULATED_CLASSES: readonly (readonly [string, number])[] = [
  ['person', 0.34],
  ['car', 0.22],
  ['dog', 0.1],
  ['bicycle', 0.08],
  ['truck', 0.07],
  ['cat', 0.07],
  ['motorcycle', 0.06],
  ['bird', 0.06],
];

function pickClass(rng: Rng): string {
  const total = EMULATED_CLASSES.reduce((sum, [, w]) => sum + w, 0);
  let r = rng() * total;
  for (const [name, weight] of EMULATED_CLASSES) {
    r -= weight;
    if (r < 0) return name;
  }
  return EMULATED_CLASSES[0]?.[0] ?? 'person';
}

/**
 * 1 to 3 detections (or `perImage`, when calibrated to a real detector's count), a pure function
 * of the image's SHA-256 and size: the same image always yields the same answer. Boxes lie
 * inside the image; confidences in [0.50, 0.99].
 */
export function emulateDetections(sha256: Uint8Array, width: number, height: number, perImage?: number): EmulatedDetection[] {
  const rng = createRng(sha256);
  const drawn = 1 + Math.floor(rng() * 3);
  const count = perImage ?? drawn;
  const detections: EmulatedDetection[] = [];
  for (let i = 0; i < count; i++) {
    const cls = pickClass(rng);
    const confidence = Math.round((0.5 + rng() * 0.49) * 1000) / 1000;
    const w = Math.max(1, Math.min(width, Math.round(width * (0.08 + rng() * 0.42))));
    const h = Math.max(1, Math.min(height, Math.round(height * (0.1 + rng() * 0.5))));
    const x = Math.floor(rng() * (width - w + 1));
    const y = Math.floor(rng() * (height - h + 1));
    detections.push({ class: cls, confidence, bbox: { x, y, width: w, height: h } });
  }
  return detections;
}
