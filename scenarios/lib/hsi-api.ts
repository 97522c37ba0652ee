import type { ScenarioInput, WorkloadInput } from '../../harness/scenario/scenario-types.ts';

/**
 * Building blocks of the built-in API scenarios, following the real HSI project's k6 load
 * profiles and suites (its tests/load/: ramping-vus users with 1-3 s think time, checks,
 * custom metrics, setup() data, p95 < 2 s). Written here, not copied. No request kind sets
 * `X-API-Key` itself: the run sends the stack's own key (HSI_CHAOS_API_KEY, the stack file's
 * apiKey) on every request, and a kind's own header would override it with a wrong one.
 */
type Stage = { duration: string; target: number };
type Requests = NonNullable<ScenarioInput['requests']>;

/** The five load profiles: VU stages. */
export const PROFILES: Readonly<Record<'smoke' | 'average' | 'stress' | 'spike' | 'soak', Stage[]>> = {
  smoke: [{ duration: '10s', target: 1 }],
  average: [
    { duration: '30s', target: 10 },
    { duration: '1m', target: 10 },
    { duration: '30s', target: 0 },
  ],
  stress: [
    { duration: '30s', target: 20 },
    { duration: '1m', target: 50 },
    { duration: '1m', target: 100 },
    { duration: '2m', target: 100 },
    { duration: '30s', target: 0 },
  ],
  spike: [
    { duration: '10s', target: 5 },
    { duration: '5s', target: 100 },
    { duration: '30s', target: 100 },
    { duration: '5s', target: 5 },
    { duration: '30s', target: 5 },
    { duration: '10s', target: 0 },
  ],
  soak: [
    { duration: '1m', target: 30 },
    { duration: '10m', target: 30 },
    { duration: '30s', target: 0 },
  ],
};

const ok200 = { 'status is 200': { status: 200 } } as const;

/** Dashboard reads (events, detections, system) on routes the reference stack serves. */
export const DASHBOARD_REQUESTS: Requests = {
  list_events: {
    method: 'GET',
    path: '/api/events',
    query: { limit: '50' },
    tags: { type: 'api' },
    checks: { ...ok200, 'events list has items': { json: 'items', type: 'array' } },
    metrics: { event_list_duration: 'duration' },
  },
  get_event: {
    method: 'GET',
    path: '/api/events/{event_id}',
    tags: { type: 'api' },
    expectedStatuses: [200, 404],
    checks: { 'event found or gone': { status: [200, 404] } },
  },
  list_detections: {
    method: 'GET',
    path: '/api/detections',
    query: { limit: '50' },
    tags: { type: 'api' },
    checks: { ...ok200, 'detections list has items': { json: 'items', type: 'array' } },
  },
  system_health: { method: 'GET', path: '/api/system/health', tags: { type: 'system' }, expectedStatuses: [200, 503], checks: { 'health answers a status': { json: 'status', type: 'string' } } },
  system_gpu: { method: 'GET', path: '/api/system/gpu', tags: { type: 'system' }, checks: ok200 },
  queue_status: { method: 'GET', path: '/api/queues/status', tags: { type: 'system' }, checks: ok200 },
};

/** Routes of the real HSI the reference stack does not serve (suites validate; run them on a real deployment). */
export const HSI_ONLY_REQUESTS: Requests = {
  event_stats: { method: 'GET', path: '/api/events/stats', tags: { type: 'api' }, checks: ok200 },
  event_search: { method: 'GET', path: '/api/events/search', query: { q: 'person' }, tags: { type: 'api' }, checks: ok200 },
  list_cameras: { method: 'GET', path: '/api/cameras', tags: { type: 'api' }, checks: { ...ok200, 'cameras list has items': { json: 'items', type: 'array' } } },
  get_camera: { method: 'GET', path: '/api/cameras/{camera_id}', tags: { type: 'api' }, checks: ok200 },
  camera_snapshot: { method: 'GET', path: '/api/cameras/{camera_id}/snapshot', tags: { type: 'api' }, expectedStatuses: [200, 404], checks: { 'snapshot or none': { status: [200, 404] } } },
  review_event: {
    method: 'PATCH',
    path: '/api/events/{event_id}',
    body: { reviewed: true, notes: 'hsi-chaos load test' },
    tags: { type: 'mutation' },
    checks: { 'update event status is 200': { status: 200 }, 'update answers the event': { json: 'id', type: 'number' }, 'update under 2.5 s': { maxDuration: '2500ms' } },
    metrics: { mutation_update_duration: 'duration', mutation_ok: 'ok' },
  },
  create_camera: {
    method: 'POST',
    path: '/api/cameras',
    body: { name: 'hsi-chaos load camera', folder_path: '/tmp/hsi-chaos-load', status: 'offline' },
    tags: { type: 'mutation' },
    expectedStatuses: [201, 409],
    checks: { 'create camera 201 or 409': { status: [201, 409] } },
    metrics: { mutation_create_duration: 'duration', mutation_ok: 'ok' },
  },
  frontend_log: {
    method: 'POST',
    path: '/api/logs/frontend',
    body: { level: 'INFO', message: 'hsi-chaos load test', component: 'Dashboard' },
    tags: { type: 'mutation' },
    expectedStatuses: [200, 201],
    checks: { 'log accepted': { status: [200, 201] } },
    metrics: { mutation_ok: 'ok' },
  },
};

