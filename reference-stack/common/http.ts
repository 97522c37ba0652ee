import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import { baggageAttributes, extractFromHeaders, recordException } from '../telemetry/tracing.ts';
import type { Logger } from './log.ts';

/**
 * A minimal JSON HTTP server on node:http: a route table, JSON error bodies, and one SERVER
 * span per request that continues the caller's traceparent / baggage headers.
 */

/** An error that becomes a JSON answer `{error, detail}` with its status. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly code: string;
  readonly extra: Record<string, unknown> | undefined;
  constructor(status: number, code: string, detail: string, extra?: Record<string, unknown>) {
    super(detail);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

export interface JsonResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface RouteRequest {
  req: IncomingMessage;
  url: URL;
  /** Capture groups of the route pattern, URI-decoded. */
  params: string[];
  /** The request's SERVER span (also the active span while the handler runs). */
  span: Span;
}

export interface Route {
  method: string;
  /** Matched against the path name; capture groups become params. */
  pattern: RegExp;
  /** Low-cardinality route template, e.g. `/api/cameras/{camera_id}/uploads`: span name and http.route. */
  template: string;
  handler: (request: RouteRequest) => Promise<JsonResponse>;
}

/**
 * A route from its template: each `{name}` matches one path segment (a capture group, in
 * order), and a trailing slash is allowed. One template serves as span name, http.route and matcher.
 */
export function route(method: string, template: string, handler: Route['handler']): Route {
  const source = template
    .split(/\{[A-Za-z_][A-Za-z0-9_]*\}/)
    .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
    .join('([^/]+)');
  return { method, pattern: new RegExp(`^${source.replace(/\/$/, '')}/?$`), template, handler };
}

export function json(status: number, body: unknown, headers?: Record<string, string>): JsonResponse {
  return headers === undefined ? { status, body } : { status, body, headers };
}

export function sendJson(res: ServerResponse, response: JsonResponse): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const payload = JSON.stringify(response.body);
  res.writeHead(response.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...(response.headers ?? {}),
  });
  res.end(payload);
}

/** Reads the whole request body; more than `limit` bytes answers 413. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new HttpError(413, 'payload_too_large', `request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw new HttpError(413, 'payload_too_large', `request body exceeds the limit of ${limit} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, size);
}

/** A request body as JSON; `invalid` makes the error each service answers with when it is not JSON. */
export function parseJsonBody(body: Buffer, invalid: () => Error): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid();
  }
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');

function invalidMultipart(reason: string): HttpError {
  return new HttpError(400, 'invalid_multipart', `could not parse the multipart body: ${reason}`);
}

