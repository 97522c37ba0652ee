import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import jpeg from 'jpeg-js';
import { afterAll, describe, expect, it } from 'vitest';
import { CAMERA_ID, generateCameraFrame, PIPELINE_MIN_BYTES } from '../../fixtures/generate.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const IMAGES = join(ROOT, 'fixtures', 'images');
const NODE = join(ROOT, 'node_modules', '.bin', 'node');
const GENERATE = join(ROOT, 'fixtures', 'generate.ts');
const MAX_FILE_BYTES = 400 * 1024;
const MAX_TOTAL_BYTES = 5 * 1024 * 1024;
const IMAGE_FILE = /\.(jpe?g|png)$/i;

interface JpegInfo {
  width: number;
  height: number;
  /** The SOF marker's second byte: 0xc0 baseline, 0xc2 progressive, ... */
  sof: number;
}

/** Reads width/height from the first SOF segment; throws saying what is wrong. */
function readJpegInfo(buf: Buffer): JpegInfo {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) throw new Error('no SOI marker (FF D8) at the start: not a JPEG');
  if (buf[buf.length - 2] !== 0xff || buf[buf.length - 1] !== 0xd9) throw new Error('no EOI marker (FF D9) at the end: truncated?');
  let i = 2;
  while (i < buf.length) {
    if (buf[i] !== 0xff) throw new Error(`expected a marker at offset ${i}`);
    while (buf[i] === 0xff) i++; // fill bytes
    const marker = buf[i];
    i++;
    if (marker === undefined) break;
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue; // no length
    if (marker === 0xd9) throw new Error('EOI before any SOF marker');
    if (marker === 0xda) throw new Error('scan data (SOS) before any SOF marker');
    if (i + 2 > buf.length) break;
    const length = buf.readUInt16BE(i);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (i + 7 > buf.length) break;
      return { sof: marker, height: buf.readUInt16BE(i + 3), width: buf.readUInt16BE(i + 5) };
    }
    i += length;
  }
  throw new Error('no SOF marker found');
}

interface Fixture {
  camera: string;
  name: string;
  rel: string;
  path: string;
  bytes: Buffer;
}

function listFixtures(): { cameras: string[]; files: Fixture[] } {
  const cameras: string[] = [];
  const files: Fixture[] = [];
  for (const entry of readdirSync(IMAGES).sort()) {
    const dir = join(IMAGES, entry);
    if (!statSync(dir).isDirectory()) continue;
    cameras.push(entry);
    for (const name of readdirSync(dir).sort()) {
      if (!IMAGE_FILE.test(name)) continue;
      const path = join(dir, name);
      files.push({ camera: entry, name, rel: `${entry}/${name}`, path, bytes: readFileSync(path) });
    }
  }
  return { cameras, files };
}

const { cameras, files } = listFixtures();
const infos = new Map(files.map((f) => [f.rel, readJpegInfo(f.bytes)] as const));

describe('fixtures/images: the committed camera JPEGs', () => {
  it('has at least 3 camera folders, each named like a camera id and holding images', () => {
    expect(cameras.length).toBeGreaterThanOrEqual(3);
    for (const camera of cameras) {
      expect(camera, `folder name "${camera}"`).toMatch(CAMERA_ID);
      expect(files.filter((f) => f.camera === camera).length, `images in ${camera}/`).toBeGreaterThanOrEqual(1);
    }
  });

  it.each(files.map((f) => [f.rel, f] as const))('%s is a decodable JPEG over 10 KB and under 400 KB', (rel, f) => {
    const info = infos.get(rel);
    expect(info).toBeDefined();
    if (!info) return;
    expect(f.bytes.length, `${rel}: bytes`).toBeGreaterThan(PIPELINE_MIN_BYTES);
    expect(f.bytes.length, `${rel}: bytes`).toBeLessThanOrEqual(MAX_FILE_BYTES);
    // Width and height in the name, if any, must be the real ones.
    const named = /(\d+)x(\d+)/.exec(f.name);
    if (named) expect(`${info.width}x${info.height}`, `${rel}: SOF size vs name`).toBe(`${named[1]}x${named[2]}`);
    const decoded = jpeg.decode(f.bytes, { useTArray: true, maxMemoryUsageInMB: 64 });
    expect([decoded.width, decoded.height]).toEqual([info.width, info.height]);
  });

  it('covers 640x480, 1280x720 and 1920x1080, everything within 640x480..1920x1080', () => {
    const sizes = new Set([...infos.values()].map((i) => `${i.width}x${i.height}`));
    for (const wanted of ['640x480', '1280x720', '1920x1080']) expect([...sizes]).toContain(wanted);
    for (const [rel, info] of infos) {
      expect(info.width, `${rel}: width`).toBeGreaterThanOrEqual(640);
      expect(info.width, `${rel}: width`).toBeLessThanOrEqual(1920);
      expect(info.height, `${rel}: height`).toBeGreaterThanOrEqual(480);
      expect(info.height, `${rel}: height`).toBeLessThanOrEqual(1080);
    }
  });

  it('stays well under 5 MB in total', () => {
    const total = files.reduce((sum, f) => sum + f.bytes.length, 0);
    expect(total).toBeLessThan(MAX_TOTAL_BYTES);
  });

  it('lists every file in fixtures/images/README.md (provenance)', () => {
    const readme = readFileSync(join(IMAGES, 'README.md'), 'utf8');
    const missing = files.filter((f) => !readme.includes(f.rel)).map((f) => f.rel);
    expect(missing, 'files missing from fixtures/images/README.md').toEqual([]);
  });
});

