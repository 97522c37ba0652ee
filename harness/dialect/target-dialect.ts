import { Redis } from 'ioredis';
import type { DialectChoice } from '../contract/dialects.ts';
import { HSI_ROUTES } from '../contract/hsi-api.ts';
import type { HsiHttpClient } from './hsi-http.ts';
import { resolveDialect, type DialectProbes, type ResolvedDialect } from './redis-dialect.ts';

/**
 * The dialect of a stack the harness attached to: as configured, or (`auto`, the default)
 * detected from its `GET /api/queues/status` shape, then from its Redis keys. Probing never
 * fails the run: without evidence the reference dialect is assumed, and the reason says so.
 */
export async function resolveStackDialect(choice: DialectChoice | undefined, endpoints: { backendUrl: string; redisUrl?: string | undefined }, http: HsiHttpClient): Promise<ResolvedDialect> {
  if (choice !== undefined && choice !== 'auto') return resolveDialect(choice);
  const probes: DialectProbes = {
    queueStatus: async () => {
      const res = await http.getJson(new URL(HSI_ROUTES.queueStatus, endpoints.backendUrl), 5_000);
      if (res.status !== 200) throw new Error(`${HSI_ROUTES.queueStatus}: HTTP ${res.status}`);
      return res.body;
    },
  };
  let redis: Redis | undefined;
  if (endpoints.redisUrl !== undefined) {
    redis = new Redis(endpoints.redisUrl, { lazyConnect: true, connectTimeout: 3_000, commandTimeout: 3_000, maxRetriesPerRequest: 1, retryStrategy: () => null });
    redis.on('error', () => undefined);
    probes.redis = redis;
  }
  try {
    if (redis) await redis.connect().catch(() => undefined);
    return await resolveDialect('auto', probes);
  } finally {
    redis?.disconnect();
  }
}
