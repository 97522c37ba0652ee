import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** A small local HTTP server answering from a handler, recording every request (method, url, headers). */
export class FakeBackend {
  readonly requests: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];
  private readonly server: Server;
  private handler: (req: IncomingMessage, res: ServerResponse, n: number) => void;

  constructor(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void) {
    this.handler = handler;
    this.server = createServer((req, res) => {
      this.requests.push({ method: req.method ?? '?', url: req.url ?? '', headers: req.headers });
      this.handler(req, res, this.requests.length);
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return `http://127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
