import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateExpectations, parseExpectations, type ExpectationEvidence } from '../../../assertions/expectations.ts';
import type { AssertionResult } from '../../../assertions/result.ts';
import type { EvaluationRequest, ExperimentEvaluator } from '../../../harness/experiment/evaluator.ts';
import { readLiveSettings, settingsInEffect, type SettingsGet } from '../../../harness/experiment/external-settings.ts';
import { evaluatePhase, type LoadPhaseOutcome } from '../../../harness/experiment/phases.ts';
import { RunResults } from '../../../harness/util/run-results.ts';
import { loadScenario } from '../../../harness/scenario/load-scenario.ts';
import { buildTraceTree } from '../../../harness/traces/span-model.ts';
import { hsiRun, T0 } from '../assertions/helpers.ts';

/**
 * Issue 15, "Resilience behaviour ... checked against the configured settings", on an external
 * stack: the checks are judged against the settings in effect, read back from the stack, and
 * where the stack cannot tell them, not judged at all; never against the scenario's values when
 * those were not applied.
 */

/** The stack's GET /admin/settings: a reference backend whose breaker threshold is its default 5. */
const LIVE = { DETECTOR_CB_FAILURE_THRESHOLD: '5', DETECTOR_CB_RECOVERY_SECONDS: '60', DETECTOR_MAX_RETRIES: '3', NEMOTRON_MAX_RETRIES: '3', BATCH_IDLE_TIMEOUT_SECONDS: '30' };
const answers = (status: number, body: unknown): SettingsGet => async () => ({ status, body });
/** The scenario asks for a breaker threshold of 2 (not applied when the stack has no settings endpoint). */
const SCENARIO = { stack: { backend: { DETECTOR_CB_FAILURE_THRESHOLD: '2', YOLO26_READ_TIMEOUT: '5' } } };

/** Two uploads whose detector call failed, two in a row: a breaker with threshold 2 should have opened, one with 5 not. */
function twoFailures(): ExpectationEvidence {
  const run = hsiRun({ uploads: 4, batchSize: 2, analysis: true });
  const failedIds = new Set([run.uploads[0]!.traceId, run.uploads[1]!.traceId]);
  const traces = run.traces.map((t) => buildTraceTree(t.spans.map((s) => (s.name === 'yolo26_detection_request' && failedIds.has(s.traceId) ? { ...s, status: { code: 'error' as const } } : s)), t.traceId));
  return { traces, uploads: run.uploads, faults: { windows: [], loadStartEpochMs: T0 } };
}

const ERRORS = parseExpectations([{ family: 'errors' }], 'test');
const breaker = (results: readonly AssertionResult[]) => results.find((r) => r.name === 'resilience: detector circuit breaker')!;

describe('the settings the resilience checks are judged against', () => {
  it('embedded: the scenario\'s stack.backend (its environment), contract defaults for the rest', async () => {
    expect(await settingsInEffect('embedded', 'http://127.0.0.1:9', SCENARIO, answers(500, {}))).toEqual({ values: SCENARIO.stack.backend });
  });

  it('external with the endpoint: what the stack reports, named as read back; anything else unknown', async () => {
    const s = await settingsInEffect('external', 'http://127.0.0.1:9', SCENARIO, answers(200, { live: LIVE }));
    expect(s).toEqual({ values: LIVE, origin: 'read back from the stack (GET /admin/settings)', othersUnknown: 'the stack does not report it' });
  });

  it('external without the endpoint: nothing assumed, the scenario\'s values named as not applied', async () => {
    for (const get of [answers(404, { detail: 'Not Found' }), answers(200, { status: 'ok' }), () => Promise.reject(new Error('ECONNREFUSED'))]) {
      expect(await readLiveSettings('http://127.0.0.1:9', get)).toBeUndefined();
      expect(await settingsInEffect('external', 'http://127.0.0.1:9', SCENARIO, get)).toEqual({
        values: {},
        othersUnknown: "the external stack does not report its settings (no GET /admin/settings); the scenario's stack.backend was not applied",
      });
    }
  });

  it('compose without the endpoint: the scenario\'s values (its environment), the compose file\'s others unknown', async () => {
    const s = await settingsInEffect('compose', 'http://127.0.0.1:9', SCENARIO, answers(404, {}));
    expect(s.values).toEqual(SCENARIO.stack.backend);
    expect(s.othersUnknown).toMatch(/^the compose file sets it/);
  });
});

