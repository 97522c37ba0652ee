import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type ParserSink, type ResponseHead, ResponseParser } from './response-parser.ts';
import type { RequestTemplate } from './request-template.ts';

/**
 * The load driver's HTTP/1.1 client: one keep-alive connection over node:net carrying one
 * request at a time (a VU's connection, as k6 gives each VU its own), writing a request's
 * prebuilt bytes (request-template.ts) synchronously in the call that sends it and parsing the
 * answer by hand (response-parser.ts).
 *
 * Why hand-written: the driver's benchmark (bench/load-driver.bench.ts) showed undici's
 * dispatch path at ~69 % of the driver's CPU per upload, and a plain-socket client of this
 * shape below autocannon's CPU per request; uploads and API request kinds are the hot path.
 * undici stays where nothing is hot (sendUpload, setup() reads, the harness's HTTP calls).
 *
 * Behaviour kept from the undici Client it replaces: keep-alive with the server's
 * `Keep-Alive: timeout` hint honoured (minus KEEP_ALIVE_MARGIN_MS) and a 30 s idle cap; a
 * reconnect when the server closed the connection; a connect timeout (10 s), a headers timeout
 * counted from the last byte written and a body timeout between body chunks (the request's
 * timeoutMs), recorded as "Headers Timeout Error" / "Body Timeout Error" / "Connect Timeout
 * Error"; "other side closed" when the server closes mid-answer; every failure ends the request
 * with onResponseError (status 0 upstream) and the next request gets a fresh connection.
 */

/** What AbortScope keeps per request in flight: undici's DispatchController has this shape too. */
export interface Abortable {
  readonly aborted: boolean;
  abort(reason?: Error): void;
}

/**
 * The clock reading (performance.now()) this connection took for the event it is reporting
 * to `controller`'s handler (start, sent, response headers, end), so the handler's timing
 * marks need no reading of their own; undefined for a controller that is not this client's
 * (undici's).
 */
export function readingOf(controller: Abortable | null): number | undefined {
  return controller instanceof InFlight ? controller.at : undefined;
}

/** The callbacks of one exchange, in undici's DispatchHandler order (DispatchExchange implements both). */
export interface ExchangeHandler {
  /** the connection is open and the request is about to be written */
  onRequestStart(controller: Abortable): void;
  /** its last byte is written */
  onRequestSent(controller: Abortable): void;
  onResponseStart(controller: Abortable, statusCode: number): void;
  /** asked after onResponseStart: `false` when the handler does not need the body (onResponseData is not called; the body is still read) */
  bodyWanted?(): boolean;
  /**
   * A piece of the body. `chunk` is a view of the connection's read buffer, valid during this
   * call only: a handler that keeps the body copies it.
   */
  onResponseData(controller: Abortable, chunk: Buffer): void;
  onResponseEnd(controller: Abortable): void;
  onResponseError(controller: Abortable | null, error: Error): void;
}

export interface Http1ConnectionOptions {
  /** https: TLS (certificates checked); the connect time then includes the handshake */
  tls?: boolean;
  connectTimeoutMs?: number;
  /** idle time after which the connection is not reused (default 30 s) */
  keepAliveTimeoutMs?: number;
}

/** subtracted from the server's `Keep-Alive: timeout` hint, so a request never races the server's idle close */
export const KEEP_ALIVE_MARGIN_MS = 1000;

type Phase = 'queued' | 'connecting' | 'waiting' | 'receiving' | 'done';

/** One request on a connection, and its controller (abort) while it runs. */
class InFlight implements Abortable {
  aborted = false;
  phase: Phase = 'queued';
  /** performance.now() by which the current phase must progress */
  deadline = 0;
  /** the clock reading of the event being reported to the handler (readingOf) */
  at = 0;
  /** its last byte is not yet written (the write callback reports it) */
  sendPending = false;
  /** the socket's write count once its bytes were handed over */
  writeSeq = 0;
  readonly connection: Http1Connection;
  readonly handler: ExchangeHandler;
  readonly template: RequestTemplate;
  readonly traceparent: string | undefined;
  readonly timeoutMs: number;

