/**
 * An incremental HTTP/1.1 response parser for the load driver's own client (connection.ts):
 * status line, the four headers the client acts on (content-length, transfer-encoding,
 * connection, keep-alive), then the body framed by Content-Length, chunked encoding, or the
 * connection's close. 1xx interim answers are skipped. Bytes may arrive split anywhere.
 * Pure: it reports to a ParserSink and never touches a socket. A fed chunk may be reused once
 * feed() returns (a socket's read buffer): the parser keeps copies only, and the body pieces
 * it reports are views of the chunk, valid during the onBody call.
 */

/** What the parser reports, in order: one head, body pieces, then complete (or an error from feed). */
export interface ParserSink {
  /** `false`: the body's bytes are not wanted (they are still read and framed, onBody is not called) */
  onHead(head: ResponseHead): boolean | void;
  onBody(chunk: Buffer): void;
  onComplete(): void;
}

export interface ResponseHead {
  status: number;
  /** the connection may carry another request after this answer */
  keepAlive: boolean;
  /** the server's `Keep-Alive: timeout=N` hint in ms, when it sent one */
  keepAliveHintMs: number | undefined;
}

export class ResponseProtocolError extends Error {
  constructor(message: string) {
    super(`Response does not match the HTTP/1.1 protocol: ${message}`);
    this.name = 'ResponseProtocolError';
  }
}

/** A head larger than this is refused (undici's default maxHeaderSize is 16 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'until-close' | 'done';

const CRLF_CRLF = Buffer.from('\r\n\r\n', 'latin1');
const LF = 10;

/** One response at a time: begin() before each request's answer, then feed() every chunk read. */
export class ResponseParser {
  private state: State = 'done';
  /** head bytes (or a chunk-size / trailer line) that arrived split */
  private pending: Buffer | undefined;
  /** the sink wants this answer's body */
  private wantBody = true;
  /**
   * The last head read whole from one chunk (its bytes up to and with the blank line, copied)
   * and what it said: a server's heads repeat byte for byte between its Date header's changes,
   * so the next one is recognised with one comparison instead of a search and a parse.
   */
  private lastHead: Buffer | undefined;
  private lastFraming: Framing | undefined;
  private lastInfo: ResponseHead | undefined;
  private remaining = 0;
  private noBody = false;
  private keepAlive = true;
  /** bytes read after the response was complete (a misbehaving server): the connection must not be reused */
  extraBytes = 0;
  /** the answer ended during this feed: onComplete is due once the chunk is taken */
  private completed = false;
  private readonly sink: ParserSink;

  constructor(sink: ParserSink) {
    this.sink = sink;
  }

  /** Expects a new response; `headRequest`: the answer to a HEAD has no body. */
  begin(headRequest = false): void {
    this.state = 'head';
    this.pending = undefined;
    this.remaining = 0;
    this.noBody = headRequest;
    this.keepAlive = true;
    this.extraBytes = 0;
    this.completed = false;
    this.wantBody = true;
  }

  get complete(): boolean {
    return this.state === 'done';
  }

  /** the response's body runs until the connection closes */
  get readsUntilClose(): boolean {
    return this.state === 'until-close';
  }

  /** the answer allows another request on this connection (valid once complete) */
  get reusable(): boolean {
    return this.keepAlive && this.extraBytes === 0;
  }

  /** The connection closed: completes a body read until close; false when the response was cut short. */
  end(): boolean {
    if (this.state !== 'until-close') return this.state === 'done';
    this.finish();
    this.flushComplete();
    return true;
  }

