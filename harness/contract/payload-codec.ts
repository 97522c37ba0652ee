import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';

/**
 * Redis queue payloads in both dialects (HSI-CONTRACT.md, last section): the reference stack
 * stores plain JSON; the real HSI (`REDIS_COMPRESSION_ENABLED=true`) stores a payload whose
 * UTF-8 JSON is longer than the threshold (1024 bytes) as "Z:" + base64(zstd(json)), and only
 * when that is shorter than the JSON. Readers accept both forms, whatever the dialect.
 */

export const COMPRESSED_PAYLOAD_PREFIX = 'Z:';
/** `REDIS_COMPRESSION_THRESHOLD` default of the real HSI, bytes of UTF-8 JSON. */
export const DEFAULT_COMPRESSION_THRESHOLD_BYTES = 1024;

export interface PayloadCompression {
  /** Compress JSON longer than this many UTF-8 bytes; default 1024. 0 compresses every payload. */
  thresholdBytes?: number;
}

/** The stored string of a JSON text: as is, or "Z:"+base64(zstd) when `compression` is given and it pays. */
export function encodePayloadText(json: string, compression?: PayloadCompression): string {
  if (compression === undefined) return json;
  const bytes = Buffer.from(json, 'utf8');
  if (bytes.length <= (compression.thresholdBytes ?? DEFAULT_COMPRESSION_THRESHOLD_BYTES)) return json;
  const packed = COMPRESSED_PAYLOAD_PREFIX + zstdCompressSync(bytes).toString('base64');
  return packed.length < json.length ? packed : json;
}

/** A value as the queue stores it (JSON, compressed per `compression`). */
export function encodePayload(value: unknown, compression?: PayloadCompression): string {
  return encodePayloadText(JSON.stringify(value), compression);
}

export function isCompressedPayload(raw: string): boolean {
  return raw.startsWith(COMPRESSED_PAYLOAD_PREFIX);
}

/** The JSON text of a stored payload, either form. Throws on a "Z:" payload that is not base64 zstd. */
export function decodePayloadText(raw: string): string {
  if (!isCompressedPayload(raw)) return raw;
  const packed = Buffer.from(raw.slice(COMPRESSED_PAYLOAD_PREFIX.length), 'base64');
  try {
    return zstdDecompressSync(packed).toString('utf8');
  } catch (error) {
    throw new Error(`compressed payload ("Z:" + ${packed.length} bytes) is not valid zstd: ${(error as Error).message}`);
  }
}

export type DecodedPayload = { ok: true; value: unknown; compressed: boolean } | { ok: false; error: string; compressed: boolean };

/** Parses a stored payload of either form; never throws. */
export function decodePayload(raw: string): DecodedPayload {
  const compressed = isCompressedPayload(raw);
  try {
    return { ok: true, value: JSON.parse(decodePayloadText(raw)) as unknown, compressed };
  } catch (error) {
    return { ok: false, error: (error as Error).message, compressed };
  }
}