  constructor(connection: Http1Connection, handler: ExchangeHandler, template: RequestTemplate, traceparent: string | undefined, timeoutMs: number) {
    this.connection = connection;
    this.handler = handler;
    this.template = template;
    this.traceparent = traceparent;
    this.timeoutMs = timeoutMs;
  }

  abort(reason: Error = new Error('aborted')): void {
    if (this.aborted || this.phase === 'done') return;
    this.aborted = true;
    this.connection.abortRequest(this, reason);
  }
}

function ignore(): void {}

/**
 * Where plain-TCP sockets read into (net's `onread`), shared by every connection of the
 * process: a read is parsed whole in its callback, before the next read can happen, and
 * nothing keeps a view of it past the call (the parser copies a split head, handlers copy the
 * body they keep). It spares each read a new ArrayBuffer and Buffer and the Readable
 * stream's push and 'data' event.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

export class Http1Connection implements ParserSink {
  /** `host:port` as a Host header names it */
  readonly authority: string;
  private readonly host: string;
  private readonly port: number;
  private readonly tls: boolean;
  private readonly connectTimeoutMs: number;
  private readonly keepAliveTimeoutMs: number;
  private socket: Socket | undefined;
  /** the socket the last request used: its counters stay readable after it closes */
  private meterSocket: Socket | undefined;
  private connected = false;
  private connectStartedAt = 0;
  private unclaimedConnectMs = 0;
  /** performance.now() until which the idle connection may carry the next request */
  private reuseUntil = 0;
  private current: InFlight | undefined;
  /** the request whose answer the parser reads (cleared on failure: late bytes are ignored) */
  private parsing: InFlight | undefined;
  private readonly queue: InFlight[] = [];
  private readonly parser = new ResponseParser(this);
  /** the request bytes with this request's traceparent, reused while the socket holds no unwritten bytes */
  private scratch: Buffer | undefined;
  /** the clock reading of the read being parsed */
  private readAt = 0;
  /** the server's `Keep-Alive: timeout` hint in the answer being read */
  private keepAliveHintMs: number | undefined;
  /** per socket: writes handed over with the write callback, and callbacks seen */
  private writesIssued = 0;
  private writesDone = 0;
  private writeCallback: (error?: Error | null) => void = ignore;
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = 0;
  private closed = false;
  private closeWaiters: (() => void)[] = [];

  constructor(host: string, port: number, options: Http1ConnectionOptions = {}) {
    this.host = host;
    this.port = port;
    this.authority = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
    this.tls = options.tls ?? false;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 30_000;
  }

  /**
   * Sends `template` (with `traceparent` in its slot, when given) and reports to `handler`.
   * Written synchronously when the connection is open and idle; queued behind a request in
   * flight. Never throws: a refusal is reported through onResponseError.
   */
  send(template: RequestTemplate, traceparent: string | undefined, handler: ExchangeHandler, timeoutMs: number): void {
    if (this.closed) return handler.onResponseError(null, new Error('The client is destroyed'));
    const f = new InFlight(this, handler, template, traceparent, timeoutMs);
    if (this.current !== undefined) this.queue.push(f);
    else this.start(f);
  }

  /** requests in flight or queued */
  get busy(): boolean {
    return this.current !== undefined;
  }

  /** @internal the last connect's duration, once: the request being written is the first on its connection */
  takeConnectMs(): number {
    const ms = this.unclaimedConnectMs;
    this.unclaimedConnectMs = 0;
    return ms;
  }

  /** @internal the socket's counters (headers and body, both ways) */
  bytesWritten(): number {
    return this.meterSocket?.bytesWritten ?? 0;
  }

  /** @internal */
  bytesRead(): number {
    return this.meterSocket?.bytesRead ?? 0;
  }

  /** Lets the requests in flight and queued end, then closes the socket; later sends are refused. */
  close(): Promise<void> {
    this.closed = true;
    if (this.current === undefined) {
      this.next();
      return Promise.resolve();
    }
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  private start(f: InFlight): void {
    this.current = f;
    const now = performance.now();
    if (this.socket !== undefined && this.connected && now < this.reuseUntil) return this.write(f, now);
    this.dropSocket();
    this.openSocket(f, now);
  }

  private openSocket(f: InFlight, now: number): void {
    f.phase = 'connecting';
    this.connectStartedAt = now;
    f.deadline = this.connectStartedAt + this.connectTimeoutMs;
    this.armTimer(f.deadline);
    const tcp = { host: this.host, port: this.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 };
    const socket: Socket = this.tls
      ? tlsConnect({ ...tcp, ALPNProtocols: ['http/1.1'], ...(isIP(this.host) === 0 ? { servername: this.host } : {}) })
      : connect({ ...tcp, onread: { buffer: READ_BUFFER, callback: this.onRead } });
    this.socket = socket;
    this.meterSocket = socket;
    this.connected = false;
    this.writesIssued = 0;
    this.writesDone = 0;
    // bound to its socket: a dropped socket's late callbacks are told apart
    this.writeCallback = this.onWritten.bind(this, socket);
    socket.on(this.tls ? 'secureConnect' : 'connect', this.onConnect);
    if (this.tls) socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
  }

  private readonly onConnect = (): void => {
    this.connected = true;
    const now = performance.now();
    this.unclaimedConnectMs = now - this.connectStartedAt;
    this.reuseUntil = now + this.keepAliveTimeoutMs;
    const f = this.current;
    if (f !== undefined && f.phase === 'connecting') this.write(f, now);
  };

  /**
   * Writes the request in this call (`now`: the clock's reading just before): the handler
   * hears onRequestStart just before, onRequestSent once its bytes are out.
   */
  private write(f: InFlight, now: number): void {
    const socket = this.socket as Socket;
    this.meterSocket = socket;
    f.phase = 'waiting';
    this.parser.begin(f.template.method === 'HEAD');
    this.keepAliveHintMs = undefined;
    this.parsing = f;
    f.at = now;
    f.handler.onRequestStart(f);
    // the handler may have aborted it (a stopped scope)
    if (this.current !== f) return;
    let head: Buffer;
    try {
      head = this.render(f, socket);
    } catch (error) {
      return this.fail(f, error as Error);
    }
    const body = f.template.body;
    f.sendPending = true;
    f.writeSeq = ++this.writesIssued;
    if (body === undefined) socket.write(head, this.writeCallback);
    else {
      socket.cork();
      socket.write(head);
      socket.write(body, this.writeCallback);
      socket.uncork();
    }
    const after = performance.now();
    f.deadline = after + f.timeoutMs;
    this.armTimer(f.deadline);
    if (f.sendPending && socket.writableLength === 0) this.sent(f, after);
  }

  /** The template's bytes, with the request's traceparent copied in when it has one. */
  private render(f: InFlight, socket: Socket): Buffer {
    const t = f.template;
    if (f.traceparent === undefined || t.traceparentAt < 0) return t.bytes;
    let s = this.scratch;
    // the socket may still hold the last request's bytes (a partial write): then a new buffer
    if (s === undefined || s.length < t.bytes.length || socket.writableLength > 0) {
      s = Buffer.allocUnsafeSlow(Math.max(t.bytes.length, s?.length ?? 0));
      this.scratch = s;
    }
    return t.fill(s, f.traceparent);
  }

  private sent(f: InFlight, at: number): void {
    f.sendPending = false;
    f.at = at;
    f.handler.onRequestSent(f);
  }

  /** a write of `socket` is out (callbacks come in write order); a dropped socket's are ignored */
  private onWritten(socket: Socket, error?: Error | null): void {
    if (socket !== this.socket || error) return;
    this.writesDone++;
    const f = this.current;
    if (f !== undefined && f.sendPending && this.writesDone >= f.writeSeq) this.sent(f, performance.now());
  }

  /** a plain socket's read, in READ_BUFFER (true: keep reading) */
  private readonly onRead = (nread: number, buffer: Uint8Array): boolean => {
    this.onData((buffer as Buffer).subarray(0, nread));
    return true;
  };

  private readonly onData = (chunk: Buffer): void => {
    const f = this.parsing;
    // bytes nobody asked for (an idle connection, a failed request's late answer): not reusable
    if (f === undefined || f !== this.current) return this.dropSocket();
    // one reading per read: the answer's head arrived (or its body progressed) now
    const now = performance.now();
    this.readAt = now;
    try {
      this.parser.feed(chunk);
    } catch (error) {
      return this.fail(f, error as Error);
    }
    // the body timeout counts from the last bytes read (the head's arrival started it)
    if (this.current === f && f.phase === 'receiving') f.deadline = now + f.timeoutMs;
  };

  onHead(head: ResponseHead): boolean {
    const f = this.parsing;
    if (f === undefined) return false;
    if (f.sendPending) this.sent(f, this.readAt);
    f.phase = 'receiving';
    this.keepAliveHintMs = head.keepAliveHintMs;
    f.at = this.readAt;
    f.handler.onResponseStart(f, head.status);
    return f.handler.bodyWanted?.() !== false;
  }

  onBody(chunk: Buffer): void {
    const f = this.parsing;
    if (f === undefined) return;
    f.handler.onResponseData(f, chunk);
  }

  onComplete(): void {
    const f = this.parsing;
    if (f === undefined || f !== this.current) return;
    this.parsing = undefined;
    this.current = undefined;
    f.phase = 'done';
    const end = performance.now();
    if (this.parser.reusable) this.reuseUntil = this.reuseUntilAfterAnswer(end);
    else this.dropSocket();
    f.at = end;
    f.handler.onResponseEnd(f);
    this.next();
  }

  /** the idle cap from `now`, or the server's hint less the margin when that is shorter */
  private reuseUntilAfterAnswer(now: number): number {
    const hint = this.keepAliveHintMs;
    const idle = hint === undefined ? this.keepAliveTimeoutMs : Math.min(this.keepAliveTimeoutMs, hint - KEEP_ALIVE_MARGIN_MS);
    return now + idle;
  }

  private readonly onEnd = (): void => {
    const f = this.current;
    if (f === undefined) return this.dropSocket();
    // a body read until close ends here; anything else was cut short
    if (this.parsing === f && this.parser.readsUntilClose && this.parser.end()) return;
    this.fail(f, new Error('other side closed'));
  };

  private readonly onClose = (): void => {
    const f = this.current;
    if (f === undefined) return this.dropSocket();
    if (this.parsing === f && this.parser.readsUntilClose && this.parser.end()) return;
    this.fail(f, new Error('other side closed'));
  };

  private readonly onError = (error: Error): void => {
    const f = this.current;
    if (f === undefined) return this.dropSocket();
    this.fail(f, error);
  };

  /** @internal AbortScope, through the request's controller */
  abortRequest(f: InFlight, reason: Error): void {
    if (f === this.current) return this.fail(f, reason);
    const i = this.queue.indexOf(f);
    if (i < 0) return;
    this.queue.splice(i, 1);
    f.phase = 'done';
    f.handler.onResponseError(f, reason);
  }

  /** Ends the current request with `error`; the connection is not reused. */
  private fail(f: InFlight, error: Error): void {
    if (f !== this.current) return;
    this.current = undefined;
    this.parsing = undefined;
    f.phase = 'done';
    this.dropSocket();
    f.handler.onResponseError(f, error);
    this.next();
  }

  private next(): void {
    const n = this.queue.shift();
    if (n !== undefined) return this.start(n);
    if (this.closed) {
      this.dropSocket();
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      const waiters = this.closeWaiters;
      this.closeWaiters = [];
      for (const w of waiters) w();
    }
  }

  private dropSocket(): void {
    const s = this.socket;
    if (s === undefined) return;
    this.socket = undefined;
    this.connected = false;
    s.removeAllListeners();
    s.on('error', ignore);
    s.destroy();
  }

  /** One timer per connection, armed for the earliest deadline; it checks the request in flight when it fires. */
  private armTimer(deadline: number): void {
    if (this.timer !== undefined && this.timerDueAt <= deadline) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDueAt = deadline;
    this.timer = setTimeout(this.onTimer, Math.max(1, deadline - performance.now()));
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    const f = this.current;
    if (f === undefined) return;
    const now = performance.now();
    if (now < f.deadline) return this.armTimer(f.deadline);
    const what = f.phase === 'connecting' ? 'Connect' : f.phase === 'receiving' ? 'Body' : 'Headers';
    this.fail(f, new Error(`${what} Timeout Error`));
  };
}
