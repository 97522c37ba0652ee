import { z } from 'zod';
import type { HsiDialect } from '../contract/dialects.ts';
import { GpuStatsHsiCurrent, HSI_ROUTES, PaginationMeta, QueueStatusResponse } from '../contract/hsi-api.ts';
import { DetectionsResponse, EventsResponse, GpuStats, SystemHealth } from '../contract/hsi-contract.ts';
import { errorMessage } from '../errors.ts';
import type { HsiHttpClient } from '../dialect/hsi-http.ts';
import { schemaDifferences, type Difference } from './differences.ts';
import type { CheckedPart } from './payload-checks.ts';

/**
 * The backend's read APIs against the contract's schemas, per dialect. Each route is one GET;
 * `optional` routes (GPU stats, cameras) are checked where the stack serves them (404: skipped).
 */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

export type ApiGet = (path: string) => Promise<ApiAnswer>;

/** GETs through the dialect's HTTP client (API key, 429 waited out per Retry-After). */
export function hsiGet(http: HsiHttpClient, backendUrl: string): ApiGet {
  return async (path) => {
    const res = await http.send(new URL(path, backendUrl), { timeoutMs: 10_000 });
    try {
      return { status: res.status, body: JSON.parse(res.text) as unknown };
    } catch {
      return { status: res.status, body: res.text };
    }
  };
}

const itemsOf = (schema: z.ZodObject) => schema.shape['items'] as z.ZodArray;

interface RouteSpec {
  path: string;
  schema: (dialect: HsiDialect) => z.ZodType;
  /** Status codes that are a valid answer (health answers 503 when degraded). */
  statuses?: readonly number[];
  optional?: boolean;
  /** Checks beyond the schema (names the dialect dictates). */
  extra?: (body: unknown, dialect: HsiDialect, where: string) => Difference[];
}

/** A list page: the contract's items; the events list in the dialect's pagination (cursor fields for hsi-current). */
function listPage(items: z.ZodArray, paging: 'events' | 'any'): (dialect: HsiDialect) => z.ZodType {
  return (dialect) => {
    const pagination =
      paging === 'any' ? PaginationMeta : dialect.eventsPagination === 'cursor' ? PaginationMeta.extend({ next_cursor: z.string().nullable() }) : PaginationMeta.extend({ offset: z.number().int() });
    return z.object({ items, pagination }).loose();
  };
}

function queueNames(body: unknown, dialect: HsiDialect, where: string): Difference[] {
  const parsed = QueueStatusResponse.safeParse(body);
  if (!parsed.success) return [];
  const names = parsed.data.queues.map((q) => q.name);
  const expected = [dialect.queueStatusNames.detection, dialect.queueStatusNames.analysis, ...dialect.queueStatusNames.dlq];
  const out: Difference[] = expected.filter((n) => !names.includes(n)).map((n) => ({ area: 'api' as const, where, what: `queue "${n}" (dialect ${dialect.name})`, expected: 'listed', seen: `queues ${names.join(', ') || 'none'}` }));
  if (dialect.queueStatusThroughput) {
    for (const q of parsed.data.queues.filter((x) => !x.throughput)) out.push({ area: 'api', where, what: `queue "${q.name}" throughput`, expected: '{jobs_per_minute, avg_processing_seconds}', seen: 'missing' });
  }
  return out;
}

export const API_ROUTES: readonly RouteSpec[] = [
  { path: `${HSI_ROUTES.events}?limit=5`, schema: listPage(itemsOf(EventsResponse), 'events') },
  { path: `${HSI_ROUTES.detections}?limit=5`, schema: listPage(itemsOf(DetectionsResponse), 'any') },
  { path: HSI_ROUTES.systemHealth, schema: () => SystemHealth, statuses: [200, 503] },
  { path: HSI_ROUTES.queueStatus, schema: () => QueueStatusResponse, extra: queueNames },
  { path: HSI_ROUTES.systemGpu, schema: (d) => (d.name === 'hsi-current' ? GpuStatsHsiCurrent : GpuStats), optional: true },
  { path: HSI_ROUTES.cameras, schema: () => z.union([z.array(z.object({ id: z.string() }).loose()), z.object({ items: z.array(z.object({ id: z.string() }).loose()) }).loose()]), optional: true },
];

/** One part per route: status, then the schema's issues, then the dialect's names. */
export async function apiChecks(get: ApiGet, dialect: HsiDialect, routes: readonly RouteSpec[] = API_ROUTES): Promise<CheckedPart[]> {
  const out: CheckedPart[] = [];
  for (const route of routes) {
    const where = `GET ${route.path}`;
    let answer: ApiAnswer;
    try {
      answer = await get(route.path);
    } catch (error) {
      out.push({ where, differences: [{ area: 'api', where, what: 'answer', expected: 'an HTTP answer', seen: errorMessage(error) }] });
      continue;
    }
    if (route.optional && answer.status === 404) {
      out.push({ where, differences: [], skipped: true, note: 'not served (404)' });
      continue;
    }
    const statuses = route.statuses ?? [200];
    if (!statuses.includes(answer.status)) {
      out.push({ where, differences: [{ area: 'api', where, what: 'status', expected: statuses.join(' or '), seen: String(answer.status) }] });
      continue;
    }
    const differences = [...schemaDifferences('api', where, route.schema(dialect), answer.body), ...(route.extra?.(answer.body, dialect, where) ?? [])];
    const items = (answer.body as { items?: unknown } | null)?.items;
    out.push({ where, differences, ...(Array.isArray(items) ? { note: items.length === 0 ? 'no items to check' : `${items.length} item(s)` } : {}) });
  }
  return out;
}