describe('generateCameraFrame', () => {
  it('is deterministic: same options, same bytes; another seed, other bytes', () => {
    const a = generateCameraFrame({ width: 640, height: 480, seed: 42 });
    const b = generateCameraFrame({ width: 640, height: 480, seed: 42 });
    const c = generateCameraFrame({ width: 640, height: 480, seed: 43 });
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
    expect(a.length).toBeGreaterThan(PIPELINE_MIN_BYTES);
    expect(c.length).toBeGreaterThan(PIPELINE_MIN_BYTES);
  });

  it('makes a valid JPEG of exactly the asked size, odd sizes too', () => {
    for (const [width, height, seed] of [[333, 197, 1], [1920, 1080, 7], [16, 16, 0]] as const) {
      const buf = generateCameraFrame({ width, height, seed, quality: 75 });
      expect(readJpegInfo(buf)).toMatchObject({ width, height, sof: 0xc0 });
      const decoded = jpeg.decode(buf, { useTArray: true });
      expect([decoded.width, decoded.height]).toEqual([width, height]);
    }
  });

  it('is over 10 KB for every scene at 640x480', () => {
    for (let seed = 0; seed < 12; seed++) {
      expect(generateCameraFrame({ width: 640, height: 480, seed }).length, `seed ${seed}`).toBeGreaterThan(PIPELINE_MIN_BYTES);
    }
  });

  it('rejects bad options naming the option', () => {
    expect(() => generateCameraFrame({ width: 0, height: 480, seed: 1 })).toThrow(/^width must be an integer from 16 to 7680, got 0$/);
    expect(() => generateCameraFrame({ width: 640, height: 480.5, seed: 1 })).toThrow(/^height must be/);
    expect(() => generateCameraFrame({ width: 640, height: 480, seed: -1 })).toThrow(/^seed must be/);
    expect(() => generateCameraFrame({ width: 640, height: 480, seed: 1, quality: 101 })).toThrow(/^quality must be/);
  });
});

describe('node fixtures/generate.ts', () => {
  const temps: string[] = [];
  afterAll(() => {
    for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  });

  function run(args: string[]) {
    const res = spawnSync(NODE, [GENERATE, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    return { code: res.status, stdout: res.stdout, stderr: res.stderr };
  }

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'hsi-chaos-gen-'));
    temps.push(dir);
    return dir;
  }

  it('writes --count frames, the same bytes on every run', () => {
    const runs = [tempDir(), tempDir()].map((dir) => {
      const out = join(dir, 'garage');
      const res = run(['--camera', 'garage', '--width', '800', '--height', '600', '--count', '3', '--out', out]);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      return { out, names: readdirSync(out).sort() };
    });
    const [first, second] = runs;
    if (!first || !second) throw new Error('two runs expected');
    expect(first.names).toEqual(['synthetic_800x600_s1_001.jpg', 'synthetic_800x600_s1_002.jpg', 'synthetic_800x600_s1_003.jpg']);
    expect(second.names).toEqual(first.names);
    for (const name of first.names) {
      const a = readFileSync(join(first.out, name));
      const b = readFileSync(join(second.out, name));
      expect(a.equals(b), name).toBe(true);
      expect(readJpegInfo(a)).toMatchObject({ width: 800, height: 600 });
      expect(a.length).toBeGreaterThan(PIPELINE_MIN_BYTES);
    }
    // Frames of one camera differ from each other.
    const bytes = first.names.map((n) => readFileSync(join(first.out, n)).toString('base64'));
    expect(new Set(bytes).size).toBe(3);
  });

  /** One clear line naming the flag, exit code 2, no stack trace, nothing written. */
  function expectUsageError(args: string[], pattern: RegExp): void {
    const out = join(tempDir(), 'out');
    const res = run([...args, '--out', out]);
    expect(res.code, res.stderr).toBe(2);
    const lines = res.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  }

  it('rejects bad arguments with one line naming the flag and exit code 2', () => {
    const size = ['--width', '640', '--height', '480'];
    expectUsageError(size, /--camera is required/);
    expectUsageError(['--camera', 'Front-Door', ...size], /--camera must match \^\[a-z0-9_\]\{1,64\}\$.*got "Front-Door"/);
    expectUsageError(['--camera', 'garage', '--height', '480'], /--width is required/);
    expectUsageError(['--camera', 'garage', '--width', 'abc', '--height', '480'], /--width must be a whole number from 16 to 7680, got "abc"/);
    expectUsageError(['--camera', 'garage', '--width', '640', '--height', '99999'], /--height must be a whole number from 16 to 4320, got "99999"/);
    expectUsageError(['--camera', 'garage', ...size, '--count', '0'], /--count must be a whole number from 1 to 1000, got "0"/);
    expectUsageError(['--camera', 'garage', ...size, '--quality', '101'], /--quality must be a whole number from 1 to 100, got "101"/);
    expectUsageError(['--camera', 'garage', ...size, '--seed', '-5'], /--seed/);
    expectUsageError(['--camera', 'garage', ...size, '--bogus'], /Unknown option '--bogus'/);
    expectUsageError(['--camera', 'garage', ...size, 'extra'], /extra/);
  });

  it('prints help with exit code 0', () => {
    const res = run(['--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Usage: node fixtures\/generate\.ts --camera ID/);
  });
});