  /**
   * Takes the next bytes read; throws ResponseProtocolError on a malformed answer. The sink
   * hears onComplete after the whole chunk is taken, so bytes past the answer's end are counted
   * (extraBytes) before the connection decides on its reuse.
   */
  feed(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && this.state !== 'done') at = this.step(chunk, at);
    if (at < chunk.length) this.extraBytes += chunk.length - at;
    this.flushComplete();
  }

  private step(chunk: Buffer, at: number): number {
    switch (this.state) {
      case 'head':
        return this.readHead(chunk, at);
      case 'length':
        return this.readFixed(chunk, at);
      case 'chunk-size':
        return this.readChunkSize(chunk, at);
      case 'chunk-data':
        return this.readChunkData(chunk, at);
      case 'chunk-crlf':
        return this.readChunkCrlf(chunk, at);
      case 'trailers':
        return this.readTrailers(chunk, at);
      case 'until-close':
        if (this.wantBody) this.sink.onBody(at === 0 ? chunk : chunk.subarray(at));
        return chunk.length;
      case 'done':
        return at;
    }
  }

  private readHead(chunk: Buffer, at: number): number {
    const pending = this.pending;
    if (pending === undefined) {
      // the usual case: the whole head in this chunk, the same bytes as the last head's
      const last = this.lastHead;
      if (last !== undefined && chunk.length - at >= last.length && chunk.compare(last, 0, last.length, at, at + last.length) === 0) {
        this.onFraming(this.lastFraming as Framing, this.lastInfo as ResponseHead);
        return at + last.length;
      }
      // or read without a copy, and kept for the next answer
      const end = chunk.indexOf(CRLF_CRLF, at);
      if (end >= 0) {
        const framing = readHead(chunk, at, end);
        this.lastHead = Buffer.from(chunk.subarray(at, end + 4));
        this.lastFraming = framing;
        this.lastInfo = { status: framing.status, keepAlive: framing.keepAlive, keepAliveHintMs: framing.keepAliveHintMs };
        this.onFraming(framing, this.lastInfo);
        return end + 4;
      }
      if (chunk.length - at > MAX_HEAD_BYTES) throw new ResponseProtocolError(`headers larger than ${MAX_HEAD_BYTES} bytes`);
      // a copy: the chunk may be a view of a read buffer the next read reuses
      this.pending = Buffer.from(chunk.subarray(at));
      return chunk.length;
    }
    const bytes = Buffer.concat([pending, chunk.subarray(at)]);
    const end = bytes.indexOf(CRLF_CRLF, Math.max(0, pending.length - 3));
    if (end < 0) {
      if (bytes.length > MAX_HEAD_BYTES) throw new ResponseProtocolError(`headers larger than ${MAX_HEAD_BYTES} bytes`);
      this.pending = bytes;
      return chunk.length;
    }
    this.pending = undefined;
    const framing = readHead(bytes, 0, end);
    this.onFraming(framing, { status: framing.status, keepAlive: framing.keepAlive, keepAliveHintMs: framing.keepAliveHintMs });
    return at + end + 4 - pending.length;
  }

  /** a head's status and framing (`info`: what the sink hears of it) */
  private onFraming(framing: Framing, info: ResponseHead): void {
    const status = framing.status;
    // an interim answer (100 Continue, 103 Early Hints): the real one follows
    if (status >= 100 && status < 200 && status !== 101) return;
    this.keepAlive = framing.keepAlive;
    this.wantBody = this.sink.onHead(info) !== false;
    if (this.noBody || status === 204 || status === 304 || status === 101) return this.finish();
    if (framing.chunked) this.state = 'chunk-size';
    else if (framing.length !== undefined) {
      this.remaining = framing.length;
      if (framing.length === 0) return this.finish();
      this.state = 'length';
    } else {
      this.keepAlive = false;
      this.state = 'until-close';
    }
  }

  private readFixed(chunk: Buffer, at: number): number {
    const n = Math.min(this.remaining, chunk.length - at);
    if (this.wantBody) this.sink.onBody(at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n));
    this.remaining -= n;
    if (this.remaining === 0) this.finish();
    return at + n;
  }

  /** A line ending in LF (chunk size, trailer); undefined while it is incomplete (kept pending). */
  private readLine(chunk: Buffer, at: number): { line: string; next: number } | undefined {
    const lf = chunk.indexOf(LF, at);
    if (lf < 0) {
      const rest = chunk.subarray(at);
      this.pending = this.pending === undefined ? Buffer.from(rest) : Buffer.concat([this.pending, rest]);
      if (this.pending.length > MAX_HEAD_BYTES) throw new ResponseProtocolError('chunk-size or trailer line too long');
      return undefined;
    }
    let line = chunk.toString('latin1', at, lf);
    if (this.pending !== undefined) {
      line = this.pending.toString('latin1') + line;
      this.pending = undefined;
    }
    return { line: line.endsWith('\r') ? line.slice(0, -1) : line, next: lf + 1 };
  }

  private readChunkSize(chunk: Buffer, at: number): number {
    if (this.pending === undefined) {
      // the usual case: `<hex>\r\n` whole in this chunk, read from the bytes
      let size = 0;
      let i = at;
      for (; i < chunk.length && i - at < 12; i++) {
        const h = hexValue(chunk[i] as number);
        if (h < 0) break;
        size = size * 16 + h;
      }
      if (i > at && chunk[i] === 13 && chunk[i + 1] === LF) {
        this.startChunk(size);
        return i + 2;
      }
    }
    const read = this.readLine(chunk, at);
    if (read === undefined) return chunk.length;
    const hex = (read.line.split(';')[0] ?? '').trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new ResponseProtocolError(`bad chunk size ${JSON.stringify(read.line.slice(0, 40))}`);
    this.startChunk(Number.parseInt(hex, 16));
    return read.next;
  }

  private startChunk(size: number): void {
    this.remaining = size;
    this.state = size === 0 ? 'trailers' : 'chunk-data';
  }

  private readChunkData(chunk: Buffer, at: number): number {
    const n = Math.min(this.remaining, chunk.length - at);
    if (this.wantBody) this.sink.onBody(chunk.subarray(at, at + n));
    this.remaining -= n;
    if (this.remaining === 0) {
      this.state = 'chunk-crlf';
      this.remaining = 2;
    }
    return at + n;
  }

  /** the CRLF after a chunk's data (it may arrive split) */
  private readChunkCrlf(chunk: Buffer, at: number): number {
    const expected = this.remaining === 2 ? 13 : LF;
    if (chunk[at] !== expected) throw new ResponseProtocolError('chunk data not followed by CRLF');
    this.remaining--;
    if (this.remaining === 0) this.state = 'chunk-size';
    return at + 1;
  }

  /** trailer lines after the last chunk, up to the empty line */
  private readTrailers(chunk: Buffer, at: number): number {
    if (this.pending === undefined && chunk[at] === 13 && chunk[at + 1] === LF) {
      this.finish();
      return at + 2;
    }
    const read = this.readLine(chunk, at);
    if (read === undefined) return chunk.length;
    if (read.line === '') this.finish();
    return read.next;
  }

  private finish(): void {
    this.state = 'done';
    this.pending = undefined;
    this.completed = true;
  }

  private flushComplete(): void {
    if (!this.completed) return;
    this.completed = false;
    this.sink.onComplete();
  }
}

