import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LLM_PRESETS, presetBytes, presetParameters, RealAiConfigSchema, resolveAiModes } from '../../../harness/config/real-ai-config.ts';
import { ConfigError } from '../../../harness/errors.ts';
import { debianMirror, parseDeb822Sources, parseOneLineSources, pickDebianMirror } from '../../../harness/stack/images/apt-mirror.ts';
import { checkModelsFit, modelPlans } from '../../../harness/stack/real-ai/engine-checks.ts';

describe('the AI switch', () => {
  it('is emulated unless the scenario or the CLI says real; the CLI wins', () => {
    expect(resolveAiModes(undefined, undefined)).toEqual({ detector: 'emulated', llm: 'emulated' });
    expect(resolveAiModes('real', undefined)).toEqual({ detector: 'real', llm: 'real' });
    expect(resolveAiModes({ llm: 'real' }, undefined)).toEqual({ detector: 'emulated', llm: 'real' });
    expect(resolveAiModes({ llm: 'real' }, 'emulated')).toEqual({ detector: 'emulated', llm: 'emulated' });
    expect(resolveAiModes(undefined, 'real')).toEqual({ detector: 'real', llm: 'real' });
  });
});

describe('GGUF presets', () => {
  it('counts the parameters of a llama model (Llama-3.1-8B dimensions: about 8.0 billion)', () => {
    expect(presetParameters('nemotron-nano-8b') / 1e9).toBeCloseTo(8.03, 1);
    expect(presetBytes('nemotron-nano-8b')).toBe(presetParameters('nemotron-nano-8b') * 2);
    expect(presetBytes('tiny')).toBeLessThan(5e6);
    for (const p of Object.values(LLM_PRESETS)) expect(p.dim % p.heads).toBe(0);
  });
});

describe('model checks before start', () => {
  const cfg = (extra: Record<string, unknown> = {}) => RealAiConfigSchema.parse(extra);

  it('names a missing model file and a missing model folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsi-models-'));
    expect(() => modelPlans(cfg({ modelDir: dir, llmModelFile: 'nemotron.gguf' }), { detector: 'emulated', llm: 'real' })).toThrow(
      new ConfigError(`realAi.llmModelFile: model file ${join(dir, 'nemotron.gguf')} does not exist; put the model there or fix realAi.modelDir / realAi.llmModelFile`),
    );
    expect(() => modelPlans(cfg({ modelDir: join(dir, 'nope') }), { detector: 'real', llm: 'emulated' })).toThrow(/realAi.modelDir: folder .* does not exist/);
    writeFileSync(join(dir, 'nemotron.gguf'), Buffer.alloc(2048));
    expect(modelPlans(cfg({ modelDir: dir, llmModelFile: 'nemotron.gguf' }), { detector: 'emulated', llm: 'real' })).toEqual([{ service: 'llm', hostFile: join(dir, 'nemotron.gguf'), bytes: 2048 }]);
  });

  it('refuses a model larger than the memory limit or (on CPU) than the machine', () => {
    const c = cfg({ llmPreset: 'nemotron-nano-8b' });
    const plans = modelPlans(c, { detector: 'emulated', llm: 'real' });
    expect(() => checkModelsFit(plans, c, false, 8 * 1024 ** 3)).toThrow(/the llm model \(preset nemotron-nano-8b, 14.96 GB\) is larger than this machine's memory \(8.0 GB\)/);
    expect(() => checkModelsFit(plans, c, true, 8 * 1024 ** 3)).not.toThrow();
    const limited = cfg({ memoryLimitMb: 1 });
    expect(() => checkModelsFit(modelPlans(limited, { detector: 'real', llm: 'real' }), limited, false)).toThrow(/realAi.memoryLimitMb: the llm model \(preset tiny, .*\) does not fit in 1 MB/);
    expect(() => checkModelsFit(modelPlans(cfg(), { detector: 'real', llm: 'real' }), cfg(), false)).not.toThrow();
  });
});

