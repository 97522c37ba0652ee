import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Http1Connection } from '../../../harness/load/http1/connection.ts';
import { Http1Pool } from '../../../harness/load/http1/pool.ts';
import { INLINE_BODY_MAX, RequestTemplate } from '../../../harness/load/http1/request-template.ts';
import { encodeMultipartFile } from '../../../harness/load/multipart.ts';
import { sendApiRequest } from '../../../harness/load/request-iteration.ts';
import { newTraceContext } from '../../../harness/load/trace-context.ts';
import { AbortScope, dispatchUpload } from '../../../harness/load/upload-client.ts';

/**
 * The driver's HTTP/1.1 client (harness/load/http1) against a node:http server (keep-alive,
 * chunked answers, large bodies, the headers it received) and a hand-rolled net server that
 * misbehaves on purpose (split heads, a close mid-body, no answer, garbage, idle closes).
 */

interface Seen {
  socket: number;
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  bodyLength: number;
  bodySha: string;
}

let http: Server;
let httpPort = 0;
const seen: Seen[] = [];
const httpSockets = new Map<Socket, number>();

beforeAll(async () => {
  http = createHttpServer((req, res) => {
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (c: Buffer) => {
      hash.update(c);
      length += c.length;
    });
    req.on('end', () => {
      seen.push({ socket: httpSockets.get(req.socket) ?? -1, method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyLength: length, bodySha: hash.digest('hex') });
      if (req.url === '/chunked') {
        // no content-length: node:http answers chunked
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('part-1;');
        setTimeout(() => res.end('part-2'), 20);
        return;
      }
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: `u-${seen.length}`, file_path: `/data/${seen.length}.jpg` }));
    });
  });
  http.on('connection', (s: Socket) => httpSockets.set(s, httpSockets.size));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  httpPort = (http.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => http.close(() => r())));

const upload = encodeMultipartFile({ fileName: 'a.jpg', bytes: Buffer.alloc(3000, 7), mediaType: 'image/jpeg' });
const uploadPath = '/api/cameras/front_door/uploads';

function send(connection: Http1Connection, options: { timeoutMs?: number; scope?: AbortScope; prepared?: typeof upload } = {}) {
  const trace = newTraceContext(true);
  const done = dispatchUpload({ connection, path: uploadPath, cameraId: 'front_door', prepared: options.prepared ?? upload, trace, baggage: 'camera.id=front_door,request.source=unit', timeoutMs: options.timeoutMs ?? 5000, ...(options.scope ? { scope: options.scope } : {}) });
  return { trace, done };
}

