import { HttpError, multipartFile, parseJsonBody, readBody, type RouteRequest } from './http.ts';

function decodeBase64Image(value: string): Buffer {
  const data = value.replace(/^data:[^;,]+;base64,/, '').replace(/\s+/g, '');
  if (data === '' || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(data)) throw new HttpError(400, 'invalid_base64', 'image_base64 is not valid base64');
  return Buffer.from(data, 'base64');
}

/**
 * The detector contract's request body (HSI-CONTRACT.md, AI service contracts): multipart field
 * `file`, or JSON `{image_base64}`. Shared by the emulated and the ONNX Runtime detector.
 */
export async function imageFromRequest(req: RouteRequest['req'], maxBytes: number): Promise<Buffer> {
  const contentType = (req.headers['content-type'] ?? '').toLowerCase();
  const body = await readBody(req, maxBytes);
  if (contentType.startsWith('multipart/form-data')) {
    const file = await multipartFile(body, req.headers['content-type'] ?? '', 'file');
    if (file === undefined) throw new HttpError(400, 'missing_file', 'multipart field "file" is missing');
    return file;
  }
  if (contentType.startsWith('application/json')) {
    const parsed = parseJsonBody(body, () => new HttpError(400, 'invalid_json', 'the body is not valid JSON'));
    const encoded = (parsed as { image_base64?: unknown } | null)?.image_base64;
    if (typeof encoded !== 'string') throw new HttpError(400, 'missing_image', 'JSON body needs a string field image_base64');
    return decodeBase64Image(encoded);
  }
  throw new HttpError(415, 'unsupported_content_type', 'send multipart/form-data (field "file") or application/json {image_base64}');
}