describe('apt mirror', () => {
  it('reads deb822 and one-line sources, skipping security and updates suites', () => {
    const deb822 = parseDeb822Sources(
      'Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\nTypes: deb deb-src\n# comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n',
    );
    expect(pickDebianMirror(deb822)).toBe('http://mirror.example/debian');
    expect(pickDebianMirror(parseOneLineSources('# x\ndeb [arch=amd64] http://one.example/debian bookworm main\ndeb-src http://src.example/debian bookworm main\n'))).toBe('http://one.example/debian');
    expect(pickDebianMirror(parseDeb822Sources('Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\nEnabled: no\n'))).toBeUndefined();
  });

  it('prefers HSI_CHAOS_DEBIAN_MIRROR and says what to do when apt has none', () => {
    expect(debianMirror({ HSI_CHAOS_DEBIAN_MIRROR: 'http://env.example/debian' })).toBe('http://env.example/debian');
    expect(() => debianMirror({}, mkdtempSync(join(tmpdir(), 'apt-')))).toThrow(/set HSI_CHAOS_DEBIAN_MIRROR/);
  });
});

describe('an engine that never becomes healthy', () => {
  it("says so in one line naming the wait and its setting (testcontainers' HTTP wait timing out), exit 2", async () => {
    const { startEngine, isHealthTimeout } = await import('../../../harness/stack/real-ai/engine-checks.ts');
    const { HarnessError } = await import('../../../harness/errors.ts');
    const timeout = new Error('URL /health not accessible after 20000ms');
    expect(isHealthTimeout(timeout)).toBe(true);
    expect(isHealthTimeout(new Error('Container exited during HTTP healthCheck, last 50 logs: error: failed to load model'))).toBe(false);
    const runId = `no-such-run-${process.pid}`;
    const failed = await startEngine('the real LLM (llama.cpp server)', runId, 'llm-engine', 20, () => Promise.reject(timeout)).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(HarnessError);
    expect((failed as InstanceType<typeof HarnessError>).exitCode).toBe(2);
    expect((failed as Error).message).toBe('the real LLM (llama.cpp server) did not become healthy within 20 s (realAi.healthTimeoutSeconds): no container output');
    const exited = await startEngine('the real detector (ONNX Runtime)', runId, 'detector', 20, () => Promise.reject(new Error('Container exited during HTTP healthCheck'))).catch((e: unknown) => e);
    expect((exited as Error).message).toMatch(/^the real detector \(ONNX Runtime\) failed to start: /);
    expect((exited as Error).message).not.toContain('\n');
  });

  it("an engine that exited is named as a failed start even when testcontainers' port lookup timed out first", async () => {
    const { engineFailureHead } = await import('../../../harness/stack/real-ai/engine-checks.ts');
    const ports = new Error('Timed out after 10000ms while waiting for container ports to be bound to the host');
    expect(engineFailureHead(ports, 'exited with code 1: llama_server: exiting due to model loading error', 20)).toBe('failed to start');
    // the same error with the engine still running is the wait running out
    expect(engineFailureHead(ports, 'still running: loading model', 20)).toBe('did not become healthy within 20 s (realAi.healthTimeoutSeconds)');
  });

  it("names the engine's own wait's end with the last words it read before testcontainers removed the container", async () => {
    const { startEngine } = await import('../../../harness/stack/real-ai/engine-checks.ts');
    const { EngineWaitError } = await import('../../../harness/stack/containers/engine-health-wait.ts');
    const runId = `no-such-run-${process.pid}`;
    const end = (e: InstanceType<typeof EngineWaitError>) => startEngine('the real LLM (llama.cpp server)', runId, 'llm-engine', 20, () => Promise.reject(e)).catch((x: unknown) => (x as Error).message);
    expect(await end(new EngineWaitError('exited', 'exited with code 1: error: failed to load model', 'probe'))).toBe('the real LLM (llama.cpp server) failed to start: exited with code 1: error: failed to load model');
    expect(await end(new EngineWaitError('timeout', 'still running: loading model', 'probe'))).toBe(
      'the real LLM (llama.cpp server) did not become healthy within 20 s (realAi.healthTimeoutSeconds): still running: loading model',
    );
  });

  it('a missing detector model file is named like the LLM one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsi-models-'));
    expect(() => modelPlans(RealAiConfigSchema.parse({ modelDir: dir, detectorModelFile: 'yolo26.onnx' }), { detector: 'real', llm: 'emulated' })).toThrow(
      new ConfigError(`realAi.detectorModelFile: model file ${join(dir, 'yolo26.onnx')} does not exist; put the model there or fix realAi.modelDir / realAi.detectorModelFile`),
    );
  });
});
