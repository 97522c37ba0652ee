import { describe, expect, it } from 'vitest';
import { RealAiConfigSchema } from '../../../harness/config/real-ai-config.ts';
import { StackConfigSchema } from '../../../harness/config/stack-config.ts';
import { EngineHealthWait } from '../../../harness/stack/containers/engine-health-wait.ts';
import { LlamaServerContainer, OnnxDetectorContainer } from '../../../harness/stack/containers/real-ai-containers.ts';
import { llamaServerImage, REAL_AI_IMAGES, stackImages } from '../../../harness/stack/images/image-refs.ts';

/** What testcontainers will send to Docker (its builder keeps it in these two objects). */
interface Inspectable {
  createOpts: { Cmd?: string[]; Env?: string[] };
  hostConfig: { Binds?: string[]; Memory?: number };
}
const inspect = (c: object) => c as unknown as Inspectable;

describe('real engine containers', () => {
  it('starts llama-server with the configured slots, batching and context; -ngl and the mount on a GPU host', () => {
    const cfg = RealAiConfigSchema.parse({ llmParallel: 4, llmCtxSize: 32768, modelDir: '/srv/models', llmModelFile: 'n.gguf', memoryLimitMb: 2048 });
    const gpu = inspect(new LlamaServerContainer('team/llama.cpp:server-cuda', cfg, { modelDir: cfg.modelDir, modelFile: cfg.llmModelFile }, true));
    expect(gpu.createOpts.Cmd).toEqual(['-m', '/models/n.gguf', '--host', '0.0.0.0', '--port', '8091', '--parallel', '4', '--cont-batching', '-c', '32768', '-t', '1', '-ngl', '999']);
    expect(gpu.hostConfig.Binds).toEqual(['/srv/models:/models:ro']);
    expect(gpu.hostConfig.Memory).toBe(2048 * 1024 * 1024);
    const cpu = inspect(new LlamaServerContainer('x', RealAiConfigSchema.parse({}), { modelDir: undefined, modelFile: undefined }, false));
    expect(cpu.createOpts.Cmd).toEqual(['-m', '/models/model.gguf', '--host', '0.0.0.0', '--port', '8091', '--parallel', '2', '--cont-batching', '-c', '8192', '-t', '1']);
    expect(cpu.hostConfig.Binds).toBeUndefined();
  });

  it('points the detector at a mounted model and sets its concurrency', () => {
    const cfg = RealAiConfigSchema.parse({ modelDir: '/srv/models', detectorModelFile: 'yolo11n.onnx', detectorConcurrency: 2 });
    const d = inspect(new OnnxDetectorContainer('x', cfg, { modelDir: cfg.modelDir, modelFile: cfg.detectorModelFile }));
    expect(d.createOpts.Env).toEqual(expect.arrayContaining(['DETECTOR_MODEL_PATH=/models/yolo11n.onnx', 'DETECTOR_CONCURRENCY=2', 'DETECTOR_THREADS=1']));
  });

  it('waits for each engine with its own health wait (an exit ends it), as long as realAi.healthTimeoutSeconds', () => {
    const cfg = RealAiConfigSchema.parse({ healthTimeoutSeconds: 45 });
    const none = { modelDir: undefined, modelFile: undefined };
    // testcontainers hands the container's startup timeout to its wait strategy at start.
    const engines = [new LlamaServerContainer('x', cfg, none, false), new OnnxDetectorContainer('x', cfg, none)].map((c) => c as unknown as { waitStrategy: unknown; startupTimeoutMs: number });
    for (const engine of engines) {
      expect(engine.waitStrategy).toBeInstanceOf(EngineHealthWait);
      expect(engine.startupTimeoutMs).toBe(45_000);
    }
  });

  it('takes a per-service engine image over the local build and the registry default', () => {
    const local = StackConfigSchema.parse({ realAi: { llmPreset: 'small' } });
    expect(stackImages(local)).toMatchObject({ llmReal: llamaServerImage('small'), detectorReal: REAL_AI_IMAGES.detectorReal });
    const cold = StackConfigSchema.parse({ localImagePrefix: 'cold', realAi: { llmPreset: 'tiny' } });
    expect(stackImages(cold)).toMatchObject({ llmReal: 'cold/llama-server:0.7.0-tiny', detectorReal: expect.stringMatching(/^cold\/detector-onnx:dev-/) });
    const gpuHost = StackConfigSchema.parse({ realAi: { llmImage: 'team/llama.cpp:server-cuda' } });
    expect(stackImages(gpuHost).llmReal).toBe('team/llama.cpp:server-cuda');
    const registry = StackConfigSchema.parse({ imageMode: 'registry', registryImages: { toxiproxy: 'team/toxiproxy:2.12.0', referenceStack: 'team/hsi-ref:1', llmReal: 'team/llama.cpp:server-cuda' } });
    expect(stackImages(registry, { detector: 'emulated', llm: 'real' }).llmReal).toBe('team/llama.cpp:server-cuda');
  });

  it('registry mode names the image field it lacks, and asks for an engine image only when that engine is real', () => {
    expect(() => stackImages(StackConfigSchema.parse({ imageMode: 'registry' }))).toThrowError(/^registryImages\.toxiproxy: registry mode has no default/);
    const base = { imageMode: 'registry', registryImages: { toxiproxy: 'team/toxiproxy:2.12.0', referenceStack: 'team/hsi-ref:1' } };
    expect(stackImages(StackConfigSchema.parse(base)).referenceStack).toBe('team/hsi-ref:1');
    expect(() => stackImages(StackConfigSchema.parse(base), { detector: 'real', llm: 'emulated' })).toThrowError(/^realAi\.detectorImage \(or registryImages\.detectorReal\)/);
  });
});