interface Framing {
  status: number;
  chunked: boolean;
  length: number | undefined;
  keepAlive: boolean;
  keepAliveHintMs: number | undefined;
}

const CR = 13;
const SP = 32;
const HT = 9;
const COLON = 58;
const HTTP_1_DOT = Buffer.from('HTTP/1.', 'latin1');

/**
 * @internal The status and framing of a head, read from its bytes: no string is made for the usual
 * head. A header value of an unusual form (a list, other spacing) and every malformed head
 * are read by the text path below (readFraming, statusOf), which decides and words the errors.
 */
export function readHead(b: Buffer, start: number, end: number): Framing {
  const status = statusAt(b, start, end);
  if (status < 0) {
    statusOf(b.toString('latin1', start, end)); // throws its message
    throw new ResponseProtocolError('bad status line');
  }
  const f: Framing = { status, chunked: false, length: undefined, keepAlive: b[start + 7] === 49 /* HTTP/1.1 */, keepAliveHintMs: undefined };
  let pos = lineEnd(b, start, end);
  while (pos < end) {
    const lineStart = pos + 2;
    // the line's end and its first colon, in one pass
    let colon = -1;
    let stop = lineStart;
    for (; stop < end; stop++) {
      const c = b[stop];
      if (c === CR && b[stop + 1] === 10) break;
      if (c === COLON && colon < 0) colon = stop;
    }
    // no whitespace between a field name and its colon (RFC 9112 5.1)
    if (colon <= lineStart || b[colon - 1] === SP || b[colon - 1] === HT) {
      readFraming(b.toString('latin1', start, end), true); // throws its message
      throw new ResponseProtocolError('bad header line');
    }
    const name = framingName(colon - lineStart, (b[lineStart] as number) | 0x20);
    if (name !== undefined && nameIs(b, lineStart, name)) framingHeader(f, b, name, colon, stop);
    pos = stop;
  }
  return f;
}

