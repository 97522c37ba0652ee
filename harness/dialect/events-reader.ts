import { HSI_ROUTES, ListPage } from '../contract/hsi-api.ts';
import type { HsiHttpClient } from './hsi-http.ts';

/**
 * `GET /api/events` page by page in either dialect: the real HSI pages by cursor
 * (`pagination.next_cursor`, sent back as `cursor=`; `offset` null), the reference stack by
 * offset (`has_more`, `offset=`). The next page is asked the way the last answer offered it.
 * Through the stack's client: the API key goes along and 429s are waited out.
 */

export interface ReadEventsOptions {
  /** Items per page; default 100. */
  limit?: number;
  /** Stop after this many pages (reported as truncated); default 100. */
  maxPages?: number;
  /** Extra query parameters (camera_id, start_date, …). */
  query?: Readonly<Record<string, string>>;
  timeoutMs?: number;
}

export interface EventsRead {
  items: Record<string, unknown>[];
  pages: number;
  /** How the pages were followed. */
  paging: 'cursor' | 'offset' | 'single';
  total: number | undefined;
  /** maxPages reached with more to read. */
  truncated: boolean;
}

export async function readEvents(http: HsiHttpClient, backendUrl: string, options: ReadEventsOptions = {}): Promise<EventsRead> {
  const limit = options.limit ?? 100;
  const maxPages = options.maxPages ?? 100;
  const out: EventsRead = { items: [], pages: 0, paging: 'single', total: undefined, truncated: false };
  let next: { cursor: string } | { offset: number } | undefined;
  for (;;) {
    const url = new URL(HSI_ROUTES.events, backendUrl);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    url.searchParams.set('limit', String(limit));
    if (next && 'cursor' in next) url.searchParams.set('cursor', next.cursor);
    else if (next) url.searchParams.set('offset', String(next.offset));
    const res = await http.getJson(url, options.timeoutMs ?? 10_000);
    if (res.status !== 200) throw new Error(`${url.pathname}${url.search}: HTTP ${res.status}`);
    const page = ListPage.safeParse(res.body);
    if (!page.success) throw new Error(`${url.pathname}: not a page of events (${page.error.issues[0]?.path.join('.') ?? ''}: ${page.error.issues[0]?.message ?? 'invalid'})`);
    out.pages += 1;
    out.items.push(...page.data.items);
    out.total = page.data.pagination.total;
    const p = page.data.pagination;
    if (typeof p.next_cursor === 'string' && p.next_cursor !== '') {
      next = { cursor: p.next_cursor };
      out.paging = 'cursor';
    } else if (p.has_more && page.data.items.length > 0) {
      next = { offset: (p.offset ?? 0) + page.data.items.length };
      if (out.paging === 'single') out.paging = 'offset';
    } else return out;
    if (out.pages >= maxPages) return { ...out, truncated: true };
  }
}
