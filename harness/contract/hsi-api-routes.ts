import { HSI_ROUTES } from './hsi-api.ts';
/**
 * The HSI API routes a scenario's request kinds may call (HSI-CONTRACT.md: the routes the real
 * project's own k6 suites load), with the top-level JSON fields of their 2xx answer where the
 * contract fixes them. A request kind naming no route here, or a check on a field its route
 * does not answer, is a validation error. `reference` marks the routes the reference stack
 * serves (reference-stack/backend/api.ts): a scenario run on it should use only those.
 */
export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export interface ApiRoute {
  method: HttpMethod;
  /** path template, parameters in braces: /api/events/{event_id} */
  template: string;
  /** top-level fields of the 2xx JSON answer; undefined: not fixed by the contract */
  fields?: readonly string[];
  /** served by the reference stack */
  reference: boolean;
}

const EVENT = ['id', 'camera_id', 'started_at', 'ended_at', 'risk_score', 'risk_level', 'summary', 'reasoning', 'detection_count', 'detection_ids', 'batch_id', 'trace_id', 'is_fallback'];
const PAGE = ['items', 'pagination'];

export const HSI_API_ROUTES: readonly ApiRoute[] = [
  { method: 'POST', template: HSI_ROUTES.upload, fields: ['id', 'camera_id', 'file_path', 'status', 'trace_id'], reference: true },
  { method: 'GET', template: HSI_ROUTES.events, fields: PAGE, reference: true },
  { method: 'GET', template: HSI_ROUTES.event, fields: [...EVENT, 'detections'], reference: true },
  { method: 'PATCH', template: HSI_ROUTES.event, fields: EVENT, reference: false },
  { method: 'GET', template: '/api/events/stats', reference: false },
  { method: 'GET', template: '/api/events/search', reference: false },
  { method: 'GET', template: '/api/events/{event_id}/detections', reference: false },
  { method: 'GET', template: HSI_ROUTES.detections, fields: PAGE, reference: true },
  { method: 'GET', template: '/api/detections/{detection_id}', reference: false },
  { method: 'GET', template: '/api/cameras', fields: PAGE, reference: false },
  { method: 'POST', template: '/api/cameras', fields: ['id', 'name', 'folder_path', 'status'], reference: false },
  { method: 'POST', template: '/api/logs/frontend', reference: false },
  { method: 'POST', template: '/api/admin/seed/cameras', reference: false },
  { method: 'POST', template: '/api/admin/seed/events', reference: false },
  { method: 'GET', template: '/api/cameras/{camera_id}', reference: false },
  { method: 'PATCH', template: '/api/cameras/{camera_id}', reference: false },
  { method: 'GET', template: '/api/cameras/{camera_id}/snapshot', reference: false },
  { method: 'GET', template: HSI_ROUTES.systemHealth, fields: ['status', 'services', 'timestamp'], reference: true },
  { method: 'GET', template: HSI_ROUTES.healthReady, reference: true },
  { method: 'GET', template: HSI_ROUTES.systemGpu, fields: ['gpu_utilization', 'memory_used', 'memory_total', 'temperature', 'inference_fps'], reference: true },
  { method: 'GET', template: '/api/system/stats', reference: false },
  { method: 'GET', template: '/api/system/config', reference: false },
  { method: 'GET', template: HSI_ROUTES.circuitBreakers, reference: true },
  { method: 'GET', template: HSI_ROUTES.queueStatus, reference: true },
  { method: 'GET', template: HSI_ROUTES.dlqStats, reference: true },
];

/** WebSocket endpoints (paths on the backend's origin). */
export const HSI_WS_ROUTES: readonly { path: string; reference: boolean }[] = [
  { path: '/ws/events', reference: true },
  { path: '/ws/system', reference: false },
];

export function findRoute(method: string, template: string): ApiRoute | undefined {
  return HSI_API_ROUTES.find((r) => r.method === method && r.template === template);
}

/** `{name}` parameters of a template, in order. */
export function templateParams(template: string): string[] {
  return [...template.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1] ?? '');
}
