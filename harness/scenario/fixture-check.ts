import { closeSync, openSync, readSync, statSync } from 'node:fs';

/**
 * A fixture the backend would reject is found before a stack starts: a zero-byte file, or
 * bytes that are not what the name says (a .jpg must start with the JPEG SOI marker FF D8 FF,
 * a .png with the PNG signature). Reads 8 bytes per file.
 */
const JPEG_SOI = Buffer.from([0xff, 0xd8, 0xff]);
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Why the file is not a usable fixture image, or undefined when it is. */
export function fixtureProblem(path: string): string | undefined {
  const size = statSync(path).size;
  if (size === 0) return 'is empty (0 bytes)';
  const head = Buffer.alloc(8);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 8, 0);
  } finally {
    closeSync(fd);
  }
  if (/\.png$/i.test(path)) return head.equals(PNG_SIGNATURE) ? undefined : 'is not a PNG (no PNG signature)';
  return head.subarray(0, 3).equals(JPEG_SOI) ? undefined : `is not a JPEG (starts with ${head.subarray(0, 3).toString('hex')}, not ffd8ff)`;
}
