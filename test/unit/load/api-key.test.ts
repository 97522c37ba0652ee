import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HSI_WS_API_KEY_QUERY, wsUrlWithApiKey } from '../../../harness/contract/hsi-ws-events.ts';
import { runLoad } from '../../../harness/load/driver.ts';
import { PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { validateScenario } from '../../../harness/scenario/validate-scenario.ts';
import { EventStreamServer } from './event-stream-server.ts';

/**
 * A stack with its API key on, as the real HSI checks its WebSockets: `?api_key=` (a handshake
 * X-API-Key header is not read there). The reference stack's /ws/events behind that check.
 */
const KEY = 'unit-key/+=';
const FIXTURES = resolve(PROJECT_ROOT, 'fixtures', 'images');
const relay = new EventEmitter();
const upgrades: string[] = [];
const backend = new EventStreamServer(
  (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(404).end();
  },
  // the key check in front of the reference stack's /ws/events
  (server, stream) => {
    stream.attach(relay as unknown as Server);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      upgrades.push(req.url ?? '');
      socket.on('error', () => undefined); // a refused client resets its connection
      const key = new URL(req.url ?? '/', 'http://x').searchParams.get(HSI_WS_API_KEY_QUERY);
      if (key === KEY) relay.emit('upgrade', req, socket, head);
      else socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    });
  },
);
let base = '';

beforeAll(async () => {
  base = await backend.start();
});
afterAll(() => backend.stop());

const scenario = () =>
  validateScenario(
    {
      name: 'api-key-unit',
      cameras: [{ id: 'front_door' }],
      limits: { maxDuration: '20s', maxRequests: 100 },
      websockets: { events: { path: '/ws/events', sessionDuration: '1s' } },
      scenarios: { subscribers: { executor: 'per-vu-iterations', vus: 2, iterations: 1, websocket: 'events' } },
      thresholds: { 'ws_sessions{status:101}': ['count>=0'], 'ws_sessions{status:0}': ['count>=0'] },
    },
    { fixturesDir: FIXTURES, source: 'api-key-unit.ts', root: PROJECT_ROOT },
  );

describe('native /ws/events subscribers on a stack with an API key', () => {
  it('open their sessions with ?api_key= (the header is not where the HSI WebSockets read it)', async () => {
    upgrades.length = 0;
    const result = await runLoad(scenario(), { backendUrl: base, apiKey: KEY, progressLine: false });
    expect(upgrades.map((u) => new URL(u, 'http://x').searchParams.get(HSI_WS_API_KEY_QUERY))).toEqual([KEY, KEY]);
    expect(result.metrics['ws_sessions{status:101}']).toMatchObject({ values: { count: 2 } });
    expect((result.metrics['ws_msgs_received'] as { values: { count: number } }).values.count).toBeGreaterThan(0);
  }, 20_000);

  it('without the key the same stack refuses them: ws_sessions{status:0} (the assertions above can fail)', async () => {
    upgrades.length = 0;
    const result = await runLoad(scenario(), { backendUrl: base, progressLine: false });
    expect(upgrades).toHaveLength(2);
    expect(upgrades.every((u) => !u.includes(HSI_WS_API_KEY_QUERY))).toBe(true);
    expect(result.metrics['ws_sessions{status:0}']).toMatchObject({ values: { count: 2 } });
    expect(result.metrics['ws_sessions{status:101}']).toMatchObject({ values: { count: 0 } });
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
