import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** Answers captured from a real Jaeger v2 (see test/fixtures/jaeger/capture-fixtures.ts). */
export const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'jaeger');

export function fixtureText(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

export function fixture(name: string): unknown {
  return JSON.parse(fixtureText(name)) as unknown;
}

export interface Manifest {
  traces: {
    full: { traceId: string; spans: number; services: string[]; rootSpanId: string };
    remoteParent: { traceId: string; spans: number; services: string[]; missingParentSpanId: string };
  };
  captures: { file: string; path: string; status: number; contentType: string | null }[];
}

export const manifest = fixture('manifest.json') as Manifest;

/** Status, content type and body of a captured answer, as Jaeger sent them. */
export function captured(file: string): FakeAnswer {
  const entry = manifest.captures.find((c) => c.file === file);
  if (!entry) throw new Error(`no capture ${file} in manifest.json`);
  return { status: entry.status, contentType: entry.contentType ?? 'text/plain', body: fixtureText(file) };
}

export interface FakeAnswer {
  status: number;
  body: string;
  contentType?: string;
  delayMs?: number;
}

export interface FakeRequest {
  path: string;
  query: URLSearchParams;
}

/** A scripted HTTP server on 127.0.0.1 standing in for Jaeger's query port. */
export class FakeJaeger {
  readonly requests: FakeRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private server: Server | undefined;
  private readonly handler: (req: FakeRequest) => FakeAnswer;

  constructor(handler: (req: FakeRequest) => FakeAnswer) {
    this.handler = handler;
  }

  async start(): Promise<string> {
    this.server = createServer((req: IncomingMessage, res) => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const request = { path: url.pathname, query: url.searchParams };
      this.requests.push(request);
      this.inFlight += 1;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      let answer: FakeAnswer;
      try {
        answer = this.handler(request);
      } catch (error) {
        answer = { status: 599, body: String(error) };
      }
      setTimeout(() => {
        this.inFlight -= 1;
        res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'text/plain; charset=utf-8' });
        res.end(answer.body);
      }, answer.delayMs ?? 0);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

interface OtlpLike {
  result: { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: { name: string }[] }[] }[] };
}

/** The real v3 answer for the full trace, keeping only the spans `keep` accepts (a trace still arriving). */
export function partialV3(keep: (service: string, spanName: string) => boolean): string {
  const doc = fixture('v3-trace-full.json') as OtlpLike;
  for (const rs of doc.result.resourceSpans) {
    const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
    for (const ss of rs.scopeSpans) ss.spans = ss.spans.filter((s) => keep(service, s.name));
  }
  return JSON.stringify(doc);
}
