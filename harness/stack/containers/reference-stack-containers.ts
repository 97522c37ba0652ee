import { AbstractStartedContainer, type StartedTestContainer } from 'testcontainers';
import { HSI_ROUTES } from '../../contract/hsi-api.ts';
import { HsiGenericContainer } from './hsi-generic-container.ts';
import { HttpReadyWait } from './http-ready-wait.ts';

export const BACKEND_PORT = 8000;

/**
 * V8 heap flags of the reference services' Node processes (reference-stack/README.md, "Timing").
 * Every run starts them fresh and lasts tens of seconds: with V8's defaults the young generation
 * grows from 1 MB and the old generation's first limits are low, so the backend's first 20 s held
 * two full collections whose incremental marking stalled its event loop 25–33 ms each (steps of
 * up to 16 ms), then 2–9 ms scavenges every ~4 s, at moments that differ from run to run: every
 * span in flight then took that much longer. With 64 MB semi-spaces and a 128 MB initial old
 * space the backend ran a whole chaos scenario without one collection (`--trace-gc`), for
 * ~130 MB more memory per process.
 */
export const REFERENCE_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=64', '--max-semi-space-size=64', '--initial-old-space-size=128'];

export const DETECTOR_PORT = 8095;

/** The reference backend (API + pipeline workers), our stand-in for HSI's FastAPI backend. */
export class ReferenceBackendContainer extends HsiGenericContainer {
  constructor(image: string) {
    super(image);
    this.withCommand(['node', ...REFERENCE_NODE_FLAGS, '/app/backend.mjs'])
      .withExposedPorts(BACKEND_PORT)
      .withWaitStrategy(HttpReadyWait.forHttp(HSI_ROUTES.healthReady, BACKEND_PORT))
      .withStartupTimeout(90_000);
  }
  override async start(): Promise<StartedBackendContainer> {
    return new StartedBackendContainer(await super.start());
  }
}

export class StartedBackendContainer extends AbstractStartedContainer {
  constructor(started: StartedTestContainer) {
    super(started);
  }
  getUrl(): string {
    return `http://${this.getHost()}:${this.getMappedPort(BACKEND_PORT)}`;
  }
}

/** The YOLO26 detector emulator: CPU stand-in for the GPU service, named as emulation. */
export class DetectorEmulatorContainer extends HsiGenericContainer {
  constructor(image: string) {
    super(image);
    this.withCommand(['node', ...REFERENCE_NODE_FLAGS, '/app/detector-emulator.mjs'])
      .withExposedPorts(DETECTOR_PORT)
      .withWaitStrategy(HttpReadyWait.forHttp('/health', DETECTOR_PORT))
      .withStartupTimeout(60_000);
  }
  override async start(): Promise<StartedDetectorContainer> {
    return new StartedDetectorContainer(await super.start());
  }
}

export class StartedDetectorContainer extends AbstractStartedContainer {
  constructor(started: StartedTestContainer) {
    super(started);
  }
  getUrl(): string {
    return `http://${this.getHost()}:${this.getMappedPort(DETECTOR_PORT)}`;
  }
}

export const LLM_PORT = 8091;

/** The Nemotron/llama.cpp emulator: CPU stand-in for the GPU LLM, named as emulation. */
export class LlmEmulatorContainer extends HsiGenericContainer {
  constructor(image: string) {
    super(image);
    this.withCommand(['node', ...REFERENCE_NODE_FLAGS, '/app/llm-emulator.mjs'])
      .withExposedPorts(LLM_PORT)
      .withWaitStrategy(HttpReadyWait.forHttp('/health', LLM_PORT))
      .withStartupTimeout(60_000);
  }
  override async start(): Promise<StartedLlmContainer> {
    return new StartedLlmContainer(await super.start());
  }
}

export class StartedLlmContainer extends AbstractStartedContainer {
  constructor(started: StartedTestContainer) {
    super(started);
  }
  getUrl(): string {
    return `http://${this.getHost()}:${this.getMappedPort(LLM_PORT)}`;
  }
}
