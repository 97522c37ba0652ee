import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { errorMessage } from '../errors.ts';
import { parseMonitorLine, respCommand, SimpleReplyReader, type SimpleReply } from './redis-monitor-line.ts';

/**
 * The work queues' payloads as the stack writes them: a Redis MONITOR connection for the length
 * of one traced upload sees every LPUSH/RPUSH (also those a Lua script runs), so a payload is
 * read even when a worker pops it a millisecond later. A stack whose Redis refuses MONITOR
 * (an ACL) gives a note instead.
 *
 * The connection is a plain socket that sends AUTH (if the URL has a password) and MONITOR and
 * nothing else, and reads the monitor lines itself: a general client (ioredis) switches to
 * monitor mode in a promise callback after MONITOR's +OK, so a push written by Redis in the same
 * segment as that +OK was taken for a reply to no command ("Command queue state error") and the
 * whole check was skipped. A connection that fails before MONITOR is accepted is tried once more.
 */
export interface PushedPayload {
  key: string;
  raw: string;
  atEpochMs: number;
}

const PUSH_COMMANDS = new Set(['lpush', 'rpush', 'lpushx', 'rpushx']);
const CONNECT_TIMEOUT_MS = 5_000;
const ATTEMPTS = 2;

/** A server's refusal (an error reply): trying again would not help. */
class MonitorRefused extends Error {}

interface MonitorTarget {
  host: string;
  port: number;
  tls: boolean;
  db: number;
  auth: string[] | undefined;
}

function monitorTarget(redisUrl: string): MonitorTarget {
  const url = new URL(redisUrl);
  const password = decodeURIComponent(url.password);
  const username = decodeURIComponent(url.username);
  const db = Number(url.pathname.replace(/^\//, '') || '0');
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 6379 : Number(url.port),
    tls: url.protocol === 'rediss:',
    db: Number.isInteger(db) ? db : 0,
    auth: password === '' ? undefined : username === '' ? ['AUTH', password] : ['AUTH', username, password],
  };
}

export class QueueCapture {
  private readonly target: MonitorTarget;
  private socket: Socket | undefined;
  private stopped = false;
  readonly pushes: PushedPayload[] = [];
  note: string | undefined;

  constructor(redisUrl: string) {
    this.target = monitorTarget(redisUrl);
  }

  async start(): Promise<void> {
    let last: unknown;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        this.socket = await this.open();
        return;
      } catch (error) {
        last = error;
        if (error instanceof MonitorRefused) break;
      }
    }
    this.note = `Redis MONITOR not available (${errorMessage(last)}): queue payloads not read`;
  }

  /** One connection: AUTH?, MONITOR; resolves once MONITOR is accepted, lines after that are seen. */
  private open(): Promise<Socket> {
    const { host, port, auth } = this.target;
    // SNI names a host, never an address (RFC 6066).
    const socket = this.target.tls ? tlsConnect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}) }) : tcpConnect({ host, port });
    const commands = [...(auth ? [auth] : []), ['MONITOR']];
    const reader = new SimpleReplyReader();
    let awaiting = commands.length;
    return new Promise<Socket>((resolve, reject) => {
      const fail = (error: Error): void => {
        socket.destroy();
        reject(error);
      };
      const onError = (error: Error): void => fail(error);
      const onClose = (): void => fail(new Error('connection closed before MONITOR was accepted'));
      socket.setTimeout(CONNECT_TIMEOUT_MS, () => fail(new Error(`no answer from ${host}:${port} within ${CONNECT_TIMEOUT_MS} ms`)));
      socket.on('error', onError);
      socket.on('close', onClose);
      socket.on('data', (chunk: Buffer) => {
        for (const reply of reader.push(chunk)) {
          if (awaiting === 0) {
            this.see(reply);
            continue;
          }
          if (reply.kind !== 'status') return fail(new MonitorRefused(reply.text));
          awaiting -= 1;
          if (awaiting > 0) continue;
          // Monitoring from here on: the lines that follow in this very chunk are seen too.
          socket.setTimeout(0);
          socket.off('error', onError).off('close', onClose);
          socket.on('error', () => undefined);
          socket.on('close', () => this.closedWhileCapturing());
          resolve(socket);
        }
      });
      socket.write(Buffer.concat(commands.map(respCommand)));
    });
  }

  private closedWhileCapturing(): void {
    if (!this.stopped) this.note ??= 'the Redis MONITOR connection closed during the traced upload: queue payloads may be missing';
  }

  private see(reply: SimpleReply): void {
    if (reply.kind !== 'status') return;
    const line = parseMonitorLine(reply.text);
    if (!line || line.db !== this.target.db) return;
    const [command, key, ...values] = line.args.map((a) => a.toString('utf8'));
    if (command === undefined || key === undefined || !PUSH_COMMANDS.has(command.toLowerCase())) return;
    for (const raw of values) this.pushes.push({ key, raw, atEpochMs: Date.now() });
  }

  stop(): void {
    this.stopped = true;
    this.socket?.destroy();
  }
}
