import { randomBytes } from 'node:crypto';

/**
 * A multipart/form-data body with one file field, encoded once and reused for every upload
 * of that fixture (the load driver sends the same images many times; encoding per request
 * would cost more CPU than the request itself).
 */
export interface PreparedUpload {
  body: Buffer;
  contentType: string;
  fileName: string;
}

function quote(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

export function encodeMultipartFile(options: { field?: string; fileName: string; bytes: Buffer; mediaType?: string; boundary?: string }): PreparedUpload {
  const boundary = options.boundary ?? `----hsi-chaos-${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\n` +
      `Content-Disposition: form-data; name="${quote(options.field ?? 'file')}"; filename="${quote(options.fileName)}"\r\n` +
      `Content-Type: ${options.mediaType ?? 'image/jpeg'}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, options.bytes, tail]), contentType: `multipart/form-data; boundary=${boundary}`, fileName: options.fileName };
}

export function mediaTypeOf(fileName: string): string {
  return /\.png$/i.test(fileName) ? 'image/png' : 'image/jpeg';
}