describe('resilience checks against the settings in effect (counter-example: the scenario\'s unapplied values)', () => {
  it('counter-example: judged against the scenario\'s threshold 2, two failures in a row fail the breaker check for a cause the stack never had', () => {
    const r = breaker(evaluateExpectations(ERRORS, { ...twoFailures(), stackSettings: SCENARIO.stack.backend }));
    expect(r.passed).toBe(false);
    expect(r.message).toMatch(/the configured threshold is 2 \(DETECTOR_CB_FAILURE_THRESHOLD=2/);
  });

  it('read back from the stack (threshold 5): two failures are no violation, and the message names where the value came from', () => {
    const r = breaker(evaluateExpectations(ERRORS, { ...twoFailures(), stackSettings: LIVE, settingsKnowledge: { origin: 'read back from the stack (GET /admin/settings)', othersUnknown: 'the stack does not report it' } }));
    expect(r.passed).toBe(true);
    expect(r.judged).toBeUndefined();
    expect(r.bound.text).toContain('DETECTOR_CB_FAILURE_THRESHOLD=5, read back from the stack (GET /admin/settings)');
  });

  it('unknown (a stack that cannot tell): not judged, neither failed nor passed on an assumed value, and says why', () => {
    const why = "the external stack does not report its settings (no GET /admin/settings); the scenario's stack.backend was not applied";
    const results = evaluateExpectations(ERRORS, { ...twoFailures(), stackSettings: {}, settingsKnowledge: { othersUnknown: why } });
    const resilience = results.filter((r) => r.name.startsWith('resilience: '));
    expect(resilience.map((r) => [r.name, r.passed, r.judged])).toEqual([
      ['resilience: detector retries', true, false],
      ['resilience: LLM retries', true, false],
      ['resilience: detector circuit breaker', true, false],
    ]);
    expect(breaker(results).message).toBe(`not judged: detector circuit breaker: DETECTOR_CB_FAILURE_THRESHOLD and DETECTOR_CB_RECOVERY_SECONDS in effect are unknown (${why}); no assumed value is used`);
  });

  it('the evaluation phase hands the evaluator the settings in effect, not the scenario\'s', async () => {
    const seen: EvaluationRequest[] = [];
    const evaluator: ExperimentEvaluator = {
      validate: () => undefined,
      evaluate: async (req) => {
        seen.push(req);
        return { assertions: [], operations: [], exampleTraces: [], serviceMap: [], notes: [] };
      },
    };
    const load = { requests: [], windows: [], window: { startEpochMs: T0, endEpochMs: T0 + 1_000 } } as unknown as LoadPhaseOutcome;
    const base = { evaluator, runId: 'r', results: new RunResults(mkdtempSync(join(tmpdir(), 'hsi-settings-')), 'r'), endpoints: { backendUrl: 'http://127.0.0.1:9', jaegerUrl: 'http://127.0.0.1:9' }, load, log: () => undefined };
    const chaosDetectorDown = await loadScenario('chaos-detector-down');
    const mainJob = await loadScenario('steady-detector-fault');
    const read = await settingsInEffect('external', 'http://127.0.0.1:9', chaosDetectorDown, answers(200, { live: LIVE }));
    await evaluatePhase({ ...base, scenario: chaosDetectorDown, settings: read });
    expect(seen[0]).toMatchObject({ stackSettings: LIVE, settingsKnowledge: { origin: 'read back from the stack (GET /admin/settings)' } });
    // Without settings in effect (the embedded stack), the scenario's environment as before.
    await evaluatePhase({ ...base, scenario: mainJob });
    expect(seen[1]!.stackSettings).toEqual(mainJob.stack?.backend ?? {});
    expect(seen[1]!.settingsKnowledge).toBeUndefined();
  });
});