/** where the line starting at `from` ends: its CRLF, or `end` */
function lineEnd(b: Buffer, from: number, end: number): number {
  for (let i = from; i < end; i++) if (b[i] === CR && b[i + 1] === 10) return i;
  return end;
}

const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding', 'latin1');
const CONNECTION = Buffer.from('connection', 'latin1');
const KEEP_ALIVE = Buffer.from('keep-alive', 'latin1');

/** the framing header a name of this length and (lower-cased) first letter could be */
function framingName(n: number, c: number): Buffer | undefined {
  if (n === 14 && c === 99) return CONTENT_LENGTH;
  if (n === 17 && c === 116) return TRANSFER_ENCODING;
  if (n === 10) return c === 99 ? CONNECTION : c === 107 ? KEEP_ALIVE : undefined;
  return undefined;
}

/** `HTTP/1.x SSS[ reason]`: the status code, or -1 for any other status line */
function statusAt(b: Buffer, start: number, end: number): number {
  if (end - start < 12) return -1;
  for (let i = 0; i < 7; i++) if (b[start + i] !== HTTP_1_DOT[i]) return -1;
  const minor = b[start + 7];
  if ((minor !== 48 && minor !== 49) || b[start + 8] !== SP) return -1;
  const a = (b[start + 9] as number) - 48;
  const d = (b[start + 10] as number) - 48;
  const e = (b[start + 11] as number) - 48;
  if (a < 0 || a > 9 || d < 0 || d > 9 || e < 0 || e > 9) return -1;
  const after = start + 12 < end ? b[start + 12] : undefined;
  if (after !== undefined && after !== SP && after !== CR) return -1;
  return a * 100 + d * 10 + e;
}

/** `name` (lower case) equals the bytes from `at`, letters compared in any case */
function nameIs(b: Buffer, at: number, name: Buffer): boolean {
  for (let i = 0; i < name.length; i++) {
    const x = b[at + i] as number;
    const y = name[i] as number;
    if (x !== y && (y < 97 || y > 122 || (x | 0x20) !== y)) return false;
  }
  return true;
}

/** a framing header (`name`): its usual values read from the bytes, the rest as text */
function framingHeader(f: Framing, b: Buffer, name: Buffer, colon: number, stop: number): void {
  let from = colon + 1;
  let to = stop;
  while (from < to && (b[from] === SP || b[from] === HT)) from++;
  while (to > from && (b[to - 1] === SP || b[to - 1] === HT)) to--;
  if (name === CONTENT_LENGTH) {
    const value = digitsAt(b, from, to, 15);
    if (value >= 0 && (f.length === undefined || f.length === value)) return void (f.length = value);
  } else if (name === TRANSFER_ENCODING) {
    if (to - from === 7 && nameIs(b, from, CHUNKED)) return void (f.chunked = true);
  } else if (name === CONNECTION) {
    if (to - from === 10 && nameIs(b, from, KEEP_ALIVE)) return void (f.keepAlive = true);
    if (to - from === 5 && nameIs(b, from, CLOSE)) return void (f.keepAlive = false);
  } else if (to - from > 8 && nameIs(b, from, TIMEOUT_EQ)) {
    const seconds = digitsAt(b, from + 8, to, 15);
    if (seconds >= 0) return void (f.keepAliveHintMs = seconds * 1000);
  }
  applyHeader(f, name.toString('latin1'), b.toString('latin1', colon + 1, stop).trim());
}

/** @internal The text path alone (the parser's former head reader): what readHead must agree with. */
export function readHeadText(text: string): Framing {
  const status = statusOf(text);
  return { status, ...readFraming(text, text.charCodeAt(7) === 49) };
}

const CHUNKED = Buffer.from('chunked', 'latin1');
const CLOSE = Buffer.from('close', 'latin1');
const TIMEOUT_EQ = Buffer.from('timeout=', 'latin1');

