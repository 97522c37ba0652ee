import { AbstractStartedContainer, type StartedTestContainer } from 'testcontainers';
import { HSI_ROUTES } from '../../contract/hsi-api.ts';
import { HsiGenericContainer } from './hsi-generic-container.ts';
import { HttpReadyWait } from './http-ready-wait.ts';

export const BACKEND_PORT = 8000;
export const DETECTOR_PORT = 8095;

/** The reference backend (API + pipeline workers), our stand-in for HSI's FastAPI backend. */
export class ReferenceBackendContainer extends HsiGenericContainer {
  constructor(image: string) {
    super(image);
    this.withCommand(['node', '/app/backend.mjs'])
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
    this.withCommand(['node', '/app/detector-emulator.mjs'])
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
    this.withCommand(['node', '/app/llm-emulator.mjs'])
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
