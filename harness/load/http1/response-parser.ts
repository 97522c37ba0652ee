/**
 * An incremental HTTP/1.1 response parser for the load driver's own client (connection.ts):
 * status line, the four headers the client acts on (content-length, transfer-encoding,
 * connection, keep-alive), then the body framed by Content-Length, chunked encoding, or the
 * connection's close. 1xx interim answers are skipped. Bytes may arrive split anywhere.
 * Pure: it reports to a ParserSink and never touches a socket.
 */

/** What the parser reports, in order: one head, body pieces, then complete (or an error from feed). */
export interface ParserSink {
  onHead(head: ResponseHead): void;
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
        this.sink.onBody(at === 0 ? chunk : chunk.subarray(at));
        return chunk.length;
      case 'done':
        return at;
    }
  }

  /** The bytes of `chunk` from `at`, after what was pending (no copy when nothing was). */
  private joined(chunk: Buffer, at: number): { bytes: Buffer; offset: number } {
    if (this.pending === undefined) return { bytes: chunk, offset: at };
    const bytes = Buffer.concat([this.pending, chunk.subarray(at)]);
    return { bytes, offset: this.pending.length };
  }

  private readHead(chunk: Buffer, at: number): number {
    const { bytes, offset } = this.joined(chunk, at);
    const searchFrom = Math.max(0, offset - 3);
    const end = bytes.indexOf(CRLF_CRLF, this.pending === undefined ? at : searchFrom);
    if (end < 0) {
      const start = this.pending === undefined ? at : 0;
      if (bytes.length - start > MAX_HEAD_BYTES) throw new ResponseProtocolError(`headers larger than ${MAX_HEAD_BYTES} bytes`);
      this.pending = start === 0 ? bytes : bytes.subarray(start);
      return chunk.length;
    }
    const headStart = this.pending === undefined ? at : 0;
    const consumedOfChunk = end + 4 - offset + at;
    this.pending = undefined;
    this.onHead(bytes.toString('latin1', headStart, end));
    return consumedOfChunk;
  }

  private onHead(text: string): void {
    const lines = text.split('\r\n');
    const statusLine = lines[0] ?? '';
    const m = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(statusLine);
    if (m === null) throw new ResponseProtocolError(`bad status line ${JSON.stringify(statusLine.slice(0, 60))}`);
    const status = Number(m[2]);
    const framing = readFraming(lines, m[1] === '1');
    // an interim answer (100 Continue, 103 Early Hints): the real one follows
    if (status >= 100 && status < 200 && status !== 101) return;
    this.keepAlive = framing.keepAlive;
    this.sink.onHead({ status, keepAlive: framing.keepAlive, keepAliveHintMs: framing.keepAliveHintMs });
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
    this.sink.onBody(at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n));
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
    const read = this.readLine(chunk, at);
    if (read === undefined) return chunk.length;
    const hex = (read.line.split(';')[0] ?? '').trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new ResponseProtocolError(`bad chunk size ${JSON.stringify(read.line.slice(0, 40))}`);
    this.remaining = Number.parseInt(hex, 16);
    this.state = this.remaining === 0 ? 'trailers' : 'chunk-data';
    return read.next;
  }

  private readChunkData(chunk: Buffer, at: number): number {
    const n = Math.min(this.remaining, chunk.length - at);
    this.sink.onBody(chunk.subarray(at, at + n));
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
  chunked: boolean;
  length: number | undefined;
  keepAlive: boolean;
  keepAliveHintMs: number | undefined;
}

/** The headers that frame the body and decide the connection's reuse (HTTP/1.1 keeps alive by default). */
function readFraming(lines: readonly string[], http11: boolean): Framing {
  const f: Framing = { chunked: false, length: undefined, keepAlive: http11, keepAliveHintMs: undefined };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ResponseProtocolError(`bad header line ${JSON.stringify(line.slice(0, 60))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || (f.length !== undefined && f.length !== Number(value))) throw new ResponseProtocolError(`bad content-length ${JSON.stringify(value)}`);
      f.length = Number(value);
    } else if (name === 'transfer-encoding') f.chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
    else if (name === 'connection') {
      const tokens = value.toLowerCase();
      if (/(?:^|,)\s*close\s*(?:,|$)/.test(tokens)) f.keepAlive = false;
      else if (/(?:^|,)\s*keep-alive\s*(?:,|$)/.test(tokens)) f.keepAlive = true;
    } else if (name === 'keep-alive') {
      const t = /(?:^|,)\s*timeout\s*=\s*(\d+)/i.exec(value);
      if (t) f.keepAliveHintMs = Number(t[1]) * 1000;
    }
  }
  return f;
}
