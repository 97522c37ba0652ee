/**
 * k6 script for camera uploads (k6 v1/v2 runs .ts natively; type-checked with
 * scenarios/k6/tsconfig.json). It reads the scenario definition the harness rendered
 * (harness/load/k6/render-k6.ts) from the file named by __ENV.HSI_SCENARIO_JSON:
 *
 *   HSI_SCENARIO_JSON=/tmp/steady.k6.json k6 run --out json=points.json \
 *     --summary-export=summary.json scenarios/k6/camera-uploads.ts
 *
 * Each iteration uploads one fixture image of one camera (POST /api/cameras/{id}/uploads,
 * multipart field `file`) with a W3C traceparent minted here (random ids, sampled by the
 * scenario's fraction; nothing is fetched from the network) and baggage camera.id,
 * request.source and the scenario's keys. The trace id is put in the samples' metadata
 * (`trace_id`), so it appears in the --out json Point lines; an accepted upload adds one
 * `hsi_uploads` sample whose metadata carries the upload id and file path.
 * Scenarios with request kinds run `api` (setup() data, checks, custom metrics, think time),
 * WebSocket subscribers run `subscriber` (k6/ws); fixtures are shared across VUs
 * (k6/experimental/fs).
 */
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { type File, open as openShared, SeekMode } from 'k6/experimental/fs';
import http from 'k6/http';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import ws, { type Socket } from 'k6/ws';

/** Mirror of RenderedScenario in harness/load/k6/render-k6.ts. */
interface RenderedScenario {
  version: 1;
  name: string;
  backendUrl: string;
  options: Options;
  cameras: { id: string; name: string; files: { path: string; name: string }[] }[];
  sequences: Record<string, number[]>;
  tracing: { sampledFraction: number; baggage: Record<string, string>; requestSource: string };
  timeout: string;
  limits: { maxRequests: number };
  metrics: Record<string, { type: 'counter' | 'gauge' | 'rate' | 'trend'; contains: 'default' | 'time' | 'data' }>;
  requests: Record<string, RenderedRequest>;
  requestSequences: Record<string, string[]>;
  thinkTime: Record<string, { min: number; max: number }>;
  setupParams: Record<string, { values: string[] } | { from: string; field: string; fallback: string[] }>;
  websockets: Record<string, { path: string; sessionMs: number; tags: Record<string, string> }>;
  apiKey?: { header: string; wsQuery: string };
}

interface RenderedRequest {
  method: string;
  path: string;
  name: string;
  headers: Record<string, string>;
  body: string | null;
  tags: Record<string, string>;
  expectedStatuses: number[] | null;
  checks: Record<string, { status?: number[]; json?: string; type?: string; equals?: string | number | boolean; maxDurationMs?: number }>;
  metrics: Record<string, 'duration' | 'ok' | 'count' | 'bytes'>;
}

/** setup() data: each path parameter's values */
interface SetupData {
  params: Record<string, string[]>;
}

const configPath = __ENV['HSI_SCENARIO_JSON'];
if (!configPath) throw new Error('HSI_SCENARIO_JSON is not set: run this script through hsi-chaos (--driver k6), or point it at a rendered scenario JSON');
const config = JSON.parse(open(configPath)) as RenderedScenario;
const backendUrl = (__ENV['HSI_BACKEND_URL'] ?? config.backendUrl).replace(/\/+$/, '');
// the stack's API key (environment only: the rendered scenario never holds it)
const apiKey = __ENV['HSI_API_KEY'] ?? '';
const apiKeyHeader = config.apiKey?.header ?? 'X-API-Key';

/** The API key header, unless the request sets it itself. */
function withApiKey(headers: Record<string, string>): Record<string, string> {
  if (apiKey === '' || Object.keys(headers).some((h) => h.toLowerCase() === apiKeyHeader.toLowerCase())) return headers;
  return { ...headers, [apiKeyHeader]: apiKey };
}

