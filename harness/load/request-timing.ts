/**
 * k6's timing split of one HTTP request (k6 lib/netext/httpext/tracer.go), measured by the
 * native driver from the exchange's callbacks (its own HTTP/1.1 client, http1/connection.ts,
 * or undici's dispatch API) and the VU connection's connect and socket counters, with no
 * process-wide diagnostics channel:
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
 * A connection that meters its requests (http1/connection.ts): the connect that opened it,
 * claimed once by the first request written on it, and its socket's byte counters.
 */
export interface MeteredConnection {
  takeConnectMs(): number;
  bytesWritten(): number;
  bytesRead(): number;
}

/**
 * The timing split of one request, measured by the request's own dispatch handler: an
 * exchange class (an upload, an API request) extends it, so one object per request holds the
 * handler, the five timestamps (dispatched, started, sent, headers, end) and the split, with
 * no meter object, closure or result object beside it. Without a connection (a plain
 * dispatcher) only the timestamps are taken and the byte counts stay 0.
 */
export class TimedExchange implements RequestTiming {
  blockedMs = 0;
  connectingMs = 0;
  sendingMs = 0;
  waitingMs = 0;
  receivingMs = 0;
  bytesSent = 0;
  bytesReceived = 0;
  /** performance.now() when the request was handed to the client */
  readonly dispatchedAt: number;
  /** onRequestStart: it got its connection and is about to be written (0: never) */
  protected startedAt = 0;
  /** onRequestSent: its last byte is written */
  protected sentAt = 0;
  /** onResponseStart */
  protected headersAt = 0;
  private written0 = 0;
  private read0 = 0;
  protected readonly connection: MeteredConnection | undefined;

  constructor(connection: MeteredConnection | undefined, dispatchedAt: number) {
    this.connection = connection;
    this.dispatchedAt = dispatchedAt;
  }

  /** `at`: the clock reading (performance.now()) of the moment, taken by the caller */
  protected markStarted(at: number): void {
    this.startedAt = at;
    const c = this.connection;
    if (c === undefined) return;
    this.connectingMs = c.takeConnectMs();
    this.written0 = c.bytesWritten();
    this.read0 = c.bytesRead();
  }

  protected markSent(at: number): void {
    this.sentAt = at;
  }

  protected markHeaders(at: number): void {
    this.headersAt = at;
  }

  /** Sets the split at the end of the response (or of a failure: the phases not reached are 0). */
  protected settleTiming(endAt: number): void {
    const startedAt = this.startedAt;
    const headersAt = this.headersAt;
    this.blockedMs = (startedAt || endAt) - this.dispatchedAt;
    if (startedAt === 0) return;
    const sent = this.sentAt || headersAt || startedAt;
    this.sendingMs = sent - startedAt;
    this.waitingMs = Math.max(0, (headersAt || endAt) - sent);
    this.receivingMs = headersAt ? endAt - headersAt : 0;
    const c = this.connection;
    if (c === undefined) return;
    this.bytesSent = c.bytesWritten() - this.written0;
    this.bytesReceived = c.bytesRead() - this.read0;
  }
}