describe('http1 connection against node:http', () => {
  it('keeps one connection alive across requests, sending each its own traceparent and the baggage, reading id / file_path', async () => {
    seen.length = 0;
    const connection = new Http1Connection('127.0.0.1', httpPort);
    const sent = [];
    for (let i = 0; i < 3; i++) {
      const { trace, done } = send(connection);
      sent.push({ trace, record: await done });
    }
    await connection.close();
    expect(sent.map((s) => [s.record.status, s.record.accepted, s.record.uploadId, s.record.filePath])).toEqual([
      [202, true, 'u-1', '/data/1.jpg'],
      [202, true, 'u-2', '/data/2.jpg'],
      [202, true, 'u-3', '/data/3.jpg'],
    ]);
    expect(new Set(seen.map((s) => s.socket)).size).toBe(1);
    expect(seen.map((s) => s.headers.traceparent)).toEqual(sent.map((s) => s.trace.traceparent));
    for (const s of seen) {
      expect(s.headers.baggage).toBe('camera.id=front_door,request.source=unit');
      expect(s.headers['content-type']).toBe(upload.contentType);
      expect(s.headers.host).toBe(`127.0.0.1:${httpPort}`);
      expect([s.method, s.url, s.bodyLength]).toEqual(['POST', uploadPath, upload.body.length]);
    }
    // the first request paid the connect, the others reused the connection
    expect(sent[0]?.record.timing?.connectingMs).toBeGreaterThan(0);
    expect(sent.slice(1).map((s) => s.record.timing?.connectingMs)).toEqual([0, 0]);
  });

  it('writes a body larger than the inline limit intact, and reads a chunked answer', async () => {
    seen.length = 0;
    const bytes = Buffer.alloc(INLINE_BODY_MAX * 3 + 17);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) % 251;
    const big = encodeMultipartFile({ fileName: 'big.jpg', bytes, mediaType: 'image/jpeg' });
    const connection = new Http1Connection('127.0.0.1', httpPort);
    const record = await send(connection, { prepared: big }).done;
    const answer = await sendApiRequest(connection, { request: { method: 'GET', path: '/chunked', headers: ['x-api-key', 'k'] }, timeoutMs: 5000, scope: new AbortScope() });
    await connection.close();
    expect(record.accepted).toBe(true);
    expect([seen[0]?.bodyLength, seen[0]?.bodySha]).toEqual([big.body.length, createHash('sha256').update(big.body).digest('hex')]);
    expect([answer.status, answer.body, answer.error]).toEqual([200, 'part-1;part-2', undefined]);
    expect(seen[1]?.headers['x-api-key']).toBe('k');
    expect(new Set(seen.map((s) => s.socket)).size).toBe(1);
  });

  it('queues a second request sent while one is in flight and answers both in order', async () => {
    seen.length = 0;
    const connection = new Http1Connection('127.0.0.1', httpPort);
    const [a, b] = [send(connection), send(connection)];
    const records = await Promise.all([a.done, b.done]);
    await connection.close();
    expect(records.map((r) => r.status)).toEqual([202, 202]);
    expect(seen.map((s) => s.headers.traceparent)).toEqual([a.trace.traceparent, b.trace.traceparent]);
  });

  it('refuses requests after close, and reports a refused connect', async () => {
    const connection = new Http1Connection('127.0.0.1', httpPort);
    await connection.close();
    expect(await send(connection).done).toMatchObject({ status: 0, accepted: false, error: 'The client is destroyed' });
    const closed = createNetServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await send(new Http1Connection('127.0.0.1', port)).done;
    expect(refused).toMatchObject({ status: 0, accepted: false });
    expect(refused.error).toMatch(/ECONNREFUSED/);
  });

  it('a pool gives each VU of a scenario its own connection', () => {
    const pool = new Http1Pool(`http://127.0.0.1:${httpPort}`);
    expect(pool.connection('a', 0)).toBe(pool.connection('a', 0));
    expect(pool.connection('a', 1)).not.toBe(pool.connection('a', 0));
    expect(pool.connection('b', 0)).not.toBe(pool.connection('a', 0));
    expect([pool.size, pool.host, pool.connection('a', 0).authority]).toEqual([3, `127.0.0.1:${httpPort}`, `127.0.0.1:${httpPort}`]);
    expect(() => new Http1Pool('ftp://x')).toThrow(/http or https/);
    return pool.close();
  });
});

/**
 * A net server whose behaviour each test picks: `answer(socket, request, n)` runs for each
 * request head read (n counts requests over all connections).
 */
class RawServer {
  readonly server: NetServer;
  connections = 0;
  /** connections closed (both ways) */
  closed = 0;
  requests = 0;
  port = 0;
  answer: (socket: Socket, head: string, n: number) => void = () => {};
  private readonly sockets = new Set<Socket>();

