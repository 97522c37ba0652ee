import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LoadResult } from '../../harness/load/load-result.ts';
import { dockerResourcesOfRun, PROJECT_ROOT, runCli } from './stack-helpers.ts';

/** The mixed scenario on the reference stack (~60 s): cameras + dashboard users + /ws/events subscribers. */
describe('hsi-chaos run mixed', () => {
  it('runs uploads, API request kinds and WebSocket subscribers side by side with every threshold evaluated', async () => {
    const res = await runCli(['run', 'mixed']);
    expect(res.code, res.stderr + res.stdout).toBe(0);
    expect(res.runId).toBeDefined();
    const load = JSON.parse(readFileSync(join(PROJECT_ROOT, 'results', res.runId!, 'load-result.json'), 'utf8')) as LoadResult;
    // every threshold of the scenario has a verdict with an observed value
    expect(load.thresholds).toHaveLength(12);
    expect(load.thresholds.filter((t) => t.value === undefined)).toEqual([]);
    expect(load.thresholds.every((t) => t.ok)).toBe(true);
    expect(load.scenarios['cameras']?.http_reqs.count).toBeGreaterThan(100);
    expect(load.scenarios['dashboard']?.http_reqs.count).toBeGreaterThan(20);
    const counter = (name: string) => (load.metrics[name]?.type === 'counter' ? load.metrics[name].values.count : -1);
    expect(counter('ws_sessions')).toBeGreaterThanOrEqual(3);
    expect(counter('ws_msgs_received')).toBeGreaterThan(0);
    expect(load.metrics['checks{check:status is 200}']).toMatchObject({ type: 'rate', values: { fails: 0 } });
    expect(await dockerResourcesOfRun(res.runId!)).toEqual([]);
  });
});