/** setup() data: event ids from the stack (fallback when it has none yet), camera ids. */
export const SETUP: NonNullable<ScenarioInput['setup']> = {
  params: {
    event_id: { from: '/api/events', query: { limit: '20' }, field: 'items.id', fallback: [1] },
    camera_id: ['front_door', 'driveway', 'backyard'],
  },
};

export const METRICS: NonNullable<ScenarioInput['metrics']> = {
  event_list_duration: { type: 'trend', contains: 'time' },
  mutation_update_duration: { type: 'trend', contains: 'time' },
  mutation_create_duration: { type: 'trend', contains: 'time' },
  mutation_ok: { type: 'rate' },
};

/** The real suites' standard thresholds (production error rate, not their CI-relaxed one). */
export const STANDARD_THRESHOLDS: NonNullable<ScenarioInput['thresholds']> = {
  http_req_duration: ['p(95)<2000', 'p(99)<5000', 'avg<1000'],
  http_req_failed: ['rate<0.05'],
};

export const WS_THRESHOLDS: NonNullable<ScenarioInput['thresholds']> = {
  ws_connecting: ['p(95)<2000'],
  'ws_sessions{status:0}': ['count<1'],
};

/**
 * An API-user scenario: ramping VUs picking request kinds by weight, 1-3 s think time.
 * startVUs 1, as k6's `stages` shortcut (the real suites' form) starts from `vus` (default 1).
 */
export function apiUsers(stages: Stage[], requests: Record<string, number>, tags: Record<string, string> = {}): WorkloadInput {
  return { executor: 'ramping-vus', startVUs: 1, stages, gracefulRampDown: '10s', gracefulStop: '10s', requests, thinkTime: { min: '1s', max: '3s' }, tags };
}

/** Limits that fit a stage list (its length plus a minute). */
export function limitsFor(stages: Stage[], maxRequests = 200_000): NonNullable<ScenarioInput['limits']> {
  const seconds = stages.reduce((sum, s) => sum + durationSeconds(s.duration), 0);
  return { maxDuration: `${seconds + 60}s`, maxRequests };
}

function durationSeconds(d: string): number {
  let total = 0;
  for (const m of d.matchAll(/(\d+)(ms|s|m|h)/g)) {
    const n = Number(m[1]);
    total += m[2] === 'h' ? n * 3600 : m[2] === 'm' ? n * 60 : m[2] === 's' ? n : n / 1000;
  }
  return total;
}

/** The dashboard mix of the profiles: the real `all` suite's weights on the reference routes. */
export const DASHBOARD_MIX: Record<string, number> = { list_events: 4, get_event: 2, list_detections: 2, system_health: 1, system_gpu: 1, queue_status: 1 };

/** A profile scenario: dashboard users on the profile's stages. */
export function profile(name: keyof typeof PROFILES, description: string): ScenarioInput {
  const stages = PROFILES[name];
  return {
    name: `api-${name}`,
    description,
    scenarios: { dashboard: apiUsers(stages, DASHBOARD_MIX, { profile: name }) },
    cameras: [{ id: 'front_door' }],
    requests: DASHBOARD_REQUESTS,
    setup: SETUP,
    metrics: METRICS,
    thresholds: { ...STANDARD_THRESHOLDS, 'http_req_duration{type:api}': ['p(95)<2000'], 'checks{check:status is 200}': ['rate>0.95'] },
    limits: limitsFor(stages),
  };
}
