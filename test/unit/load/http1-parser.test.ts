import { describe, expect, it } from 'vitest';
import { RequestTemplate, INLINE_BODY_MAX } from '../../../harness/load/http1/request-template.ts';
import { MAX_HEAD_BYTES, type ParserSink, readHead, readHeadText, type ResponseHead, ResponseParser } from '../../../harness/load/http1/response-parser.ts';
import { seededRandom } from '../../../harness/util/random.ts';

/** Records what the parser reports. */
class Recorder implements ParserSink {
  heads: ResponseHead[] = [];
  body: Buffer[] = [];
  completes = 0;
  onHead(head: ResponseHead): boolean | void {
    this.heads.push(head);
  }
  onBody(chunk: Buffer): void {
    this.body.push(Buffer.from(chunk));
  }
  onComplete(): void {
    this.completes++;
  }
  get text(): string {
    return Buffer.concat(this.body).toString('latin1');
  }
}

/** Feeds `wire` in pieces cut at `cuts` (byte offsets). */
function parse(wire: string, cuts: readonly number[] = [], headRequest = false): { r: Recorder; p: ResponseParser } {
  const r = new Recorder();
  const p = new ResponseParser(r);
  p.begin(headRequest);
  const bytes = Buffer.from(wire, 'latin1');
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > at) p.feed(bytes.subarray(at, cut));
    at = Math.max(at, cut);
  }
  return { r, p };
}

const FIXED = 'HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\nContent-Length: 27\r\nKeep-Alive: timeout=5\r\n\r\n{"id":"u-1","file_path":"x"}'.replace('27', String('{"id":"u-1","file_path":"x"}'.length));
const CHUNKED =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + '5;ext=1\r\nhello\r\n' + '1\r\n,\r\n' + 'A\r\n 0123456789\r\n'.replace(' ', '') + '0\r\nX-Trailer: t\r\n\r\n';

