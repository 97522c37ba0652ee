import { describe, expect, it } from 'vitest';
import { findRoute, HSI_WS_ROUTES } from '../../../harness/contract/hsi-api-routes.ts';
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

  it('profiles have the real stages exactly (durations and targets of tests/load/config.js)', async () => {
    // the real project's tests/load/config.js smokeTestStages ... soakTestStages, as [seconds, target]
    const REAL: Record<string, [number, number][]> = {
      'api-smoke': [[10, 1]],
      'api-average': [[30, 10], [60, 10], [30, 0]],
      'api-stress': [[30, 20], [60, 50], [60, 100], [120, 100], [30, 0]],
      'api-spike': [[10, 5], [5, 100], [30, 100], [5, 5], [30, 5], [10, 0]],
      'api-soak': [[60, 30], [600, 30], [30, 0]],
    };
    for (const name of PROFILES) {
      const w = (await loadScenario(name)).scenarios['dashboard'];
      expect(w?.executor === 'ramping-vus' ? w.stages.map((st) => [st.durationMs / 1000, st.target]) : [], name).toEqual(REAL[name]);
    }
  });

  it("no built-in request kind sets X-API-Key itself: it would override the stack's own key that the run sends", async () => {
    for (const name of [...PROFILES, ...SUITES, 'mixed']) {
      for (const k of Object.values((await loadScenario(name)).requests)) {
        expect(Object.keys(k.headers).map((h) => h.toLowerCase()), `${name}: ${k.name}`).not.toContain('x-api-key');
      }
    }
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
