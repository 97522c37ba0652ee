/**
 * A request's bytes built once (request line, host, headers, content-length, and the body
 * when it is small), with the byte offset of its traceparent value: each request of the load
 * driver copies the bytes and writes its own 55-byte traceparent in place (connection.ts), no
 * header list or string work per request.
 */

/** `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>` */
export const TRACEPARENT_LENGTH = 55;
const PLACEHOLDER = `00-${'0'.repeat(32)}-${'0'.repeat(16)}-00`;

/** Bodies up to this size travel in the same buffer as the head (one write); larger ones beside it (no copy). */
export const INLINE_BODY_MAX = 64 * 1024;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// no CR, LF or NUL in a header value, a method or a path (request splitting)
const UNSAFE = /[\r\n\0]/;

export interface RequestInit {
  method: string;
  /** path and query, e.g. `/api/cameras/front_door/uploads` */
  path: string;
  /** the Host header (`127.0.0.1:8000`) */
  host: string;
  /** flat name/value pairs; a `traceparent` header marks the slot each request fills (its value may be '') */
  headers: readonly string[];
  body?: Buffer | string | null | undefined;
}

/** Methods whose request carries `content-length: 0` without a body, as undici sends it. */
const EXPECTS_BODY = new Set(['POST', 'PUT', 'PATCH']);

export class RequestTemplate {
  readonly method: string;
  /** the head, and the body when it is at most INLINE_BODY_MAX bytes */
  readonly bytes: Buffer;
  /** the body, when it travels beside the head */
  readonly body: Buffer | undefined;
  /** offset of the traceparent value in `bytes`; -1 without one */
  readonly traceparentAt: number;

  constructor(init: RequestInit) {
    const method = init.method.toUpperCase();
    if (!TOKEN.test(method)) throw new TypeError(`request method ${JSON.stringify(init.method)} is not an HTTP token`);
    if (UNSAFE.test(init.path) || !init.path.startsWith('/') || init.path.includes(' ')) throw new TypeError(`request path ${JSON.stringify(init.path)} is not an origin-form path`);
    this.method = method;
    const body = init.body == null ? undefined : typeof init.body === 'string' ? Buffer.from(init.body, 'utf8') : init.body;
    let head = `${method} ${init.path} HTTP/1.1\r\nhost: ${init.host}\r\n`;
    let traceparentAt = -1;
    for (let i = 0; i + 1 < init.headers.length; i += 2) {
      const name = init.headers[i] as string;
      let value = init.headers[i + 1] as string;
      if (!TOKEN.test(name)) throw new TypeError(`header name ${JSON.stringify(name)} is not an HTTP token`);
      if (UNSAFE.test(value)) throw new TypeError(`header ${name}: its value holds CR, LF or NUL`);
      const lower = name.toLowerCase();
      if (lower === 'content-length' || lower === 'host' || lower === 'transfer-encoding') continue;
      if (lower === 'traceparent' && traceparentAt < 0 && (value === '' || value.length === TRACEPARENT_LENGTH)) {
        if (value === '') value = PLACEHOLDER;
        traceparentAt = Buffer.byteLength(head, 'latin1') + name.length + 2;
      }
      head += `${name}: ${value}\r\n`;
    }
    if (body !== undefined || EXPECTS_BODY.has(method)) head += `content-length: ${body?.length ?? 0}\r\n`;
    head += '\r\n';
    const headBytes = Buffer.from(head, 'latin1');
    this.traceparentAt = traceparentAt;
    if (body !== undefined && body.length > INLINE_BODY_MAX) {
      this.bytes = headBytes;
      this.body = body;
    } else {
      this.bytes = body === undefined || body.length === 0 ? headBytes : Buffer.concat([headBytes, body]);
      this.body = undefined;
    }
  }

  /** Copies the bytes into `target` (at least bytes.length long) with `traceparent` in its slot; returns the filled view. */
  fill(target: Buffer, traceparent: string): Buffer {
    if (this.traceparentAt >= 0 && traceparent.length !== TRACEPARENT_LENGTH) throw new TypeError(`traceparent ${JSON.stringify(traceparent)} is not ${TRACEPARENT_LENGTH} characters`);
    this.bytes.copy(target, 0);
    if (this.traceparentAt >= 0) target.write(traceparent, this.traceparentAt, TRACEPARENT_LENGTH, 'latin1');
    return target.length === this.bytes.length ? target : target.subarray(0, this.bytes.length);
  }
}