/** A parameter of a header value (`name="x"` or `name=x`); undefined when absent. */
function headerParam(header: string, param: string): string | undefined {
  const m = new RegExp(`(?:^|;)\\s*${param}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i').exec(header);
  if (m === null) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? '');
}

/**
 * The `file` field of a multipart/form-data body (RFC 7578), as a view into `body` (no copy).
 * Undefined when the field is missing or is not a file (no `filename`), as the WHATWG
 * `FormData.get` answers. It used to go through the WHATWG Request built into Node
 * (`new Request(...).formData()`), which copies the file four times: with 4 uploads/s of
 * 40-370 KB, V8 ran a full mark-compact (4-40 ms, the whole process stalled) every ~55 uploads
 * for the external memory alone, the few-ms upload answer's p95 set by where they fell.
 */
export async function multipartFile(body: Buffer, contentType: string, field = 'file'): Promise<Buffer | undefined> {
  const boundary = headerParam(contentType.replace(/^[^;]*/, ''), 'boundary');
  if (boundary === undefined || boundary === '') throw invalidMultipart('the content type has no boundary');
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // the first delimiter opens the body without the CRLF before it (or follows a preamble)
  const opensBody = body.subarray(0, delimiter.length - 2).equals(delimiter.subarray(2));
  const first = opensBody ? -2 : body.indexOf(delimiter);
  if (first === -1) throw invalidMultipart('no boundary in the body');
  let at = first + delimiter.length;
  for (;;) {
    if (body[at] === 0x2d && body[at + 1] === 0x2d) return undefined; // "--": the closing delimiter
    const headersEnd = body.indexOf(CRLF_CRLF, at);
    if (headersEnd < 0) throw invalidMultipart('a part without a header end');
    const contentStart = headersEnd + CRLF_CRLF.length;
    const next = body.indexOf(delimiter, contentStart);
    if (next < 0) throw invalidMultipart('no closing boundary');
    const disposition = /^content-disposition:(.*)$/im.exec(body.toString('utf8', at, headersEnd))?.[1] ?? '';
    if (headerParam(disposition, 'name') === field) return headerParam(disposition, 'filename') === undefined ? undefined : body.subarray(contentStart, next);
    at = next + delimiter.length;
  }
}

function serverAttributes(req: IncomingMessage, url: URL): Attributes {
  const attributes: Attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: req.method ?? 'GET',
    [ATTR_URL_PATH]: url.pathname,
    [ATTR_URL_SCHEME]: 'http',
    [ATTR_NETWORK_PROTOCOL_VERSION]: req.httpVersion,
  };
  if (url.search !== '') attributes[ATTR_URL_QUERY] = url.search.slice(1);
  const host = req.headers.host;
  if (host !== undefined) {
    const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
    if (match?.[1] !== undefined) attributes[ATTR_SERVER_ADDRESS] = match[1];
    if (match?.[2] !== undefined) attributes[ATTR_SERVER_PORT] = Number(match[2]);
  }
  const agent = req.headers['user-agent'];
  if (agent !== undefined) attributes[ATTR_USER_AGENT_ORIGINAL] = agent;
  const client = req.socket.remoteAddress;
  if (client !== undefined) attributes[ATTR_CLIENT_ADDRESS] = client;
  return attributes;
}

interface Match {
  route: Route | undefined;
  params: string[];
  methodNotAllowed: boolean;
}

function matchRoute(routes: readonly Route[], method: string, path: string): Match {
  let methodNotAllowed = false;
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (m === null) continue;
    if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) {
      methodNotAllowed = true;
      continue;
    }
    const params = m.slice(1).map((p) => {
      try {
        return decodeURIComponent(p ?? '');
      } catch {
        return p ?? '';
      }
    });
    return { route, params, methodNotAllowed: false };
  }
  return { route: undefined, params: [], methodNotAllowed };
}

export interface TracedServerOptions {
  tracer: Tracer;
  routes: readonly Route[];
  log: Logger;
  /** Added to every SERVER span (e.g. ai.emulated). */
  spanAttributes?: Attributes;
  /** Shape of error bodies: `{error, detail}` (reference) or FastAPI's `{detail}` (profile hsi-current). */
  errorStyle?: ErrorStyle;
  /** Runs before a matched route's handler (e.g. a rate limit); an answer it returns is sent instead. */
  gate?: (request: RouteRequest, route: Route) => JsonResponse | undefined;
}

export type ErrorStyle = 'reference' | 'detail';

/** An error body in the server's style: `{error: code, detail, ...extra}` or FastAPI's `{detail}`. */
export function errorBody(style: ErrorStyle | undefined, code: string, detail: string, extra?: Record<string, unknown>): Record<string, unknown> {
  if (style === 'detail') return { detail };
  return { error: code, detail, ...(extra ?? {}) };
}

export interface TracedServer {
  server: Server;
  listen(port: number, host?: string): Promise<void>;
  /** Stops accepting, lets in-flight requests finish until the deadline, then closes what is left. */
  close(graceMs: number): Promise<void>;
}

async function handle(options: TracedServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    url = new URL('http://localhost/');
  }
  const match = matchRoute(options.routes, method, url.pathname);
  const spanName = match.route !== undefined ? `${method} ${match.route.template}` : method;
  const attributes: Attributes = { ...serverAttributes(req, url), ...(options.spanAttributes ?? {}) };
  if (match.route !== undefined) attributes[ATTR_HTTP_ROUTE] = match.route.template;

  const parent = extractFromHeaders(req.headers);
  Object.assign(attributes, baggageAttributes(parent));
  const span = options.tracer.startSpan(spanName, { kind: SpanKind.SERVER, attributes }, parent);
  const traceId = span.spanContext().traceId;
  let ended = false;
  const endSpan = (): void => {
    if (ended) return;
    ended = true;
    const status = res.statusCode;
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (status >= 500) {
      span.setAttribute(ATTR_ERROR_TYPE, String(status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    if (!res.writableFinished) span.setAttribute(ATTR_ERROR_TYPE, 'response_aborted');
    span.end();
  };
  res.once('finish', endSpan);
  res.once('close', endSpan);

  await context.with(trace.setSpan(parent, span), async () => {
    let response: JsonResponse;
    try {
      if (match.route === undefined) {
        response = match.methodNotAllowed
          ? json(405, errorBody(options.errorStyle, 'method_not_allowed', `${method} is not allowed on ${url.pathname}`))
          : json(404, errorBody(options.errorStyle, 'not_found', `no route for ${method} ${url.pathname}`));
      } else {
        const request: RouteRequest = { req, url, params: match.params, span };
        response = options.gate?.(request, match.route) ?? (await match.route.handler(request));
      }
    } catch (error) {
      if (error instanceof HttpError) {
        response = json(error.status, errorBody(options.errorStyle, error.code, error.message, error.extra));
        if (error.status >= 500) recordException(span, error);
        // The body may not have been read completely: do not reuse the connection.
        if (error.status === 413) response.headers = { connection: 'close' };
      } else {
        recordException(span, error);
        options.log.error('request failed', { route: spanName, error });
        response = json(500, errorBody(options.errorStyle, 'internal_error', (error as Error).message ?? String(error)));
      }
    }
    sendJson(res, { ...response, headers: { 'x-trace-id': traceId, ...(response.headers ?? {}) } });
  });
}

export function createTracedServer(options: TracedServerOptions): TracedServer {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    handle(options, req, res).catch((error: unknown) => {
      options.log.error('unhandled request error', { error });
      if (!res.headersSent) sendJson(res, json(500, errorBody(options.errorStyle, 'internal_error', String(error))));
      else res.destroy();
    });
  });
  // The server must never be the side that closes an idle keep-alive connection: a client that
  // picks the connection for a new request just as Node's default 5 s timer fires gets "other
  // side closed", an error span no fault explains. Clients read this value from the Keep-Alive
  // hint and drop their idle sockets a little earlier (undici by 2 s).
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  return {
    server,
    listen: (port, host = '0.0.0.0') =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      }),
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.closeAllConnections();
          for (const socket of sockets) socket.destroy();
        }, graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
