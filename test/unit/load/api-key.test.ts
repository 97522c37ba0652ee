import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HSI_WS_API_KEY_QUERY, wsUrlWithApiKey } from '../../../harness/contract/hsi-ws-events.ts';
import { runLoad } from '../../../harness/load/driver.ts';
import { PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { validateScenario } from '../../../harness/scenario/validate-scenario.ts';
import { EventStream } from '../../../reference-stack/backend/event-stream.ts';

/**
 * A stack with its API key on, as the real HSI checks it: HTTP wants `X-API-Key` (401 without),
 * the WebSocket wants `?api_key=` (the handshake's X-API-Key header is not read there).
 */
const KEY = 'unit-key/+=';
const FIXTURES = resolve(PROJECT_ROOT, 'fixtures', 'images');
let server: Server;
let base = '';
const stream = new EventStream();
const relay = new EventEmitter();
const http: { url: string; key: string }[] = [];
const upgrades: string[] = [];
let publisher: NodeJS.Timeout;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      const key = String(req.headers['x-api-key'] ?? '');
      http.push({ url: req.url ?? '', key });
      res.writeHead(key === KEY ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(key === KEY ? { items: [{ id: 7 }], pagination: { total: 1 } } : { detail: 'API key required' }));
    });
  });
  // the key check in front of the reference stack's /ws/events
  stream.attach(relay as unknown as Server);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrades.push(req.url ?? '');
    socket.on('error', () => undefined); // a refused client resets its connection
    const key = new URL(req.url ?? '/', 'http://x').searchParams.get(HSI_WS_API_KEY_QUERY);
    if (key === KEY) relay.emit('upgrade', req, socket, head);
    else socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  publisher = setInterval(() => stream.publish({ id: 1, camera_id: 'front_door' }), 50);
});
afterAll(async () => {
  clearInterval(publisher);
  stream.close();
  await new Promise<void>((r) => server.close(() => r()));
});

const scenario = () =>
  validateScenario(
    {
      name: 'api-key-unit',
      cameras: [{ id: 'front_door' }],
      limits: { maxDuration: '20s', maxRequests: 100 },
      setup: { params: { event_id: { from: '/api/events', field: 'items.id', fallback: [1] } } },
      requests: {
        get_event: { method: 'GET', path: '/api/events/{event_id}', checks: { 'status is 200': { status: 200 } } },
        own_key: { method: 'GET', path: '/api/events', headers: { 'X-API-Key': 'its-own' } },
      },
      websockets: { events: { path: '/ws/events', sessionDuration: '1s' } },
      scenarios: {
        dashboard: { executor: 'shared-iterations', vus: 1, iterations: 2, requests: { get_event: 1 } },
        own: { executor: 'shared-iterations', vus: 1, iterations: 1, requests: { own_key: 1 } },
        subscribers: { executor: 'per-vu-iterations', vus: 2, iterations: 1, websocket: 'events' },
      },
      thresholds: { 'ws_sessions{status:101}': ['count>=0'], 'ws_sessions{status:0}': ['count>=0'], 'checks{check:status is 200}': ['rate>=0'] },
    },
    { fixturesDir: FIXTURES, source: 'api-key-unit.ts', root: PROJECT_ROOT },
  );

describe('the native driver on a stack with an API key', () => {
  it('sends X-API-Key on setup() and API requests and ?api_key= on subscribers; a kind with its own header keeps it', async () => {
    http.length = 0;
    upgrades.length = 0;
    const result = await runLoad(scenario(), { backendUrl: base, apiKey: KEY, progressLine: false });
    // setup() read the ids with the key: the detail requests use 7, not the fallback 1
    expect(http.filter((h) => h.url === '/api/events/7').map((h) => h.key)).toEqual([KEY, KEY]);
    expect(http.find((h) => h.url === '/api/events' && h.key === KEY)).toBeDefined(); // the setup GET
    expect(http.filter((h) => h.key === 'its-own')).toHaveLength(1);
    expect(upgrades.map((u) => new URL(u, 'http://x').searchParams.get(HSI_WS_API_KEY_QUERY))).toEqual([KEY, KEY]);
    expect(result.metrics['ws_sessions{status:101}']).toMatchObject({ values: { count: 2 } });
    expect(result.metrics['ws_msgs_received']).toMatchObject({ values: { count: expect.any(Number) } });
    expect(result.metrics['checks{check:status is 200}']).toMatchObject({ values: { passes: 2, fails: 0 } });
  }, 20_000);

  it('without the key the same stack refuses everything: 401s and failed subscriptions (the assertions above can fail)', async () => {
    http.length = 0;
    upgrades.length = 0;
    const result = await runLoad(scenario(), { backendUrl: base, progressLine: false });
    expect(http.filter((h) => h.url === '/api/events/1')).toHaveLength(2); // setup fell back
    expect(upgrades.every((u) => !u.includes(HSI_WS_API_KEY_QUERY))).toBe(true);
    expect(result.metrics['ws_sessions{status:0}']).toMatchObject({ values: { count: 2 } });
    expect(result.metrics['checks{check:status is 200}']).toMatchObject({ values: { passes: 0, fails: 2 } });
  }, 20_000);
});

describe('wsUrlWithApiKey (contract)', () => {
  it('adds api_key, keeps the query, encodes the key, leaves the URL alone without one', () => {
    expect(wsUrlWithApiKey('ws://h:8000/ws/events', 'a b&c')).toBe('ws://h:8000/ws/events?api_key=a+b%26c');
    expect(new URL(wsUrlWithApiKey('ws://h/ws/events?x=1', 'k')).searchParams.getAll('x')).toEqual(['1']);
    expect(wsUrlWithApiKey('ws://h/ws/events', undefined)).toBe('ws://h/ws/events');
    expect(wsUrlWithApiKey('ws://h/ws/events', '')).toBe('ws://h/ws/events');
  });
});
