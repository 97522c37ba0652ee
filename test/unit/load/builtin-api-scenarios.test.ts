import { describe, expect, it } from 'vitest';
import { findRoute, HSI_WS_ROUTES } from '../../../harness/load/hsi-routes.ts';
import { renderK6 } from '../../../harness/load/k6/render-k6.ts';
import { listBuiltinScenarios, loadScenario } from '../../../harness/scenario/load-scenario.ts';

const PROFILES = ['api-smoke', 'api-average', 'api-stress', 'api-spike', 'api-soak'];
const SUITES = ['suite-all', 'suite-cameras', 'suite-events', 'suite-mutations', 'suite-redis', 'suite-websocket', 'suite-websocket-scale'];

describe("built-in equivalents of the real HSI's k6 profiles and suites", () => {
  it('are listed and validate: five profiles, seven suites, the mixed scenario', async () => {
    const names = listBuiltinScenarios();
    for (const name of [...PROFILES, ...SUITES, 'mixed']) {
      expect(names).toContain(name);
      const s = await loadScenario(name);
      expect(s.name).toBe(name);
      // every one renders for the k6 path too
      expect(Object.keys(renderK6(s, { backendUrl: 'http://127.0.0.1:8000' }).options.scenarios).length).toBeGreaterThan(0);
    }
  });

  it('profiles follow the real stages (peak VUs 1, 10, 100, 100, 30)', async () => {
    const peaks = await Promise.all(
      PROFILES.map(async (n) => {
        const w = (await loadScenario(n)).scenarios['dashboard'];
        return w?.executor === 'ramping-vus' ? Math.max(...w.stages.map((s) => s.target)) : -1;
      }),
    );
    expect(peaks).toEqual([1, 10, 100, 100, 30]);
  });

  it('the mixed scenario runs cameras, dashboard users and subscribers on routes the reference stack serves', async () => {
    const s = await loadScenario('mixed');
    expect(s.scenarios['cameras']?.requests).toBeUndefined();
    expect(s.scenarios['dashboard']?.requests).toBeDefined();
    expect(s.scenarios['subscribers']?.websocket).toBe('events');
    for (const k of Object.values(s.requests)) expect(findRoute(k.method, k.path)?.reference).toBe(true);
    for (const w of Object.values(s.websockets)) expect(HSI_WS_ROUTES.find((r) => r.path === w.path)?.reference).toBe(true);
    expect(Object.keys(s.thresholds)).toEqual(expect.arrayContaining(['checks{check:status is 200}', 'ws_msgs_received', 'ws_event_latency', 'http_req_duration{scenario:dashboard}']));
  });
});
