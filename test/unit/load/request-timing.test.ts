import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { runLoad } from '../../../harness/load/driver.ts';
import { encodeMultipartFile } from '../../../harness/load/multipart.ts';
import { Http1Connection } from '../../../harness/load/http1/connection.ts';
import { TimedExchange } from '../../../harness/load/request-timing.ts';
import { newTraceContext } from '../../../harness/load/trace-context.ts';
import { dispatchUpload } from '../../../harness/load/upload-client.ts';
import { PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { validateScenario } from '../../../harness/scenario/validate-scenario.ts';

/**
 * k6's timing split measured by the native driver, against a server that takes known times:
 * headers after WAIT ms, the body in two chunks GAP ms apart; the server counts the bytes it
 * read and wrote on each connection, which data_sent / data_received must equal.
 */
const WAIT = 60;
const GAP = 150;
let server: Server;
let base = '';
const wire = new Map<Socket, { read: number; written: number }>();
let connections = 0;

/**
 * While set, the server sends the body's last chunk GAP ms after the client has taken the
 * response headers (the driver's own mark), not GAP ms after writing them: on a loaded machine
 * the client may read the headers late, and both chunks at once.
 */
let headersSeen: EventEmitter | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      setTimeout(() => {
        res.writeHead(202, { 'content-type': 'application/json' });
        res.write('{"id":"upload-1",');
        const end = () => setTimeout(() => res.end('"file_path":"/data/x.jpg"}'), GAP);
        if (headersSeen) headersSeen.once('headers', end);
        else end();
      }, WAIT);
    });
  });
  server.on('connection', (socket: Socket) => {
    connections++;
    socket.on('close', () => wire.set(socket, { read: socket.bytesRead, written: socket.bytesWritten }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const upload = encodeMultipartFile({ fileName: 'a.jpg', bytes: Buffer.alloc(20_000, 7), mediaType: 'image/jpeg' });

describe('native driver: k6 timing split (blocked, connecting, sending, waiting, receiving, data_sent, data_received)', () => {
  it('measures each phase of an upload and counts the wire bytes both ways', async () => {
    wire.clear();
    headersSeen = new EventEmitter();
    const seen = headersSeen;
    const markHeaders = Object.getOwnPropertyDescriptor(TimedExchange.prototype, 'markHeaders')?.value as (this: TimedExchange, at: number) => void;
    const spy = vi.spyOn(TimedExchange.prototype as unknown as { markHeaders: (at: number) => void }, 'markHeaders').mockImplementation(function (this: TimedExchange, at: number) {
      markHeaders.call(this, at);
      seen.emit('headers');
    });
    onTestFinished(() => {
      spy.mockRestore();
      headersSeen = undefined;
    });
    const connection = new Http1Connection('127.0.0.1', (server.address() as AddressInfo).port);
    const send = () =>
      dispatchUpload({ connection, path: '/api/cameras/front_door/uploads', cameraId: 'front_door', prepared: upload, trace: newTraceContext(true), baggage: 'camera.id=front_door' });
    const first = await send();
    const second = await send();
    await connection.close();
    // The server's byte counts are taken when it sees the connection close.
    for (let waited = 0; wire.size === 0 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    const [a, b] = [first.timing!, second.timing!];
    expect(first.accepted && second.accepted).toBe(true);
    // the first request opened the connection: its connect is inside its blocked time; the second reused it
    expect(a.connectingMs).toBeGreaterThan(0);
    expect(a.blockedMs).toBeGreaterThanOrEqual(a.connectingMs);
    expect(b.connectingMs).toBe(0);
    for (const [t, record] of [[a, first], [b, second]] as const) {
      // the phases add up to the request's whole time
      expect(t.blockedMs + t.sendingMs + t.waitingMs + t.receivingMs).toBeCloseTo(record.latencyMs, 6);
      expect(t.waitingMs).toBeGreaterThanOrEqual(WAIT - 1);
      // the server sent the last chunk GAP ms after the client took the headers
      expect(t.receivingMs).toBeGreaterThanOrEqual(GAP - 1);
      expect(t.sendingMs).toBeGreaterThanOrEqual(0);
      expect(t.sendingMs).toBeLessThan(t.waitingMs);
    }
    // the server's view of the one connection: every byte it read was sent by these two requests, every byte it wrote received
    const [counts] = [...wire.values()];
    expect(wire.size).toBe(1);
    expect(a.bytesSent + b.bytesSent).toBe(counts!.read);
    expect(a.bytesReceived + b.bytesReceived).toBe(counts!.written);
    expect(a.bytesSent).toBeGreaterThan(upload.body.length);
  }, 15_000);

  it('feeds the k6 metrics once per request in a run, so thresholds on them see samples', async () => {
    const before = connections;
    const s = validateScenario(
      {
        name: 'timing-unit',
        cameras: [{ id: 'front_door' }],
        scenarios: { steady: { executor: 'shared-iterations', vus: 2, iterations: 6 } },
        thresholds: { http_req_connecting: ['max<5000'], 'http_req_waiting{scenario:steady}': [`p(50)>${WAIT - 1}`], data_sent: ['count>100000'], http_req_blocked: ['p(95)<5000'] },
        limits: { maxDuration: '20s', maxRequests: 100 },
      },
      { fixturesDir: resolve(PROJECT_ROOT, 'fixtures', 'images'), source: 'timing-unit.ts' },
    );
    const result = await runLoad(s, { backendUrl: base, progressLine: false });
    expect(result.requests.completed).toBe(6);
    const count = (m: string) => (result.metrics[m]?.values as { count: number }).count;
    for (const m of ['http_req_blocked', 'http_req_connecting', 'http_req_tls_handshaking', 'http_req_sending', 'http_req_waiting', 'http_req_receiving']) expect(count(m), m).toBe(6);
    // two VUs, two connections: two requests paid a connect
    expect(connections - before).toBe(2);
    expect(result.metrics['http_req_tls_handshaking']?.values).toMatchObject({ max: 0 });
    expect(count('data_sent')).toBeGreaterThan(6 * 20_000);
    expect(count('data_received')).toBeGreaterThan(6 * 40);
    expect(result.thresholds.every((t) => t.ok)).toBe(true);
  }, 20_000);
});
