import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMULATED } from '../../harness/config/real-ai-config.ts';
import { ownerLabels } from '../../harness/stack/cleanup.ts';
import { hsiLabels } from '../../harness/stack/containers/container-hardening.ts';
import { HsiRedisContainer, type StartedRedisContainer } from '../../harness/stack/containers/redis-container.ts';
import { stackImages } from '../../harness/stack/images/image-refs.ts';
import type { Logger } from '../../reference-stack/common/log.ts';
import { createRedisConnections, type RedisConnections } from '../../reference-stack/backend/queue.ts';
import { processingKey, QueueWorkerPool } from '../../reference-stack/backend/queue-worker.ts';
import { testConfig, waitFor } from './stack-helpers.ts';

/**
 * The reference backend's queue worker loop against a real Redis, through a TCP relay that drops
 * the one reply holding a given message and closes that connection: Redis has popped the
 * message, the worker never hears of it (what a proxy cut, or a blocking connection declared
 * dead under load, does). A BLPOP worker loses it (the compose test's "2 uploads with neither a
 * row nor a dead letter"); the worker must handle every pushed message exactly once. One bare
 * Redis container (a few seconds), no backend.
 */
const RUN_ID = `queue-worker-${process.pid}`;
const QUEUE = 'worker_test_queue';
const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Relays to Redis; `cutReplyHolding(text)` drops the next reply that holds it and closes both sides. */
class CuttingRelay {
  private server: Server | undefined;
  private armed: string | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly upstream: { host: string; port: number };
  cuts = 0;

  constructor(upstream: { host: string; port: number }) {
    this.upstream = upstream;
  }

  async start(): Promise<string> {
    this.server = createServer((client) => this.relay(client));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `redis://:queue-worker-test@127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  cutReplyHolding(text: string): void {
    this.armed = text;
  }

  private relay(client: Socket): void {
    const upstream = connect(this.upstream.port, this.upstream.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (d: Buffer) => upstream.write(d));
    upstream.on('data', (d: Buffer) => {
      if (this.armed !== undefined && d.includes(this.armed)) {
        this.armed = undefined;
        this.cuts += 1;
        upstream.destroy();
        client.destroy();
        return;
      }
      client.write(d);
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

let container: StartedRedisContainer | undefined;
let direct: Redis;
let relay: CuttingRelay;
let connections: RedisConnections | undefined;
let pool: QueueWorkerPool | undefined;

beforeAll(async () => {
  const images = stackImages(testConfig(), EMULATED);
  container = await new HsiRedisContainer(images.redis).withPassword('queue-worker-test').withCommand(['redis-server', '--save', '', '--appendonly', 'no']).withLabels({ ...hsiLabels(RUN_ID, 'redis'), ...ownerLabels(false) }).start();
  direct = new Redis(container.getConnectionUrl());
  relay = new CuttingRelay({ host: container.getHost(), port: container.getPort() });
}, 120_000);

afterAll(async () => {
  await pool?.stop(2_000);
  await connections?.close(1_000);
  await relay?.stop();
  direct?.disconnect();
  await container?.stop();
});

/** The worker loop's blocking connection is waiting in Redis (CLIENT LIST flags=b). */
async function blocked(name: string): Promise<void> {
  await waitFor(`${name} blocked in a pop`, async () => {
    const list = String(await direct.call('CLIENT', 'LIST'));
    return list.split('\n').some((l) => l.includes(` name=${name} `) && / flags=\S*b/.test(l)) ? true : undefined;
  }, 15_000, 50);
}

describe('reference backend queue worker (at-least-once)', () => {
  it('handles a message whose pop reply was lost, and one left popped by an earlier process, each exactly once', async () => {
    // Left in the processing list by an earlier backend that died between pop and handling.
    await direct.lpush(processingKey(QUEUE, 'detection-worker-1'), 'orphan-of-a-crash');
    const handled: string[] = [];
    connections = createRedisConnections(await relay.start(), 2_000, quiet, 'test');
    pool = new QueueWorkerPool({ name: 'detection', queue: QUEUE, count: 1, redis: connections, log: quiet, handler: { handle: async (raw) => (handled.push(raw), 'processed') } });
    pool.start();
    await blocked('test-detection-worker-1');
    relay.cutReplyHolding('cut-in-flight');
    await direct.rpush(QUEUE, 'cut-in-flight');
    await waitFor('the pop reply cut', async () => (relay.cuts === 1 ? true : undefined), 15_000, 20);
    await direct.rpush(QUEUE, 'after-the-cut');
    await waitFor('after-the-cut handled', async () => (handled.includes('after-the-cut') ? true : undefined), 30_000, 50);
    await blocked('test-detection-worker-1');
    expect([...handled].sort(), `handled: ${JSON.stringify(handled)}`).toEqual(['after-the-cut', 'cut-in-flight', 'orphan-of-a-crash']);
    expect(await direct.llen(QUEUE)).toBe(0);
    expect(await direct.llen(processingKey(QUEUE, 'detection-worker-1'))).toBe(0);
    expect(pool.status()).toMatchObject({ processed: 3, recovered: 2, failed: 0 });
  });
});
