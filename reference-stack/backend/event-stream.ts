import { createHash } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * `/ws/events` (HSI-CONTRACT: events are also published on the WebSocket): a server-push-only
 * WebSocket (RFC 6455) broadcasting each created event as one text message
 * `{"type":"event","data":{...},"timestamp":"<ISO>"}`. Kept small: no extensions, no
 * fragmentation; a client's close frame ends its connection, anything else it sends is ignored.
 */
export const EVENT_STREAM_PATH = '/ws/events';
const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A text frame, unmasked (server to client). */
function textFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const n = payload.length;
  const header = n < 126 ? Buffer.from([0x81, n]) : n < 65_536 ? Buffer.from([0x81, 126, n >> 8, n & 0xff]) : Buffer.alloc(10);
  if (n >= 65_536) {
    header[0] = 0x81;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([header, payload]);
}

export interface EventStreamOptions {
  /** HSI_DEFECT_WS_DROPS_BROADCAST: the first event that has a subscriber is never sent. */
  dropFirstBroadcast?: boolean;
}

export class EventStream {
  private readonly clients = new Set<Duplex>();
  /** The defect switch, read at each publish (live in the backend: POST /admin/defects). */
  private readonly defects: EventStreamOptions;
  /** Whether the one event the defect drops since it was (last) turned on is gone. */
  private droppedOne = false;
  published = 0;
  dropped = 0;

  constructor(options: EventStreamOptions = {}) {
    this.defects = options;
  }

  /** Answers WebSocket upgrades on /ws/events; other upgrade paths get 404. */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex) => this.upgrade(req, socket));
  }

  get subscribers(): number {
    return this.clients.size;
  }

  private upgrade(req: IncomingMessage, socket: Duplex): void {
    const path = new URL(req.url ?? '/', 'http://backend').pathname.replace(/\/+$/, '');
    const key = req.headers['sec-websocket-key'];
    if (path !== EVENT_STREAM_PATH || typeof key !== 'string' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(key + ACCEPT_GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    this.clients.add(socket);
    const drop = () => this.clients.delete(socket);
    socket.on('data', (chunk: Buffer) => {
      // opcode 0x8: the client closes; answer with a close frame and end
      if (((chunk[0] ?? 0) & 0x0f) === 0x8) {
        drop();
        socket.end(Buffer.from([0x88, 0]));
      }
    });
    socket.on('close', drop);
    socket.on('error', drop);
  }

  publish(event: Record<string, unknown>): void {
    this.send({ type: 'event', data: event, timestamp: new Date().toISOString() });
  }

  /** One text message to every subscriber (profile hsi-current sends the broadcaster's batches). */
  send(message: Record<string, unknown>): void {
    if (this.clients.size === 0) return;
    if (this.defects.dropFirstBroadcast !== true) {
      this.droppedOne = false;
    } else if (!this.droppedOne) {
      this.droppedOne = true;
      this.dropped++;
      return;
    }
    const frame = textFrame(JSON.stringify(message));
    this.published++;
    for (const socket of this.clients) if (socket.writable) socket.write(frame);
  }

  close(): void {
    for (const socket of this.clients) socket.end(Buffer.from([0x88, 0]));
    this.clients.clear();
  }
}