describe('http1 response parser', () => {
  it('reads a Content-Length answer split at every byte, completing once with the whole body', () => {
    for (let cut = 0; cut <= FIXED.length; cut++) {
      const { r, p } = parse(FIXED, [cut]);
      expect(r.heads.map((h) => h.status), `cut ${cut}`).toEqual([202]);
      expect(r.text, `cut ${cut}`).toBe('{"id":"u-1","file_path":"x"}');
      expect(r.completes, `cut ${cut}`).toBe(1);
      expect(p.reusable && p.complete).toBe(true);
    }
    // one byte at a time
    const { r } = parse(FIXED, Array.from({ length: FIXED.length }, (_, i) => i));
    expect([r.heads[0]?.status, r.text, r.completes, r.heads[0]?.keepAliveHintMs]).toEqual([202, '{"id":"u-1","file_path":"x"}', 1, 5000]);
  });

  it('reads a chunked answer (extensions, trailers) split anywhere', () => {
    for (const cuts of [[], [3], [48], [49], [50], [55], [60], [CHUNKED.length - 3], Array.from({ length: CHUNKED.length }, (_, i) => i)]) {
      const { r, p } = parse(CHUNKED, cuts);
      expect(r.text, `cuts ${cuts.length}`).toBe('hello,0123456789');
      expect(r.completes).toBe(1);
      expect(p.reusable).toBe(true);
    }
    // not complete before the terminating empty line
    const { r } = parse(CHUNKED.slice(0, -2));
    expect(r.completes).toBe(0);
  });

  it('skips interim 1xx answers, and reads no body for 204, 304 and HEAD', () => {
    const { r } = parse('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok', [10, 30]);
    expect([r.heads.map((h) => h.status), r.text, r.completes]).toEqual([[202], 'ok', 1]);
    expect(parse('HTTP/1.1 204 No Content\r\n\r\n').r.completes).toBe(1);
    expect(parse('HTTP/1.1 304 Not Modified\r\ncontent-length: 50\r\n\r\n').r.completes).toBe(1);
    const head = parse('HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n', [], true);
    expect([head.r.completes, head.r.text]).toEqual([1, '']);
    // the same head to a GET waits for its 50 bytes
    expect(parse('HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n').r.completes).toBe(0);
  });

  it('decides reuse: close, HTTP/1.0, bytes past the answer, a body read until close', () => {
    expect(parse('HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n').p.reusable).toBe(false);
    expect(parse('HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n').p.reusable).toBe(false);
    expect(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\ncontent-length: 0\r\n\r\n').p.reusable).toBe(true);
    const extra = parse('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokGARBAGE');
    expect([extra.r.text, extra.r.completes, extra.p.reusable, extra.p.extraBytes]).toEqual(['ok', 1, false, 7]);
    const untilClose = parse('HTTP/1.1 200 OK\r\n\r\nsome', [20]);
    expect([untilClose.r.completes, untilClose.p.readsUntilClose]).toEqual([0, true]);
    expect(untilClose.p.end()).toBe(true);
    expect([untilClose.r.text, untilClose.r.completes, untilClose.p.reusable]).toEqual(['some', 1, false]);
    // a fixed-length body cut short by the close is not complete
    const cut = parse('HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nsome');
    expect([cut.p.end(), cut.r.completes]).toEqual([false, 0]);
  });

  it('reads header names in any case, a status line without reason, a coded transfer-encoding list', () => {
    const { r } = parse('HTTP/1.1 200\r\nCONTENT-LENGTH: 2\r\nKEEP-ALIVE: max=5, Timeout=7\r\n\r\nok');
    expect([r.heads[0]?.status, r.text, r.completes, r.heads[0]?.keepAliveHintMs]).toEqual([200, 'ok', 1, 7000]);
    expect(parse('HTTP/1.1 204 No Content\r\nKeep-Alive: timeout=3, max=100\r\n\r\n').r.heads[0]?.keepAliveHintMs).toBe(3000);
    expect(parse('HTTP/1.1 204 No Content\r\nKeep-Alive: timeout=\r\n\r\n').r.heads[0]?.keepAliveHintMs).toBeUndefined();
    const coded = parse('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\ncontent-length: 99\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    expect([coded.r.text, coded.r.completes]).toEqual(['ok', 1]);
    // names of the same length and first letter that are not framing headers change nothing
    const lookalike = parse('HTTP/1.1 200 OK\r\ncontent-lengtx: 5\r\nconnectiom: close\r\nkeep-alivf: timeout=1\r\ncontent-length: 2\r\n\r\nok');
    expect([lookalike.r.text, lookalike.p.reusable, lookalike.r.heads[0]?.keepAliveHintMs]).toEqual(['ok', true, undefined]);
  });

  it('recognises a head that repeats the last one byte for byte, and reads anew one that differs anywhere', () => {
    const r = new Recorder();
    const p = new ResponseParser(r);
    const answers = [
      'HTTP/1.1 202 Accepted\r\nDate: Wed, 02 Dec 2026 07:00:00 GMT\r\ncontent-length: 2\r\n\r\nok',
      'HTTP/1.1 202 Accepted\r\nDate: Wed, 02 Dec 2026 07:00:00 GMT\r\ncontent-length: 2\r\n\r\nok',
      'HTTP/1.1 202 Accepted\r\nDate: Wed, 02 Dec 2026 07:00:00 GMT\r\ncontent-length: 3\r\n\r\nyes',
      'HTTP/1.1 202 Accepted\r\nDate: Wed, 02 Dec 2026 07:00:00 GMT\r\ncontent-length: 3\r\nconnection: close\r\n\r\nend',
      'HTTP/1.1 500 Accepted\r\nDate: Wed, 02 Dec 2026 07:00:00 GMT\r\ncontent-length: 3\r\nconnection: close\r\n\r\nbad',
    ];
    const seen = answers.map((wire) => {
      p.begin();
      r.body = [];
      // in a larger read buffer whose other bytes change, as a socket's reused buffer does
      const bytes = Buffer.from(`${wire}${'z'.repeat(8)}`, 'latin1');
      p.feed(bytes.subarray(0, wire.length));
      bytes.fill(0x78);
      return [r.heads.at(-1)?.status, r.text, p.complete, p.reusable];
    });
    expect(seen).toEqual([
      [202, 'ok', true, true],
      [202, 'ok', true, true],
      [202, 'yes', true, true],
      [202, 'end', true, false],
      [500, 'bad', true, false],
    ]);
  });

  it('reads and frames a body the sink does not want without handing it over', () => {
    const r = new (class extends Recorder {
      override onHead(head: ResponseHead): boolean {
        super.onHead(head);
        return false;
      }
    })();
    const p = new ResponseParser(r);
    for (const wire of [FIXED, CHUNKED]) {
      p.begin();
      p.feed(Buffer.from(wire, 'latin1'));
      expect([p.complete, r.body.length]).toEqual([true, 0]);
    }
    expect(r.completes).toBe(2);
  });

  it('refuses malformed answers with a protocol error', () => {
    expect(() => parse('HTTP/2 200 OK\r\n\r\n')).toThrow(/HTTP\/1\.1 protocol: bad status line/);
    expect(() => parse('HTTP/1.1 2x0 OK\r\n\r\n')).toThrow(/bad status line "HTTP\/1\.1 2x0 OK"/);
    expect(() => parse('HTTP/1.1 2000 OK\r\n\r\n')).toThrow(/bad status line/);
    expect(() => parse('HTTP/1.1 200 OK\r\ncontent-length : 2\r\n\r\nok')).toThrow(/bad header line/);
    expect(() => parse('HTTP/1.1 200 OK\r\n: x\r\n\r\n')).toThrow(/bad header line/);
    expect(() => parse('HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n')).toThrow(/bad content-length/);
    expect(() => parse('HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n')).toThrow(/bad content-length/);
    expect(() => parse('HTTP/1.1 200 OK\r\nno colon\r\n\r\n')).toThrow(/bad header line/);
    expect(() => parse('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n')).toThrow(/bad chunk size/);
    expect(() => parse('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabXY')).toThrow(/not followed by CRLF/);
    expect(() => parse(`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(MAX_HEAD_BYTES)}`, [100, 40_000])).toThrow(/headers larger than/);
  });
});

describe('http1 head reader: bytes against text', () => {
  const statusLines = ['HTTP/1.1 202 Accepted', 'HTTP/1.0 200 OK', 'HTTP/1.1 204', 'HTTP/1.1 100 Continue', 'HTTP/1.1 2x0 OK', 'HTTP/2 200 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.2 200 OK', 'HTTP/1.1  200 OK', 'HTTP/1.1 200\tOK', 'HTTP/1.1 20'];
  const lines = [
    'content-type: application/json', 'Content-Length: 27', 'content-length:5', 'content-length:  007 ', 'content-length: \t12\t', 'CONTENT-LENGTH: 2', 'content-length: 1', 'content-length: x',
    'content-length: 1234567890123456', 'content-length: 123456789012345', 'content-length: \u000b12', 'content-length: 12\u00a0', 'content-length:', 'content-lengtx: 5',
    'Transfer-Encoding: chunked', 'transfer-encoding: CHUNKED', 'transfer-encoding: gzip, Chunked', 'transfer-encoding: gzip', 'transfer-encoding:  chunked  ', 'transfer-encodinG: chunked ,',
    'Connection: keep-alive', 'connection: close', 'Connection: Close', 'connection: upgrade, close', 'connection: keep-alive, upgrade', 'connection: closed', 'connectiom: close', 'CONNECTION:KEEP-ALIVE',
    'Keep-Alive: timeout=5', 'keep-alive: timeout=60', 'KEEP-ALIVE: max=5, Timeout=7', 'keep-alive: timeout=3, max=100', 'keep-alive: timeout=', 'keep-alive: Timeout=9', 'keep-alive: timeout=1e3', 'keep-alive: timeout=-1', 'keep-alivf: timeout=1',
    'Date: Wed, 02 Dec 2026 06:00:00 GMT', 'x-odd: a:b', 'x-cr: a\rb', 'content-length : 2', ': x', 'no colon', 'connection\t: close',
  ];
  const outcome = (f: () => unknown) => {
    try {
      return f();
    } catch (error) {
      return (error as Error).message;
    }
  };

  it('reads 3,000 heads (usual, odd and malformed) as the text reader does: the same framing or the same error', () => {
    const random = seededRandom('http1-head');
    const pick = <T,>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)] as T;
    for (let k = 0; k < 3000; k++) {
      const head = [k < 30 ? 'HTTP/1.1 202 Accepted' : pick(statusLines), ...Array.from({ length: Math.floor(random() * 5) }, () => pick(lines))].join('\r\n');
      // the head inside a larger buffer, as a read delivers it
      const bytes = Buffer.from(`xx${head}\r\n\r\nbody`, 'latin1');
      expect(outcome(() => readHead(bytes, 2, 2 + head.length)), JSON.stringify(head)).toEqual(outcome(() => readHeadText(head)));
    }
  });
});

