import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { QueueCapture } from '../../../harness/conform/queue-capture.ts';
import { parseMonitorLine, SimpleReplyReader } from '../../../harness/conform/redis-monitor-line.ts';

/**
 * The queue capture against a stand-in Redis on a real socket: it answers what a real Redis
 * answers to AUTH, SELECT and MONITOR, and then writes monitor lines. The case that made
 * ws-conform.test.ts flake: Redis writes MONITOR's +OK and the first monitor line in ONE
 * segment (a push right after MONITOR was accepted), so both are parsed before any promise
 * callback runs.
 */
interface FakeRedis {
  server: Server;
  url: string;
  commands: string[][];
  client: Promise<Socket>;
}

/** Reads RESP arrays of bulk strings (what a client sends) from `buffer`; returns the rest. */
function readCommands(buffer: string, out: string[][]): string {
  let rest = buffer;
  for (;;) {
    const m = /^\*(\d+)\r\n/.exec(rest);
    if (!m) return rest;
    let at = m[0].length;
    const args: string[] = [];
    for (let i = 0; i < Number(m[1]); i++) {
      const len = /^\$(\d+)\r\n/.exec(rest.slice(at));
      if (!len) return rest;
      const start = at + len[0].length;
      if (rest.length < start + Number(len[1]) + 2) return rest;
      args.push(rest.slice(start, start + Number(len[1])));
      at = start + Number(len[1]) + 2;
    }
    out.push(args);
    rest = rest.slice(at);
  }
}

