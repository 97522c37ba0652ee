import { findRoute, HSI_API_ROUTES, HSI_WS_ROUTES, templateParams } from '../contract/hsi-api-routes.ts';
import type { RequestKindParsed, SetupParamParsed, ThinkTimeParsed, WebSocketParsed } from './request-schema.ts';
import type { CustomMetric, RequestKind, WebSocketSubscriber } from './scenario-types.ts';

type Fail = (field: string, message: string) => never;

/** Which custom metric types each feed may go into. */
const FEED_TYPES: Readonly<Record<string, readonly CustomMetric['type'][]>> = {
  duration: ['trend', 'gauge'],
  ok: ['rate'],
  count: ['counter'],
  bytes: ['counter', 'gauge', 'trend'],
};

/** Request kinds checked against the HSI route catalog, setup params, custom metrics. */
export function validateRequestKinds(
  kinds: Readonly<Record<string, RequestKindParsed>>,
  params: Readonly<Record<string, SetupParamParsed>>,
  metrics: Readonly<Record<string, CustomMetric>>,
  fail: Fail,
): Record<string, RequestKind> {
  const out: Record<string, RequestKind> = {};
  for (const [name, kind] of Object.entries(kinds)) {
    const at = (f: string) => `requests.${name}.${f}`;
    const route = findRoute(kind.method, kind.path);
    if (!route) {
      const same = HSI_API_ROUTES.filter((r) => r.template === kind.path).map((r) => r.method);
      fail(
        at('path'),
        same.length > 0
          ? `the HSI API has no ${kind.method} ${kind.path} (it answers ${same.join(', ')} there)`
          : `no HSI API route ${kind.method} ${kind.path}; routes: ${HSI_API_ROUTES.map((r) => `${r.method} ${r.template}`).join(', ')}`,
      );
    }
    for (const p of templateParams(kind.path)) {
      if (!(p in params)) fail(at('path'), `{${p}} has no values: add setup: { params: { ${p}: [...] } } (or { from, field, fallback })`);
    }
    for (const [check, c] of Object.entries(kind.checks)) {
      if (!('json' in c) || route?.fields === undefined) continue;
      const first = c.json.split('.')[0] ?? '';
      if (!route.fields.includes(first)) fail(`${at('checks')}["${check}"].json`, `${kind.method} ${kind.path} answers no field "${first}" (fields: ${route.fields.join(', ')})`);
    }
    for (const [metric, feed] of Object.entries(kind.metrics)) {
      const m = metrics[metric];
      if (!m) fail(`${at('metrics')}.${metric}`, `no custom metric "${metric}": declare it under metrics: { ${metric}: { type: '${FEED_TYPES[feed]?.[0]}' } }`);
      else if (!(FEED_TYPES[feed] ?? []).includes(m.type)) fail(`${at('metrics')}.${metric}`, `${feed} cannot feed a ${m.type} (use a ${FEED_TYPES[feed]?.join(' or ')})`);
    }
    if (kind.body !== undefined && kind.method === 'GET') fail(at('body'), 'a GET request has no body; use query:');
    out[name] = { ...kind, name };
  }
  for (const [p, param] of Object.entries(params)) {
    if (Array.isArray(param)) continue;
    if (!findRoute('GET', param.from)) fail(`setup.params.${p}.from`, `no HSI API route GET ${param.from}`);
  }
  return out;
}

/** WebSocket subscribers: a path on the stack's own backend, one the HSI API has. */
export function validateWebSockets(ws: Readonly<Record<string, WebSocketParsed>>, fail: Fail): Record<string, WebSocketSubscriber> {
  const out: Record<string, WebSocketSubscriber> = {};
  for (const [name, w] of Object.entries(ws)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(w.path) || w.path.startsWith('//')) {
      fail(`websockets.${name}.path`, `${w.path} is outside the stack: give a path on the backend (e.g. /ws/events); the driver connects to the stack's own origin`);
    }
    if (!HSI_WS_ROUTES.some((r) => r.path === w.path)) fail(`websockets.${name}.path`, `no HSI WebSocket ${w.path}; endpoints: ${HSI_WS_ROUTES.map((r) => r.path).join(', ')}`);
    out[name] = { ...w, name };
  }
  return out;
}

/** A k6 scenario's request options: known kinds, a known websocket, not both. */
export function normalizeWorkloadRequests(
  name: string,
  w: { requests?: Record<string, number> | undefined; websocket?: string | undefined; thinkTime?: ThinkTimeParsed | undefined },
  kinds: Readonly<Record<string, RequestKind>>,
  websockets: Readonly<Record<string, WebSocketSubscriber>>,
  fail: Fail,
): { requests?: Record<string, number>; websocket?: string; thinkTime?: { minMs: number; maxMs: number } } {
  const at = (f: string) => `scenarios.${name}.${f}`;
  const out: { requests?: Record<string, number>; websocket?: string; thinkTime?: { minMs: number; maxMs: number } } = {};
  if (w.requests !== undefined && w.websocket !== undefined) fail(at('websocket'), 'a scenario either sends requests or subscribes to a WebSocket, not both');
  if (w.requests !== undefined) {
    if (Object.keys(w.requests).length === 0) fail(at('requests'), 'names no request kind');
    for (const kind of Object.keys(w.requests)) {
      if (!(kind in kinds)) fail(`${at('requests')}.${kind}`, `no request kind "${kind}" (requests: ${Object.keys(kinds).join(', ') || 'none defined'})`);
    }
    out.requests = w.requests;
  }
  if (w.websocket !== undefined) {
    if (!(w.websocket in websockets)) fail(at('websocket'), `no websockets entry "${w.websocket}" (websockets: ${Object.keys(websockets).join(', ') || 'none defined'})`);
    out.websocket = w.websocket;
  }
  if (w.thinkTime !== undefined) {
    const t = typeof w.thinkTime === 'number' ? { minMs: w.thinkTime, maxMs: w.thinkTime } : { minMs: w.thinkTime.min, maxMs: w.thinkTime.max };
    if (t.maxMs < t.minMs) fail(at('thinkTime'), `max (${t.maxMs} ms) is below min (${t.minMs} ms)`);
    out.thinkTime = t;
  }
  return out;
}