/** A subscriber URL with the API key where the HSI WebSockets read it (a query parameter, as the real suite does). */
function wsUrl(path: string): string {
  const url = `${backendUrl.replace(/^http/, 'ws')}${path}`;
  if (apiKey === '') return url;
  return `${url}${url.indexOf('?') === -1 ? '?' : '&'}${config.apiKey?.wsQuery ?? 'api_key'}=${encodeURIComponent(apiKey)}`;
}

export const options: Options = config.options;

// fixtures: k6/experimental/fs keeps ONE copy of each file in memory for all VUs (a binary open()
// would copy every image into every VU); each VU reads it into a buffer per upload
interface SharedFixture {
  name: string;
  file: File;
  size: number;
}
const fixtures: SharedFixture[][] = [];
for (const camera of config.cameras) {
  const files: SharedFixture[] = [];
  for (const f of camera.files) {
    const file = await openShared(f.path);
    files.push({ name: f.name, file, size: (await file.stat()).size });
  }
  fixtures.push(files);
}

async function readFixture(f: SharedFixture): Promise<ArrayBuffer> {
  const buffer = new Uint8Array(f.size);
  await f.file.seek(0, SeekMode.Start);
  let offset = 0;
  while (offset < f.size) {
    const n = await f.file.read(buffer.subarray(offset));
    if (!n) break;
    offset += n;
  }
  return buffer.buffer;
}

const uploads = new Counter('hsi_uploads');
// custom metrics, declared in the init context as k6 requires
const customMetrics: Record<string, Counter | Gauge | Rate | Trend> = {};
for (const [name, m] of Object.entries(config.metrics ?? {})) {
  if (m.type === 'counter') customMetrics[name] = new Counter(name);
  else if (m.type === 'gauge') customMetrics[name] = new Gauge(name);
  else if (m.type === 'rate') customMetrics[name] = new Rate(name);
  else customMetrics[name] = new Trend(name, m.contains === 'time');
}
const expected202 = http.expectedStatuses(202);
const HEX = '0123456789abcdef';

function randomHex(chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) out += HEX.charAt(Math.floor(Math.random() * 16));
  // all-zero ids are invalid in W3C trace context
  return /^0+$/.test(out) ? `${out.slice(0, -1)}1` : out;
}

function encodeBaggage(entries: Record<string, string>): string {
  return Object.keys(entries)
    .map((key) => `${key}=${encodeURIComponent(entries[key] ?? '')}`)
    .join(',');
}

