import { describe, expect, it } from 'vitest';
import { applyExternalSettings, planExternalSettings, type SettingsPost } from '../../../harness/experiment/external-settings.ts';
import { loadScenario } from '../../../harness/scenario/load-scenario.ts';

/** A stand-in for the backend's POST /admin/settings: records the bodies, answers like live-settings.ts. */
function fakeStack(status: number, liveNames: readonly string[] = []) {
  const posts: Record<string, string>[] = [];
  const post: SettingsPost = async (_url, body) => {
    posts.push(body);
    if (status !== 200) return { status, body: { error: 'not_found' } };
    const applied = Object.fromEntries(Object.entries(body).filter(([k]) => liveNames.includes(k)));
    const previous = Object.fromEntries(Object.keys(applied).map((k) => [k, 'old']));
    const notApplied = Object.keys(body).filter((k) => !liveNames.includes(k)).map((name) => ({ name, reason: 'read only at start' }));
    return { status, body: { applied, previous, not_applied: notApplied } };
  };
  return { posts, post };
}

describe('a scenario\'s stack settings on an external stack', () => {
  it('posts the backend settings, names each one not applied (one line each), and restores the previous values once', async () => {
    const scenario = await loadScenario('chaos-detector-down');
    const stack = fakeStack(200, ['DETECTOR_CB_RECOVERY_SECONDS', 'DETECTOR_MAX_RETRIES', 'BATCH_IDLE_TIMEOUT_SECONDS', 'BATCH_WINDOW_SECONDS', 'BATCH_CHECK_INTERVAL_SECONDS']);
    const result = await applyExternalSettings('http://127.0.0.1:9', scenario, stack.post);
    expect(stack.posts[0]).toEqual(scenario.stack?.backend);
    expect(result.applied['DETECTOR_CB_RECOVERY_SECONDS']).toBe('5');
    expect(result.notApplied).toEqual([
      'backend NEMOTRON_READ_TIMEOUT=3: read only at start',
      'backend YOLO26_READ_TIMEOUT=5: read only at start',
      'llm EMULATOR_TIME_SCALE=0.05: read only when the llm starts',
    ]);
    expect(result.rollback.needed).toBe(true);
    expect(await result.rollback.restore()).toMatch(/settings restored \(.*DETECTOR_CB_RECOVERY_SECONDS=old/);
    expect(await result.rollback.restore()).toBeUndefined();
    expect(stack.posts).toHaveLength(2);
    expect(Object.values(stack.posts[1] ?? {})).toEqual(['old', 'old', 'old', 'old', 'old']);
  });

  it('a stack without the endpoint (404): every setting named as not applied, nothing to restore', async () => {
    const scenario = await loadScenario('chaos-detector-down');
    const stack = fakeStack(404);
    const result = await applyExternalSettings('http://127.0.0.1:9', scenario, stack.post);
    expect(result.applied).toEqual({});
    expect(result.notApplied).toHaveLength(Object.keys(scenario.stack?.backend ?? {}).length + 1);
    expect(result.notApplied).toContain('backend DETECTOR_CB_RECOVERY_SECONDS=5: the stack has no settings endpoint');
    expect(result.rollback.needed).toBe(false);
  });

  it('a stack that does not answer: named with the reason; a scenario without settings posts nothing', async () => {
    const scenario = await loadScenario('chaos-detector-down');
    const down = await applyExternalSettings('http://127.0.0.1:9', scenario, () => Promise.reject(new Error('connect ECONNREFUSED')));
    expect(down.notApplied).toContainEqual(expect.stringMatching(/DETECTOR_CB_RECOVERY_SECONDS=5: POST http:\/\/127\.0\.0\.1:9\/admin\/settings failed \(connect ECONNREFUSED\)/));
    const stack = fakeStack(200);
    const none = await applyExternalSettings('http://127.0.0.1:9', { ...scenario, stack: undefined }, stack.post);
    expect(stack.posts).toHaveLength(0);
    expect(none.notApplied).toEqual([]);
    expect(planExternalSettings({ ...scenario, stack: { defects: ['breaker-never-opens'] } }).notApplicable).toEqual(['defect breaker-never-opens: a defect switch is set only when the stack starts']);
  });
});