  constructor() {
    this.server = createNetServer((socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.closed++;
      });
      socket.on('error', () => {});
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        // requests here carry a content-length; answer once the whole request is read
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          if (end < 0) return;
          const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
          if (buffered.length < end + 4 + length) return;
          const head = buffered.slice(0, end);
          buffered = buffered.slice(end + 4 + length);
          this.answer(socket, head, ++this.requests);
        }
      });
    });
  }

  /** connections open on the server's side */
  get open(): number {
    return this.sockets.size;
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const OK = 'HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n{"id":"raw1"}';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('http1 connection against a misbehaving server', () => {
  const raw = new RawServer();
  beforeAll(() => raw.start());
  afterAll(() => raw.stop());

  function fresh(answer: RawServer['answer']): Http1Connection {
    raw.connections = 0;
    raw.closed = 0;
    raw.requests = 0;
    raw.answer = answer;
    return new Http1Connection('127.0.0.1', raw.port);
  }

  it('reads a head that arrives a few bytes at a time', async () => {
    const connection = fresh((socket) => {
      const bytes = Buffer.from(OK, 'latin1');
      let at = 0;
      const drip = () => {
        socket.write(bytes.subarray(at, at + 7));
        at += 7;
        if (at < bytes.length) setTimeout(drip, 2);
      };
      drip();
    });
    const record = await send(connection).done;
    await connection.close();
    expect([record.status, record.uploadId]).toEqual([202, 'raw1']);
  });

  it('a close mid-body fails that request ("other side closed"); the next one reconnects and succeeds', async () => {
    const connection = fresh((socket, _head, n) => {
      if (n === 1) {
        socket.write('HTTP/1.1 202 Accepted\r\ncontent-length: 100\r\n\r\n{"id":');
        setTimeout(() => socket.destroy(), 20);
      } else socket.write(OK);
    });
    const cut = await send(connection).done;
    const next = await send(connection).done;
    await connection.close();
    expect(cut).toMatchObject({ status: 0, accepted: false, error: 'other side closed' });
    expect([next.status, next.uploadId]).toEqual([202, 'raw1']);
    expect(raw.connections).toBe(2);
  });

  it('an idle connection the server closed is reopened for the next request, not failed', async () => {
    const connection = fresh((socket) => {
      socket.write(OK);
      // the server closes idle connections after 30 ms (no Keep-Alive hint)
      setTimeout(() => socket.end(), 30);
    });
    const first = await send(connection).done;
    // the server saw the client's side close too (no server socket left open): the client has taken the server's FIN
    for (let waited = 0; raw.open > 0 && waited < 5000; waited += 5) await sleep(5);
    expect(raw.closed).toBeGreaterThan(0);
    const second = await send(connection).done;
    await connection.close();
    expect([first.status, second.status, raw.connections]).toEqual([202, 202, 2]);
    expect(second.timing?.connectingMs).toBeGreaterThan(0);
  });

  it('honours the Keep-Alive timeout hint: no reuse past it (less the margin)', async () => {
    const connection = fresh((socket) => socket.write('HTTP/1.1 202 Accepted\r\nkeep-alive: timeout=1\r\ncontent-length: 2\r\n\r\n{}'));
    for (let i = 0; i < 3; i++) expect((await send(connection).done).status).toBe(202);
    await connection.close();
    // timeout=1 less the 1 s margin: every request on a new connection; the server never closed one
    expect(raw.connections).toBe(3);
    const kept = fresh((socket) => socket.write('HTTP/1.1 202 Accepted\r\nkeep-alive: timeout=5\r\ncontent-length: 2\r\n\r\n{}'));
    for (let i = 0; i < 3; i++) expect((await send(kept).done).status).toBe(202);
    await kept.close();
    expect(raw.connections).toBe(1);
  });

  it('Connection: close and bytes past the answer both retire the connection', async () => {
    const connection = fresh((socket, _head, n) => socket.write(n === 1 ? 'HTTP/1.1 202 Accepted\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}' : n === 2 ? `${OK}JUNK` : OK));
    const records = [await send(connection).done, await send(connection).done, await send(connection).done];
    await connection.close();
    expect(records.map((r) => r.status)).toEqual([202, 202, 202]);
    expect(raw.connections).toBe(3);
  });

  it('a body read until the server closes is complete at the close', async () => {
    const connection = fresh((socket) => {
      socket.write('HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n\r\n{"id":"until');
      setTimeout(() => socket.end('-close"}'), 10);
    });
    const record = await send(connection).done;
    await connection.close();
    expect([record.status, record.uploadId, record.error]).toEqual([202, 'until-close', undefined]);
  });

  it('keeps a body that arrives in several reads intact (each read reuses the socket read buffer)', async () => {
    // the second read is longer than the first: it overwrites where the first one's body bytes were read
    const first = 'x'.repeat(10);
    const second = 'b'.repeat(3000);
    const connection = fresh((socket, head) => {
      const status = head.startsWith('GET') ? '200 OK' : '500 Internal Server Error';
      socket.write(`HTTP/1.1 ${status}\r\ncontent-length: ${first.length + second.length}\r\n\r\n${first}`);
      setTimeout(() => socket.write(second), 20);
    });
    const answer = await sendApiRequest(connection, { request: { method: 'GET', path: '/events', headers: [] }, timeoutMs: 5000, scope: new AbortScope() });
    const record = await send(connection).done;
    await connection.close();
    expect([answer.status, answer.body === first + second]).toEqual([200, true]);
    expect([record.status, record.error]).toEqual([500, (first + second).slice(0, 200)]);
  });

  it('times out an answer that never comes (headers) or stalls (body), and recovers', async () => {
    const connection = fresh((socket, _head, n) => {
      if (n === 1) return; // never answers
      if (n === 2) return void socket.write('HTTP/1.1 202 Accepted\r\ncontent-length: 50\r\n\r\n{"id":'); // stalls
      socket.write(OK);
    });
    const t0 = performance.now();
    const headers = await send(connection, { timeoutMs: 150 }).done;
    const waited = performance.now() - t0;
    const body = await send(connection, { timeoutMs: 150 }).done;
    const after = await send(connection, { timeoutMs: 2000 }).done;
    await connection.close();
    expect(headers).toMatchObject({ status: 0, error: 'Headers Timeout Error' });
    expect(waited).toBeGreaterThanOrEqual(149);
    expect(body).toMatchObject({ status: 0, error: 'Body Timeout Error' });
    expect(after.status).toBe(202);
    expect(raw.connections).toBe(3);
  });

  it('a malformed answer fails its request with a protocol error and the connection is replaced', async () => {
    const connection = fresh((socket, _head, n) => socket.write(n === 1 ? 'HTP/1.1 OK\r\n\r\n' : OK));
    const bad = await send(connection).done;
    const good = await send(connection).done;
    await connection.close();
    expect(bad.status).toBe(0);
    expect(bad.error).toMatch(/HTTP\/1\.1 protocol: bad status line/);
    expect([good.status, raw.connections]).toEqual([202, 2]);
  });

  it('an abort (the scope of a stopping run) ends the request at once with status 0; the connection recovers', async () => {
    const connection = fresh((socket, _head, n) => {
      if (n > 1) socket.write(OK);
    });
    const scope = new AbortScope();
    const pending = send(connection, { scope });
    await sleep(30);
    scope.abort();
    const aborted = await pending.done;
    expect(aborted).toMatchObject({ status: 0, accepted: false, error: 'aborted' });
    // a scope that is already stopped aborts a new request before it is written
    const before = raw.requests;
    expect(await send(connection, { scope }).done).toMatchObject({ status: 0, error: 'aborted' });
    await sleep(20);
    expect(raw.requests).toBe(before);
    const next = await send(connection).done;
    await connection.close();
    expect(next.status).toBe(202);
  });

  it('close() waits for the request in flight', async () => {
    const connection = fresh((socket) => setTimeout(() => socket.write(OK), 40));
    const pending = send(connection).done;
    await sleep(5);
    await connection.close();
    expect((await pending).status).toBe(202);
  });

  it('writes a template without a traceparent slot as is', async () => {
    let head = '';
    const connection = fresh((socket, h) => {
      head = h;
      socket.write(OK);
    });
    const template = new RequestTemplate({ method: 'GET', path: '/api/events?limit=5', host: connection.authority, headers: ['x-api-key', 'k'] });
    const answer = await new Promise<{ status: number }>((resolve) => {
      let status = 0;
      connection.send(template, undefined, {
        onRequestStart: () => {},
        onRequestSent: () => {},
        onResponseStart: (_c, s) => {
          status = s;
        },
        onResponseData: () => {},
        onResponseEnd: () => resolve({ status }),
        onResponseError: () => resolve({ status: 0 }),
      }, 2000);
    });
    await connection.close();
    expect(answer.status).toBe(202);
    expect(head).toBe(`GET /api/events?limit=5 HTTP/1.1\r\nhost: 127.0.0.1:${raw.port}\r\nx-api-key: k`);
  });
});
