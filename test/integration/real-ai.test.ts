import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareImages } from '../../harness/stack/images/prepare-images.ts';
import { dockerResourcesOfRun, PROJECT_ROOT, runCli, testConfig } from './stack-helpers.ts';

/**
 * The one real-inference test of CI: the stack with llama.cpp's server and the ONNX Runtime
 * detector instead of the emulators (`stack.ai: real`), a few uploads, and the engines' own
 * figures in the report; then the engines' failure modes give one line, exit 2, nothing left.
 * The real images are built here, not in the global setup, so that only this file pays for them.
 */

const SCENARIO = join(PROJECT_ROOT, 'test', 'integration', 'real-ai-scenario.ts');

function configFile(realAi: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hsi-real-ai-'));
  const file = join(dir, 'hsi-chaos.config.json');
  writeFileSync(file, JSON.stringify({ realAi }));
  return file;
}

describe('real inference engines (ai: real)', () => {
  beforeAll(async () => {
    await prepareImages(testConfig(), { log: (l) => process.stdout.write(`[real-ai] ${l}\n`), ai: { detector: 'real', llm: 'real' } });
  }, 900_000);

  it('runs the pipeline on llama.cpp and ONNX Runtime; the report shows their timings', async () => {
    const res = await runCli(['run', SCENARIO]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(PROJECT_ROOT, 'results', res.runId ?? '?', 'summary.json'), 'utf8')) as {
      stack: { ai?: { detector: string; llm: string } };
      aiEngines?: { llm?: { mode: string; tokensPerSecond: { count: number; p50: number | null }; promptMs: { p50: number | null } }; detector?: { weights: string | null; inferenceMs: { count: number; p50: number | null } } };
    };
    expect(summary.stack.ai).toEqual({ detector: 'real', llm: 'real' });
    expect(summary.aiEngines?.llm?.mode).toBe('real');
    expect(summary.aiEngines?.llm?.tokensPerSecond.count).toBeGreaterThan(0);
    expect(summary.aiEngines?.llm?.tokensPerSecond.p50).toBeGreaterThan(0);
    expect(summary.aiEngines?.llm?.promptMs.p50).toBeGreaterThan(0);
    expect(summary.aiEngines?.detector?.weights).toBe('synthetic');
    expect(summary.aiEngines?.detector?.inferenceMs.count).toBeGreaterThanOrEqual(10);
    expect(res.stdout).toMatch(/ai +detector real, llm real/);
    expect(res.stdout).toMatch(/llm \(real\): [\d.]+ tokens\/s p50, prompt/);
    const html = readFileSync(join(PROJECT_ROOT, 'results', res.runId ?? '?', 'report.html'), 'utf8');
    expect(html).toContain('id="ai-engines"');
    expect(html).toContain('llm-over-time');
    expect(await dockerResourcesOfRun(res.runId ?? '?')).toEqual([]);
  }, 300_000);

  it('a missing model file: one line, exit 2, nothing started', async () => {
    const models = mkdtempSync(join(tmpdir(), 'hsi-models-'));
    const res = await runCli(['run', SCENARIO, '--config', configFile({ modelDir: models, llmModelFile: 'nemotron.gguf' })]);
    expect(res.code).toBe(2);
    expect(res.stderr.trim().split('\n')).toEqual([`hsi-chaos: realAi.llmModelFile: model file ${join(models, 'nemotron.gguf')} does not exist; put the model there or fix realAi.modelDir / realAi.llmModelFile`]);
    expect(await dockerResourcesOfRun(res.runId ?? '?')).toEqual([]);
  }, 120_000);

  it('a model too large for memory: one line, exit 2', async () => {
    const res = await runCli(['run', SCENARIO, '--config', configFile({ memoryLimitMb: 1 })]);
    expect(res.code).toBe(2);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/realAi.memoryLimitMb: the llm model \(preset tiny, [\d.]+ GB\) does not fit in 1 MB/);
    expect(await dockerResourcesOfRun(res.runId ?? '?')).toEqual([]);
  }, 120_000);

  it('an engine that exits during its health wait (a model file it cannot load): one line naming its exit, exit 2, nothing left', async () => {
    const models = mkdtempSync(join(tmpdir(), 'hsi-models-'));
    writeFileSync(join(models, 'broken.gguf'), Buffer.from('GGUF this is not a model'));
    const res = await runCli(['run', SCENARIO, '--config', configFile({ modelDir: models, llmModelFile: 'broken.gguf', healthTimeoutSeconds: 20 })]);
    expect(res.code).toBe(2);
    const lines = res.stderr.trim().split('\n');
    expect(lines, res.stderr).toHaveLength(1);
    // llama-server exits on a model it cannot load: its exit ends the wait (not the 20 s), named with its code and last error line.
    expect(lines[0]).toMatch(/^hsi-chaos: the real LLM \(llama.cpp server\) failed to start: exited with code \d+: \S/);
    expect(await dockerResourcesOfRun(res.runId ?? '?')).toEqual([]);
  }, 180_000);
});