export default async function upload(): Promise<void> {
  if (exec.instance.iterationsCompleted + exec.instance.iterationsInterrupted >= config.limits.maxRequests) {
    exec.test.abort(`limits.maxRequests (${config.limits.maxRequests}) reached`);
    return;
  }
  const scenarioName = exec.scenario.name;
  const sequence = config.sequences[scenarioName] ?? [0];
  const iteration = exec.scenario.iterationInTest;
  const cameraIndex = sequence[iteration % sequence.length] ?? 0;
  const camera = config.cameras[cameraIndex];
  const files = fixtures[cameraIndex];
  if (!camera || !files || files.length === 0) throw new Error(`no camera ${cameraIndex} in the rendered scenario`);
  const file = files[Math.floor(iteration / sequence.length) % files.length];
  if (!file) throw new Error(`camera ${camera.id} has no fixture`);

  const traceId = randomHex(32);
  const spanId = randomHex(16);
  const sampled = Math.random() < config.tracing.sampledFraction;
  const metadata = exec.vu.metrics.metadata;
  metadata['trace_id'] = traceId;
  metadata['trace_sampled'] = sampled ? 'true' : 'false';

  const res = http.post(
    `${backendUrl}/api/cameras/${encodeURIComponent(camera.id)}/uploads`,
    { file: http.file(await readFixture(file), file.name, /\.png$/i.test(file.name) ? 'image/png' : 'image/jpeg') },
    {
      headers: withApiKey({
        traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`,
        baggage: encodeBaggage({ 'camera.id': camera.id, 'request.source': config.tracing.requestSource, ...config.tracing.baggage }),
      }),
      tags: { camera: camera.id, name: 'POST /api/cameras/{camera_id}/uploads' },
      timeout: config.timeout,
      responseCallback: expected202,
    },
  );

  if (res.status === 202) {
    let answer: { id?: unknown; file_path?: unknown } = {};
    try {
      answer = JSON.parse(String(res.body)) as typeof answer;
    } catch {
      // a non-JSON answer still counts as accepted
    }
    if (typeof answer.id === 'string') metadata['upload_id'] = answer.id;
    if (typeof answer.file_path === 'string') metadata['file_path'] = answer.file_path;
    metadata['span_id'] = spanId;
    uploads.add(1, { camera: camera.id, fixture: file.name });
  }
  delete metadata['trace_id'];
  delete metadata['trace_sampled'];
  delete metadata['upload_id'];
  delete metadata['file_path'];
  delete metadata['span_id'];
}

/** The value at a dotted path of a parsed JSON answer (undefined when absent). */
function at(json: unknown, path: string): unknown {
  let value: unknown = json;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** "items.id": the list at items, then each item's id. */
function pluck(json: unknown, field: string): string[] {
  const parts = field.split('.');
  let value: unknown = json;
  while (parts.length > 0 && !Array.isArray(value)) value = at(value, parts.shift() ?? '');
  if (!Array.isArray(value)) return [];
  const out: string[] = [];
  for (const item of value) {
    const v = parts.length > 0 ? at(item, parts.join('.')) : item;
    if (typeof v === 'string' || typeof v === 'number') out.push(String(v));
  }
  return out;
}

/** setup(): path parameter values, literal or read from the stack (one GET each). */
export function setup(): SetupData {
  const params: Record<string, string[]> = {};
  for (const name of Object.keys(config.setupParams ?? {})) {
    const p = config.setupParams[name];
    if (!p) continue;
    if ('values' in p) {
      params[name] = p.values;
      continue;
    }
    const res = http.get(`${backendUrl}${p.from}`, { headers: withApiKey({}), tags: { name: `setup ${p.from}` } });
    let values: string[] = [];
    try {
      values = res.status === 200 ? pluck(JSON.parse(String(res.body)), p.field) : [];
    } catch {
      values = [];
    }
    params[name] = values.length > 0 ? values : p.fallback;
  }
  return { params };
}

function checksFor(req: RenderedRequest): Record<string, (r: { status: number; body: unknown; timings: { duration: number } }) => boolean> {
  const out: Record<string, (r: { status: number; body: unknown; timings: { duration: number } }) => boolean> = {};
  for (const name of Object.keys(req.checks)) {
    const c = req.checks[name];
    if (!c) continue;
    out[name] = (r) => {
      if (c.status) return c.status.indexOf(r.status) !== -1;
      if (c.maxDurationMs !== undefined) return r.timings.duration <= c.maxDurationMs;
      let json: unknown;
      try {
        json = JSON.parse(String(r.body));
      } catch {
        return false;
      }
      const value = at(json, c.json ?? '');
      if (value === undefined) return false;
      if (c.type !== undefined && (Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value) !== c.type) return false;
      return c.equals === undefined || value === c.equals;
    };
  }
  return out;
}

function thinkTime(scenarioName: string): void {
  const t = config.thinkTime[scenarioName];
  if (t && t.max > 0) sleep(t.min + (t.max - t.min) * Math.random());
}

/** A dashboard/API user: one request of a kind picked by weight per iteration, checks, think time. */
export function api(data: SetupData): void {
  const scenarioName = exec.scenario.name;
  const sequence = config.requestSequences[scenarioName] ?? [];
  const iteration = exec.scenario.iterationInTest;
  const req = config.requests[sequence[iteration % sequence.length] ?? ''];
  if (!req) throw new Error(`no request kind for scenario ${scenarioName}`);
  const path = req.path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m: string, name: string) => {
    const values = data.params[name] ?? [''];
    return encodeURIComponent(values[iteration % values.length] ?? '');
  });
  const traceId = randomHex(32);
  const res = http.request(req.method, `${backendUrl}${path}`, req.body, {
    headers: withApiKey({
      ...req.headers,
      traceparent: `00-${traceId}-${randomHex(16)}-01`,
      baggage: encodeBaggage({ 'request.source': config.tracing.requestSource, ...config.tracing.baggage }),
    }),
    tags: { ...req.tags, name: req.name },
    timeout: config.timeout,
    ...(req.expectedStatuses ? { responseCallback: http.expectedStatuses(...req.expectedStatuses) } : {}),
  });
  check(res, checksFor(req), req.tags);
  for (const metric of Object.keys(req.metrics)) {
    const feed = req.metrics[metric];
    const m = customMetrics[metric];
    if (!m || !feed) continue;
    const ok = req.expectedStatuses ? req.expectedStatuses.indexOf(res.status) !== -1 : res.status >= 200 && res.status < 400;
    const value = feed === 'duration' ? res.timings.duration : feed === 'ok' ? (ok ? 1 : 0) : feed === 'count' ? 1 : String(res.body ?? '').length;
    m.add(value, req.tags);
  }
  thinkTime(scenarioName);
}

const wsEventLatency = new Trend('ws_event_latency', true);
// k6 writes ws_sessions only for a connection that opened; a failed one is counted here with
// status 0, as the native driver counts it (new Counter on a built-in's name and type returns the
// built-in metric: k6's registry NewMetric), so `ws_sessions{status:0}` means the same on both paths
const wsSessions = new Counter('ws_sessions');

type Subscription = RenderedScenario['websockets'][string];

/**
 * A frame's send time, epoch ms: its `timestamp` (ISO or epoch ms), else a batch envelope's
 * `batched_at` (epoch s); NaN when it has none. A copy of the contract's wsFrameSentAtMs
 * (harness/contract/hsi-ws-events.ts), which k6 cannot load; a unit test holds them together.
 */
export function frameSentAtMs(text: string): number {
  const m = JSON.parse(text) as { timestamp?: unknown; type?: unknown; batched_at?: unknown } | null;
  if (typeof m !== 'object' || m === null) return Number.NaN;
  if (typeof m.timestamp === 'number' && Number.isFinite(m.timestamp)) return m.timestamp;
  const t = typeof m.timestamp === 'string' ? Date.parse(m.timestamp) : Number.NaN;
  if (!Number.isNaN(t)) return t;
  return m.type === 'batch' && typeof m.batched_at === 'number' && Number.isFinite(m.batched_at) ? m.batched_at * 1000 : Number.NaN;
}

/** One session's handlers: ws_event_latency per frame with a send time, close after sessionMs. */
function listen(socket: Socket, sub: Subscription): void {
  socket.on('message', (text: string) => {
    try {
      const t = frameSentAtMs(text);
      if (!Number.isNaN(t)) wsEventLatency.add(Math.max(0, Date.now() - t), sub.tags);
    } catch {
      // counted by ws_msgs_received, no latency
    }
  });
  socket.setTimeout(() => socket.close(), sub.sessionMs);
}

/** A WebSocket subscriber: one session per iteration on the stack's own origin. */
export function subscriber(): void {
  const scenarioName = exec.scenario.name;
  const sub = config.websockets[scenarioName];
  if (!sub) throw new Error(`no websocket for scenario ${scenarioName}`);
  let status = 0;
  try {
    status = ws.connect(wsUrl(sub.path), { tags: sub.tags }, (socket) => listen(socket, sub)).status;
  } catch {
    status = 0;
  }
  if (status !== 101) wsSessions.add(1, { ...sub.tags, status: '0' });
  thinkTime(scenarioName);
}
