import { AbstractStartedContainer, Wait, type StartedTestContainer } from 'testcontainers';
import type { RealAiConfig } from '../../config/real-ai-config.ts';
import { EngineHealthWait } from './engine-health-wait.ts';
import { HsiGenericContainer } from './hsi-generic-container.ts';
import { DETECTOR_PORT, LLM_PORT } from './reference-stack-containers.ts';

/**
 * The real inference engines on the contract's ports: llama.cpp's `llama-server` (Debian's
 * build locally, llama.cpp's CUDA image on a GPU host) and the ONNX Runtime detector. Health
 * waits are as long as model loading needs (`realAi.healthTimeoutSeconds`); an engine that
 * exits meanwhile ends its wait at once (EngineHealthWait).
 */

export const MODEL_DIR_IN_CONTAINER = '/models';
/** The GGUF baked into the local llama.cpp image. */
export const BAKED_GGUF = `${MODEL_DIR_IN_CONTAINER}/model.gguf`;

export interface EngineMount {
  /** Host folder with the model files (read-only at /models), or undefined for the image's own model. */
  modelDir: string | undefined;
  /** Model file name inside modelDir. */
  modelFile: string | undefined;
}

function withMemoryLimit(container: HsiGenericContainer, memoryLimitMb: number): void {
  if (memoryLimitMb > 0) container.withResourcesQuota({ memory: memoryLimitMb / 1024 });
}

/** llama-server with --parallel slots, continuous batching and the context size from config. */
export class LlamaServerContainer extends HsiGenericContainer {
  constructor(image: string, cfg: RealAiConfig, mount: EngineMount, gpus: boolean) {
    super(image);
    const model = mount.modelDir !== undefined && mount.modelFile !== undefined ? `${MODEL_DIR_IN_CONTAINER}/${mount.modelFile}` : BAKED_GGUF;
    const args = ['-m', model, '--host', '0.0.0.0', '--port', String(LLM_PORT), '--parallel', String(cfg.llmParallel), '--cont-batching', '-c', String(cfg.llmCtxSize), '-t', String(cfg.llmThreads)];
    if (gpus) args.push('-ngl', String(cfg.llmGpuLayers));
    this.withCommand(args)
      .withExposedPorts(LLM_PORT)
      .withWaitStrategy(new EngineHealthWait('/health', LLM_PORT))
      .withStartupTimeout(cfg.healthTimeoutSeconds * 1000);
    // Mounted only for a named model file: the mount hides the image's own /models.
    if (mount.modelDir !== undefined && mount.modelFile !== undefined) this.withBindMounts([{ source: mount.modelDir, target: MODEL_DIR_IN_CONTAINER, mode: 'ro' }]);
    withMemoryLimit(this, cfg.memoryLimitMb);
  }
  override async start(): Promise<StartedRealAiContainer> {
    return new StartedRealAiContainer(await super.start(), LLM_PORT);
  }
}

/** The ONNX Runtime detector (reference-stack/detector-onnx). */
export class OnnxDetectorContainer extends HsiGenericContainer {
  constructor(image: string, cfg: RealAiConfig, mount: EngineMount) {
    super(image);
    const env: Record<string, string> = { DETECTOR_CONCURRENCY: String(cfg.detectorConcurrency), DETECTOR_THREADS: String(cfg.detectorThreads) };
    if (mount.modelDir !== undefined && mount.modelFile !== undefined) env['DETECTOR_MODEL_PATH'] = `${MODEL_DIR_IN_CONTAINER}/${mount.modelFile}`;
    this.withEnvironment(env)
      .withExposedPorts(DETECTOR_PORT)
      .withWaitStrategy(new EngineHealthWait('/health', DETECTOR_PORT))
      .withStartupTimeout(cfg.healthTimeoutSeconds * 1000);
    if (mount.modelDir !== undefined && mount.modelFile !== undefined) this.withBindMounts([{ source: mount.modelDir, target: MODEL_DIR_IN_CONTAINER, mode: 'ro' }]);
    withMemoryLimit(this, cfg.memoryLimitMb);
  }
  override async start(): Promise<StartedRealAiContainer> {
    return new StartedRealAiContainer(await super.start(), DETECTOR_PORT);
  }
}

export class StartedRealAiContainer extends AbstractStartedContainer {
  private readonly port: number;
  constructor(started: StartedTestContainer, port: number) {
    super(started);
    this.port = port;
  }
  getUrl(): string {
    return new URL(`http://${this.getHost()}:${this.getMappedPort(this.port)}`).href.replace(/\/$/, '');
  }
}

/** Where the llama.cpp server answers inside the network when its tracing proxy holds the LLM alias. */
export const LLM_ENGINE_ALIAS = 'ai-llm-engine';

/**
 * The tracing proxy (reference-stack/llm-proxy) in front of llama.cpp's server: it holds the LLM
 * slot's alias and port and gives the slot the emulator's spans; it is healthy when the engine is.
 */
export class LlmProxyContainer extends HsiGenericContainer {
  constructor(image: string, healthTimeoutSeconds: number) {
    super(image);
    this.withCommand(['node', '/app/llm-proxy.mjs'])
      .withEnvironment({ LLM_UPSTREAM_URL: `http://${LLM_ENGINE_ALIAS}:${LLM_PORT}`, PORT: String(LLM_PORT) })
      .withExposedPorts(LLM_PORT)
      .withWaitStrategy(Wait.forHttp('/health', LLM_PORT).forStatusCode(200))
      .withStartupTimeout(healthTimeoutSeconds * 1000);
  }
  override async start(): Promise<StartedRealAiContainer> {
    return new StartedRealAiContainer(await super.start(), LLM_PORT);
  }
}
