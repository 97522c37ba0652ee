import { describe, expect, it } from 'vitest';
import { HttpError, multipartFile } from '../../../reference-stack/common/http.ts';

/** A body as a WHATWG client (fetch, undici, the load driver) serializes it, with its content type. */
async function serialize(form: FormData): Promise<{ body: Buffer; contentType: string }> {
  const res = new Response(form);
  return { body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') ?? '' };
}

/** The WHATWG parser (what the backend used before): the oracle. */
async function whatwg(body: Buffer, contentType: string, field: string): Promise<Buffer | undefined> {
  const value = (await new Request('http://x/', { method: 'POST', headers: { 'content-type': contentType }, body }).formData()).get(field);
  return value === null || typeof value === 'string' ? undefined : Buffer.from(await value.arrayBuffer());
}

const image = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256));
// bytes that look like a delimiter's start inside the file must not end it
image.write('\r\n--', 1000, 'latin1');

async function expectLikeWhatwg(form: FormData, field = 'file'): Promise<Buffer | undefined> {
  const { body, contentType } = await serialize(form);
  const ours = await multipartFile(body, contentType, field);
  const theirs = await whatwg(body, contentType, field);
  expect(ours === undefined).toBe(theirs === undefined);
  if (ours !== undefined && theirs !== undefined) expect(ours.equals(theirs)).toBe(true);
  return ours;
}

describe('multipartFile (the upload and detect routes)', () => {
  it('finds the file field as the WHATWG parser does, among other fields, without copying it', async () => {
    const form = new FormData();
    form.append('camera', 'front_door');
    form.append('file', new Blob([image], { type: 'image/jpeg' }), 'frame "1".jpg');
    form.append('after', 'x');
    const { body, contentType } = await serialize(form);
    const file = await multipartFile(body, contentType);
    expect(file?.equals(image)).toBe(true);
    expect(file?.buffer).toBe(body.buffer); // a view into the body
    await expectLikeWhatwg(form);
  });

  it('answers undefined for a missing field and for a field that is not a file (no filename)', async () => {
    const text = new FormData();
    text.append('file', 'not a file');
    expect(await expectLikeWhatwg(text)).toBeUndefined();
    const other = new FormData();
    other.append('picture', new Blob([image]), 'a.jpg');
    expect(await expectLikeWhatwg(other)).toBeUndefined();
  });

  it('reads a quoted boundary, a preamble, and a file field named otherwise', async () => {
    const boundary = 'b0undary with space';
    const body = Buffer.concat([Buffer.from(`preamble\r\n--${boundary}\r\nContent-Disposition: form-data; name="image"; filename=a.jpg\r\nContent-Type: image/jpeg\r\n\r\n`), image, Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const file = await multipartFile(body, `multipart/form-data; boundary="${boundary}"`, 'image');
    expect(file?.equals(image)).toBe(true);
  });

  it('refuses a body it cannot parse with a 400 invalid_multipart', async () => {
    const { body, contentType } = await serialize(((f) => (f.append('file', new Blob([image]), 'a.jpg'), f))(new FormData()));
    const cases: [Buffer, string][] = [
      [body, 'multipart/form-data'], // no boundary
      [body, 'multipart/form-data; boundary=other'], // not in the body
      [body.subarray(0, body.length - 60), contentType], // cut: no closing delimiter
    ];
    for (const [b, type] of cases) {
      const error = await multipartFile(b, type).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HttpError);
      expect(error).toMatchObject({ status: 400, code: 'invalid_multipart' });
    }
  });
});
