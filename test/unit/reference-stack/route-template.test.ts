import { describe, expect, it } from 'vitest';
import { HSI_ROUTES, routePath } from '../../../harness/contract/hsi-api.ts';
import { route } from '../../../reference-stack/common/http.ts';

const handler = () => Promise.resolve({ status: 200, body: {} });

describe('route(method, template): one template as matcher, span name and http.route', () => {
  it('matches a filled template (parameters as capture groups, a trailing slash allowed) and nothing else', () => {
    const upload = route('POST', HSI_ROUTES.upload, handler);
    expect(upload.template).toBe('/api/cameras/{camera_id}/uploads');
    expect(upload.pattern.exec(routePath(HSI_ROUTES.upload, { camera_id: 'front_door' }))?.slice(1)).toEqual(['front_door']);
    expect(upload.pattern.test('/api/cameras/front_door/uploads/')).toBe(true);
    expect(upload.pattern.test('/api/cameras/a/b/uploads')).toBe(false);
    expect(upload.pattern.test('/api/cameras//uploads')).toBe(false);
    expect(upload.pattern.test('/x/api/cameras/a/uploads')).toBe(false);
    const events = route('GET', HSI_ROUTES.events, handler);
    expect(events.pattern.test('/api/events')).toBe(true);
    expect(events.pattern.test('/api/events/7')).toBe(false);
    expect(route('GET', HSI_ROUTES.event, handler).pattern.exec('/api/events/7')?.[1]).toBe('7');
  });

  it('escapes the literal parts of a template', () => {
    const dotted = route('GET', '/v1/a.b', handler);
    expect(dotted.pattern.test('/v1/a.b')).toBe(true);
    expect(dotted.pattern.test('/v1/aXb')).toBe(false);
  });
});