describe('http1 request template', () => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('builds the request bytes once and fills each traceparent in place', () => {
    const t = new RequestTemplate({ method: 'post', path: '/api/cameras/a/uploads', host: '127.0.0.1:8000', headers: ['content-type', 'multipart/form-data; boundary=b', 'traceparent', '', 'baggage', 'camera.id=a'], body: Buffer.from('BODY') });
    const target = Buffer.alloc(t.bytes.length + 10);
    const out = t.fill(target, tp).toString('latin1');
    expect(out).toBe(
      `POST /api/cameras/a/uploads HTTP/1.1\r\nhost: 127.0.0.1:8000\r\ncontent-type: multipart/form-data; boundary=b\r\ntraceparent: ${tp}\r\nbaggage: camera.id=a\r\ncontent-length: 4\r\n\r\nBODY`,
    );
    // the template itself is untouched (other connections copy it)
    expect(t.bytes.toString('latin1')).toContain(`traceparent: 00-${'0'.repeat(32)}-${'0'.repeat(16)}-00\r\n`);
    expect(() => t.fill(target, 'short')).toThrow(/not 55 characters/);
  });

  it('sends content-length 0 for a bodiless POST, none for a GET; keeps large bodies beside the head', () => {
    expect(new RequestTemplate({ method: 'POST', path: '/x', host: 'h', headers: [] }).bytes.toString()).toBe('POST /x HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n');
    expect(new RequestTemplate({ method: 'GET', path: '/x?a=1', host: 'h', headers: ['X-API-Key', 'k'] }).bytes.toString()).toBe('GET /x?a=1 HTTP/1.1\r\nhost: h\r\nX-API-Key: k\r\n\r\n');
    const big = Buffer.alloc(INLINE_BODY_MAX + 1, 1);
    const t = new RequestTemplate({ method: 'PUT', path: '/x', host: 'h', headers: [], body: big });
    expect([t.body === big, t.bytes.toString().endsWith(`content-length: ${big.length}\r\n\r\n`)]).toEqual([true, true]);
    const small = new RequestTemplate({ method: 'PATCH', path: '/x', host: 'h', headers: ['content-type', 'application/json'], body: '{"a":"é"}' });
    expect([small.body, small.bytes.toString('utf8').endsWith('content-length: 10\r\n\r\n{"a":"é"}')]).toEqual([undefined, true]);
  });

  it('refuses request splitting: CR/LF in a header value or path, a bad method or header name', () => {
    expect(() => new RequestTemplate({ method: 'GET', path: '/x', host: 'h', headers: ['x-a', 'v\r\nx-b: injected'] })).toThrow(/CR, LF or NUL/);
    expect(() => new RequestTemplate({ method: 'GET', path: '/x\r\n', host: 'h', headers: [] })).toThrow(/origin-form/);
    expect(() => new RequestTemplate({ method: 'GET', path: '/a b', host: 'h', headers: [] })).toThrow(/origin-form/);
    expect(() => new RequestTemplate({ method: 'G T', path: '/x', host: 'h', headers: [] })).toThrow(/not an HTTP token/);
    expect(() => new RequestTemplate({ method: 'GET', path: '/x', host: 'h', headers: ['bad name', 'v'] })).toThrow(/not an HTTP token/);
  });
});
