import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventStream } from '../../../reference-stack/backend/event-stream.ts';

/** How the stream takes the server's WebSocket upgrades; default: straight onto /ws/events. */
export type AttachStream = (server: Server, stream: EventStream) => void;

/**
 * A local backend for the load driver's unit tests: a node:http server answering with the
 * test's handler, the reference stack's /ws/events (EventStream) on its upgrades, and one
 * event published every 50 ms so that subscribers receive messages.
 */
export class EventStreamServer {
  readonly stream = new EventStream();
  private readonly server: Server;
  private publisher: NodeJS.Timeout | undefined;

  constructor(handler: RequestListener, attach: AttachStream = (server, stream) => stream.attach(server)) {
    this.server = createServer(handler);
    attach(this.server, this.stream);
  }

  /** Listens on a free loopback port and starts publishing; the base URL (`http://127.0.0.1:PORT`). */
  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.publisher = setInterval(() => this.stream.publish({ id: 1, camera_id: 'front_door' }), 50);
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    clearInterval(this.publisher);
    this.stream.close();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