/** the decimal number of 1..max digits from `from` to `to`; -1 for anything else */
function digitsAt(b: Buffer, from: number, to: number, max: number): number {
  if (to <= from || to - from > max) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = (b[i] as number) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** `HTTP/1.x SSS[ reason]`: the status code. */
function statusOf(text: string): number {
  const minor = text.charCodeAt(7);
  const after = text.charCodeAt(12);
  const a = text.charCodeAt(9) - 48;
  const b = text.charCodeAt(10) - 48;
  const c = text.charCodeAt(11) - 48;
  const digits = a >= 0 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9;
  if (!digits || !text.startsWith('HTTP/1.') || (minor !== 48 && minor !== 49) || text.charCodeAt(8) !== 32 || !(text.length === 12 || after === 32 || after === 13)) {
    const line = text.split('\r\n', 1)[0] ?? '';
    throw new ResponseProtocolError(`bad status line ${JSON.stringify(line.slice(0, 60))}`);
  }
  return a * 100 + b * 10 + c;
}

/**
 * The headers that frame the body and decide the connection's reuse (HTTP/1.1 keeps alive by
 * default), scanned in the head's text: only a line whose name has the length and first
 * letter of one of the four is looked at further. (The text path: readHead's errors.)
 */
function readFraming(text: string, http11: boolean): Omit<Framing, 'status'> {
  const f: Omit<Framing, 'status'> = { chunked: false, length: undefined, keepAlive: http11, keepAliveHintMs: undefined };
  let pos = text.indexOf('\r\n');
  while (pos >= 0) {
    const start = pos + 2;
    const next = text.indexOf('\r\n', start);
    const end = next < 0 ? text.length : next;
    const colon = text.indexOf(':', start);
    // no whitespace between a field name and its colon (RFC 9112 5.1)
    if (colon <= start || colon > end || text.charCodeAt(colon - 1) === 32 || text.charCodeAt(colon - 1) === 9) throw new ResponseProtocolError(`bad header line ${JSON.stringify(text.slice(start, Math.min(end, start + 60)))}`);
    const n = colon - start;
    const c = text.charCodeAt(start) | 0x20;
    if ((n === 14 && c === 99) || (n === 17 && c === 116) || (n === 10 && (c === 99 || c === 107))) {
      applyHeader(f, text.slice(start, colon).toLowerCase(), text.slice(colon + 1, end).trim());
    }
    pos = next;
  }
  return f;
}

function applyHeader(f: Omit<Framing, 'status'>, name: string, value: string): void {
  if (name === 'content-length') {
    if (!/^\d{1,15}$/.test(value) || (f.length !== undefined && f.length !== Number(value))) throw new ResponseProtocolError(`bad content-length ${JSON.stringify(value)}`);
    f.length = Number(value);
  } else if (name === 'transfer-encoding') {
    const v = value.toLowerCase();
    f.chunked = v === 'chunked' || /(?:^|,)\s*chunked\s*$/.test(v);
  } else if (name === 'connection') {
    const v = value.toLowerCase();
    if (v === 'keep-alive') f.keepAlive = true;
    else if (v === 'close' || /(?:^|,)\s*close\s*(?:,|$)/.test(v)) f.keepAlive = false;
    else if (/(?:^|,)\s*keep-alive\s*(?:,|$)/.test(v)) f.keepAlive = true;
  } else if (name === 'keep-alive') {
    // `timeout=N` alone (node:http's form) without a regex; lists and spacing through it
    const plain = value.length > 8 && value.startsWith('timeout=') ? Number(value.slice(8)) : Number.NaN;
    const seconds = Number.isInteger(plain) && plain >= 0 ? plain : Number(/(?:^|,)\s*timeout\s*=\s*(\d+)/i.exec(value)?.[1] ?? Number.NaN);
    if (Number.isInteger(seconds)) f.keepAliveHintMs = seconds * 1000;
  }
}

/** the value of an ASCII hex digit, -1 for any other byte */
function hexValue(b: number): number {
  if (b >= 48 && b <= 57) return b - 48;
  const l = b | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}
