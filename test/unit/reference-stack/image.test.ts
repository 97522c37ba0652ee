import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { readImageInfo, sniffImageType } from '../../../reference-stack/common/image.ts';

const require = createRequire(import.meta.url);
const jpeg = require('jpeg-js') as { encode(img: { data: Buffer; width: number; height: number }, quality: number): { data: Buffer } };

function jpegOf(width: number, height: number): Buffer {
  return jpeg.encode({ data: Buffer.alloc(width * height * 4, 128), width, height }, 50).data;
}

function pngHeader(width: number, height: number): Buffer {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'ascii');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  return b;
}

describe('image sniffing', () => {
  it('reads the size of a real JPEG', () => {
    expect(readImageInfo(jpegOf(64, 48))).toEqual({ type: 'jpeg', width: 64, height: 48 });
    expect(readImageInfo(jpegOf(1, 300))).toEqual({ type: 'jpeg', width: 1, height: 300 });
  });

  it('reads the size from a PNG IHDR', () => {
    expect(readImageInfo(pngHeader(1920, 1080))).toEqual({ type: 'png', width: 1920, height: 1080 });
  });

  it('sniffs by magic bytes', () => {
    expect(sniffImageType(jpegOf(8, 8))).toBe('jpeg');
    expect(sniffImageType(pngHeader(1, 1))).toBe('png');
    expect(sniffImageType(Buffer.from('GIF89a....'))).toBeUndefined();
    expect(sniffImageType(Buffer.alloc(0))).toBeUndefined();
  });

  it('rejects undecodable headers', () => {
    expect(readImageInfo(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0, 0, 0]))).toBeUndefined();
    expect(readImageInfo(jpegOf(16, 16).subarray(0, 40))).toBeUndefined();
    expect(readImageInfo(pngHeader(0, 10))).toBeUndefined();
    expect(readImageInfo(Buffer.from('not an image at all'))).toBeUndefined();
  });
});
