import type { Socket } from 'node:net';
import { buildConnector, Client } from 'undici';

/**
 * k6's timing split of one HTTP request (k6 lib/netext/httpext/tracer.go), measured by the
 * native driver from undici's dispatch callbacks and the VU connection's own connector, with
 * no process-wide diagnostics channel:
 *
 *   blocked     dispatch → the request is written on a connection (k6: GetConn → GotConn; so,
 *               as in k6, it includes the connect of a new connection)
 *   connecting  the TCP connect that opened the connection this request was the first on; 0 on
 *               a reused connection
 *   tls         0: the driver speaks plain HTTP to the stack
 *   sending     the request starts being written → its last byte is written
 *   waiting     last byte written → response headers (time to first byte)
 *   receiving   response headers → last byte of the body
 *   bytes sent / received   the connection's socket counters across the request (headers and
 *               body, as k6's data_sent / data_received count the wire). A VU's connection runs
 *               one request at a time (pipelining 1), so the deltas are this request's.
 */
export interface RequestTiming {
  blockedMs: number;
  connectingMs: number;
  sendingMs: number;
  waitingMs: number;
  receivingMs: number;
  bytesSent: number;
  bytesReceived: number;
}

/**
 * One VU's connection: an undici Client (keep-alive, pipelining 1) whose connector notes the
 * socket and how long the connect took, for the first request sent on it.
 */
export class TimedConnection {
  readonly client: Client;
  private socket: Socket | undefined;
  /** the last connect's duration, until a request takes it */
  private unclaimedConnectMs = 0;

  constructor(origin: string, options: { keepAliveTimeoutMs?: number; connectTimeoutMs?: number } = {}) {
    const connect = buildConnector({ timeout: options.connectTimeoutMs ?? 10_000 });
    this.client = new Client(origin, {
      pipelining: 1,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
      connect: (opts, callback) => {
        const started = performance.now();
        return connect(opts, (...args) => {
          if (args[0] === null) {
            this.unclaimedConnectMs = performance.now() - started;
            this.socket = args[1];
          }
          callback(...args);
        });
      },
    });
  }

  /** A meter for the next request on this connection. */
  meter(): RequestMeter {
    return new RequestMeter(this);
  }

  /** @internal the last connect's duration, once: the request being written is the first on its connection */
  takeConnectMs(): number {
    const ms = this.unclaimedConnectMs;
    this.unclaimedConnectMs = 0;
    return ms;
  }

  /** @internal the socket's counters (headers and body, both ways) */
  bytesWritten(): number {
    return this.socket?.bytesWritten ?? 0;
  }

  /** @internal */
  bytesRead(): number {
    return this.socket?.bytesRead ?? 0;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** The timestamps of one request, set from its dispatch handler's callbacks. */
export class RequestMeter {
  private readonly connection: TimedConnection;
  private dispatchedAt = 0;
  private startedAt = 0;
  private sentAt = 0;
  private headersAt = 0;
  private connectingMs = 0;
  private written0 = 0;
  private read0 = 0;

  constructor(connection: TimedConnection) {
    this.connection = connection;
  }

  /** the request is handed to undici (the sender's own start time, so that the phases add up to its latency) */
  dispatched(at: number): void {
    this.dispatchedAt = at;
  }

  /** onRequestStart: the request got its connection and is about to be written */
  started(): void {
    this.startedAt = performance.now();
    const c = this.connection;
    this.connectingMs = c.takeConnectMs();
    this.written0 = c.bytesWritten();
    this.read0 = c.bytesRead();
  }

  /** onRequestSent: the last byte of the request is written */
  sent(): void {
    this.sentAt = performance.now();
  }

  /** onResponseStart */
  headers(): void {
    this.headersAt = performance.now();
  }

  /** The split at the end of the response (or of a failure: the phases not reached are 0). */
  timing(endAt: number): RequestTiming {
    const started = this.startedAt || endAt;
    const sent = this.sentAt || (this.headersAt ? this.headersAt : started);
    const headers = this.headersAt || endAt;
    const c = this.connection;
    return {
      blockedMs: started - this.dispatchedAt,
      connectingMs: this.connectingMs,
      sendingMs: this.startedAt ? sent - started : 0,
      waitingMs: this.startedAt ? Math.max(0, headers - sent) : 0,
      receivingMs: this.headersAt ? endAt - this.headersAt : 0,
      bytesSent: this.startedAt ? c.bytesWritten() - this.written0 : 0,
      bytesReceived: this.startedAt ? c.bytesRead() - this.read0 : 0,
    };
  }
}
