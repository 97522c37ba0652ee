import type { Scenario } from '../scenario/scenario-types.ts';
import { type RunLoadOptions, runLoad } from './driver.ts';
import { runK6 } from './k6/k6-runner.ts';
import type { LoadResult } from './load-result.ts';

export type LoadDriver = 'native' | 'k6';

/** One entry point for both drivers: same scenario, same LoadResult. */
export function runLoadWithDriver(driver: LoadDriver, scenario: Scenario, options: RunLoadOptions & { k6Command?: string }): Promise<LoadResult> {
  if (driver === 'native') return runLoad(scenario, options);
  return runK6(scenario, {
    backendUrl: options.backendUrl,
    ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
    ...(options.fixturesDir ? { fixturesDir: options.fixturesDir } : {}),
    ...(options.results ? { results: options.results } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.k6Command ? { k6Command: options.k6Command } : {}),
  });
}
