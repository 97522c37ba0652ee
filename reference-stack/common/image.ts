/**
 * Image sniffing without an image library: the type from magic bytes, and the pixel size from
 * the JPEG SOFn segment or the PNG IHDR chunk.
 */

export type ImageType = 'jpeg' | 'png';

export interface ImageInfo {
  type: ImageType;
  width: number;
  height: number;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** JPEG (FF D8 FF) or PNG (89 50 4E 47 0D 0A 1A 0A) by magic bytes; undefined otherwise. */
export function sniffImageType(bytes: Uint8Array): ImageType | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && Buffer.from(bytes.buffer, bytes.byteOffset, 8).equals(PNG_SIGNATURE)) return 'png';
  return undefined;
}

export const MEDIA_TYPES: Record<ImageType, string> = { jpeg: 'image/jpeg', png: 'image/png' };
export const FILE_EXTENSIONS: Record<ImageType, string> = { jpeg: 'jpg', png: 'png' };

function u16(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
}

function u32(bytes: Uint8Array, at: number): number {
  return (((bytes[at] ?? 0) << 24) >>> 0) + ((bytes[at + 1] ?? 0) << 16) + ((bytes[at + 2] ?? 0) << 8) + (bytes[at + 3] ?? 0);
}

/** Start-of-frame markers: C0-C3, C5-C7, C9-CB, CD-CF (C4 DHT, C8 JPG, CC DAC are not frames). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpegSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  let at = 2; // after SOI
  while (at < bytes.length) {
    if (bytes[at] !== 0xff) return undefined; // segments must start with a marker
    while (bytes[at] === 0xff) at++; // fill bytes
    const marker = bytes[at];
    at++;
    if (marker === undefined) return undefined;
    // Markers without a length field.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd8) continue;
    if (marker === 0xd9 || marker === 0xda) return undefined; // EOI or SOS before any frame header
    if (at + 2 > bytes.length) return undefined;
    const length = u16(bytes, at);
    if (length < 2 || at + length > bytes.length) return undefined;
    if (isStartOfFrame(marker)) {
      if (length < 7) return undefined;
      // length(2) precision(1) height(2) width(2)
      return { height: u16(bytes, at + 3), width: u16(bytes, at + 5) };
    }
    at += length;
  }
  return undefined;
}

function pngSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  // signature(8) length(4) "IHDR"(4) width(4) height(4)
  if (bytes.length < 24) return undefined;
  if (String.fromCharCode(bytes[12] ?? 0, bytes[13] ?? 0, bytes[14] ?? 0, bytes[15] ?? 0) !== 'IHDR') return undefined;
  return { width: u32(bytes, 16), height: u32(bytes, 20) };
}

/** Type and pixel size, or undefined when the bytes are not a decodable JPEG / PNG header. */
export function readImageInfo(bytes: Uint8Array): ImageInfo | undefined {
  const type = sniffImageType(bytes);
  if (type === undefined) return undefined;
  const size = type === 'jpeg' ? jpegSize(bytes) : pngSize(bytes);
  if (size === undefined || size.width <= 0 || size.height <= 0) return undefined;
  return { type, ...size };
}