/** `onMonitor` writes what Redis would after MONITOR (its +OK included). */
async function fakeRedis(onMonitor: (socket: Socket) => void, refuse?: string, dropFirst = 0): Promise<FakeRedis> {
  let connections = 0;
  const commands: string[][] = [];
  let resolveClient: (s: Socket) => void = () => undefined;
  const client = new Promise<Socket>((r) => {
    resolveClient = r;
  });
  const server = createServer((socket) => {
    connections += 1;
    if (connections <= dropFirst) {
      socket.destroy();
      return;
    }
    resolveClient(socket);
    let buffer = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      const seen: string[][] = [];
      buffer = readCommands(buffer + chunk.toString('latin1'), seen);
      for (const args of seen) {
        commands.push(args);
        const name = args[0]!.toLowerCase();
        if (name === 'monitor' && refuse) socket.write(`-${refuse}\r\n`);
        else if (name === 'monitor') onMonitor(socket);
        else if (name === 'info') socket.write(`$${'redis_version:7.2.0\r\nloading:0\r\n'.length}\r\nredis_version:7.2.0\r\nloading:0\r\n\r\n`);
        else socket.write('+OK\r\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`, commands, client };
}

const LINE = (args: string): string => `+1796000000.123456 [0 172.18.0.5:40312] ${args}\r\n`;
const until = async (what: () => boolean): Promise<void> => {
  for (let i = 0; i < 2_000 && !what(); i++) await new Promise((r) => setTimeout(r, 1));
};

let open: FakeRedis | undefined;
let capture: QueueCapture | undefined;
afterEach(async () => {
  capture?.stop();
  open?.server.close();
  capture = undefined;
  open = undefined;
});

describe('QueueCapture (Redis MONITOR on its own connection)', () => {
  it('keeps the first monitor line even when it arrives in the same segment as MONITOR\'s +OK', async () => {
    open = await fakeRedis((socket) => socket.write(`+OK\r\n${LINE('"lpush" "detection_queue" "{\\"camera_id\\":\\"front_door\\"}"')}`));
    capture = new QueueCapture(open.url);
    await capture.start();
    await until(() => capture!.pushes.length > 0);
    expect(capture.note).toBeUndefined();
    expect(capture.pushes.map((p) => [p.key, p.raw])).toEqual([['detection_queue', '{"camera_id":"front_door"}']]);
  });

  it('sends AUTH with the URL\'s user and password, then MONITOR, and nothing else', async () => {
    open = await fakeRedis((socket) => socket.write('+OK\r\n'));
    capture = new QueueCapture(open.url.replace('redis://', 'redis://hsi:p%40ss@') + '/0');
    await capture.start();
    expect(capture.note).toBeUndefined();
    expect(open.commands).toEqual([['AUTH', 'hsi', 'p@ss'], ['MONITOR']]);
  });

  it('reads lines split over segments, decodes escapes and binary bytes, keeps script pushes, skips other commands and other databases', async () => {
    open = await fakeRedis((socket) => {
      const lines = [
        LINE('"lpush" "detection_queue" "caf\\xc3\\xa9 \\"q\\" \\\\ \\n\\t\\x00"'),
        '+1796000000.2 [0 lua] "rpush" "hsi:queue:analysis_queue" "Z:KLUv" "second"\r\n',
        LINE('"blpop" "detection_queue" "5"'),
        '+1796000000.3 [3 unix:/run/redis.sock] "lpush" "detection_queue" "db 3"\r\n',
        LINE('"LPUSH" "detection_queue" "upper"'),
      ].join('');
      const all = `+OK\r\n${lines}`;
      socket.write(all.slice(0, 40));
      setTimeout(() => socket.write(all.slice(40, 123)), 5);
      setTimeout(() => socket.write(all.slice(123)), 10);
    });
    capture = new QueueCapture(open.url);
    await capture.start();
    await until(() => capture!.pushes.length >= 4);
    await new Promise((r) => setTimeout(r, 20));
    expect(capture.note).toBeUndefined();
    expect(capture.pushes.map((p) => [p.key, p.raw])).toEqual([
      ['detection_queue', 'café "q" \\ \n\t\u0000'],
      ['hsi:queue:analysis_queue', 'Z:KLUv'],
      ['hsi:queue:analysis_queue', 'second'],
      ['detection_queue', 'upper'],
    ]);
  });

  it('a Redis that refuses MONITOR (an ACL) gives a note naming the refusal, and is not asked again', async () => {
    open = await fakeRedis(() => undefined, "NOPERM User hsi has no permissions to run the 'monitor' command");
    capture = new QueueCapture(open.url);
    await capture.start();
    expect(capture.note).toBe("Redis MONITOR not available (NOPERM User hsi has no permissions to run the 'monitor' command): queue payloads not read");
    expect(open.commands).toEqual([['MONITOR']]);
  });

  it('a connection dropped before MONITOR is accepted is tried once more on a fresh one', async () => {
    open = await fakeRedis((socket) => socket.write(`+OK\r\n${LINE('"rpush" "analysis_queue" "x"')}`), undefined, 1);
    capture = new QueueCapture(open.url);
    await capture.start();
    await until(() => capture!.pushes.length > 0);
    expect(capture.note).toBeUndefined();
    expect(capture.pushes.map((p) => p.raw)).toEqual(['x']);
  });

  it('two dropped connections: a note, never a silent empty capture', async () => {
    open = await fakeRedis(() => undefined, undefined, 2);
    capture = new QueueCapture(open.url);
    await capture.start();
    expect(capture.note).toMatch(/^Redis MONITOR not available \(.+\): queue payloads not read$/);
  });

  it('the connection closing during the capture is named in the note (the payloads seen may be incomplete)', async () => {
    open = await fakeRedis((socket) => socket.write('+OK\r\n'));
    capture = new QueueCapture(open.url);
    await capture.start();
    expect(capture.note).toBeUndefined();
    (await open.client).destroy();
    await until(() => capture!.note !== undefined);
    expect(capture.note).toBe('the Redis MONITOR connection closed during the traced upload: queue payloads may be missing');
  });
});

describe('monitor lines (pure)', () => {
  it('parses timestamp, database, source and arguments', () => {
    const line = parseMonitorLine('1796000000.123456 [0 lua] "lpush" "k" ""')!;
    expect({ ...line, args: line.args.map(String) }).toEqual({ timestamp: 1796000000.123456, db: 0, source: 'lua', args: ['lpush', 'k', ''] });
    expect(parseMonitorLine('1796000000.1 [12 172.18.0.5:6379] "get" "a b"')!.db).toBe(12);
  });

  it('decodes every sdscatrepr escape to its byte', () => {
    const [arg] = parseMonitorLine('1.0 [0 lua] "\\\\\\"\\n\\r\\t\\a\\b\\x7f\\xff\\xC3\\xA9"')!.args;
    expect([...arg!]).toEqual([0x5c, 0x22, 0x0a, 0x0d, 0x09, 0x07, 0x08, 0x7f, 0xff, 0xc3, 0xa9]);
  });

  it('an argument holding `" "` stays one argument', () => {
    expect(parseMonitorLine('1.0 [0 127.0.0.1:1] "set" "a\\" \\"b"')!.args.map(String)).toEqual(['set', 'a" "b']);
  });

  it('refuses what is not a monitor line', () => {
    for (const text of ['OK', '1.0 [0 lua]', '1.0 [0 lua] "unterminated', '1.0 [0 lua] "a""b"', '1.0 [0 lua] "bad \\q escape"', '1.0 [0 lua] "\\x4"']) expect(parseMonitorLine(text), text).toBeUndefined();
  });

  it('the reply reader splits CRLF-terminated replies and keeps a partial one', () => {
    const reader = new SimpleReplyReader();
    expect(reader.push(Buffer.from('+OK\r\n-ERR no\r\n+1.0 [0 lua] "a'))).toEqual([{ kind: 'status', text: 'OK' }, { kind: 'error', text: 'ERR no' }]);
    expect(reader.push(Buffer.from('"\r\n:1\r\n'))).toEqual([{ kind: 'status', text: '1.0 [0 lua] "a"' }, { kind: 'unexpected', text: ':1' }]);
  });
});
