/**
 * The capacity search's acceptance, nightly (`npm run experiments`): on the emulated stack the
 * knee must land within ±5 % of the capacity the emulators print in /health, for a
 * detector-bound and an LLM-bound configuration, with the bottleneck named; doubling the
 * detector's slots must move the knee ×2 ±10 %, and the prediction printed before that run
 * must be within ±10 % of what it measured. Each search is one stack, at most 5 minutes.
 */
import { describe, expect, it } from 'vitest';
import { defaultCapacitySettings, embeddedCapacityTarget } from '../harness/capacity/capacity-defaults.ts';
import { runCapacity, type CapacityOutcome } from '../harness/capacity/capacity-search.ts';
import { loadStackConfig } from '../harness/config/stack-config.ts';
import { loadScenario } from '../harness/scenario/load-scenario.ts';

const config = loadStackConfig({ projectRoot: new URL('..', import.meta.url).pathname });

async function search(name: string, whatIfs: string[] = []): Promise<CapacityOutcome> {
  const scenario = await loadScenario(name, { fixturesDir: config.fixturesDir });
  return runCapacity({
    scenario,
    config,
    target: embeddedCapacityTarget(scenario, whatIfs),
    settings: defaultCapacitySettings(scenario, whatIfs),
    log: (line) => process.stdout.write(`[${name}${whatIfs.length ? ` ${whatIfs.join(' ')}` : ''}] ${line}\n`),
  });
}

const within = (measured: number, expected: number) => Math.abs(measured / expected - 1);

describe('nightly: capacity search on the emulated stack', () => {
  let detectorKnee = 0;

  it('detector-bound: knee within ±5 % of the detector analytic capacity, bottleneck detector, ≤ 5 min', async () => {
    const { result } = await search('capacity-detector');
    const analytic = result.analytic.detectorRps!;
    expect(result.knee.uploadsPerSec, JSON.stringify(result.knee)).not.toBeNull();
    detectorKnee = result.knee.uploadsPerSec!;
    expect(within(detectorKnee, analytic), `knee ${detectorKnee} vs analytic ${analytic}`).toBeLessThanOrEqual(0.05);
    expect(result.knee.bottleneck).toBe('detector');
    expect(result.wallSeconds).toBeLessThanOrEqual(300);
  });

  it('LLM-bound: knee within ±5 % of the LLM analytic capacity (one call per upload), bottleneck llm', async () => {
    const { result } = await search('capacity-llm');
    const analytic = result.analytic.llmRps!;
    expect(result.knee.uploadsPerSec, JSON.stringify(result.knee)).not.toBeNull();
    expect(within(result.knee.uploadsPerSec!, analytic), `knee ${result.knee.uploadsPerSec} vs analytic ${analytic}`).toBeLessThanOrEqual(0.05);
    expect(result.knee.bottleneck).toBe('llm');
    expect(result.wallSeconds).toBeLessThanOrEqual(300);
  });

  it('what-if detector.slots=2: the knee moves ×2 ±10 % and the pre-run prediction is within ±10 %', async () => {
    const { result } = await search('capacity-detector', ['detector.slots=2']);
    const knee = result.knee.uploadsPerSec!;
    expect(detectorKnee, 'the detector-bound search ran first').toBeGreaterThan(0);
    expect(within(knee / detectorKnee, 2), `knee ${knee} vs ${detectorKnee}`).toBeLessThanOrEqual(0.1);
    expect(within(knee, result.prediction.before!.uploadsPerSec), `knee ${knee} vs predicted ${result.prediction.before!.uploadsPerSec}`).toBeLessThanOrEqual(0.1);
  });
});
