import { GenericContainer } from 'testcontainers';
import { bindPublishedPortsToLoopback, requestAllGpus } from './container-hardening.ts';

/** GenericContainer with loopback-only published ports and optional GPUs. */
export class HsiGenericContainer extends GenericContainer {
  private gpus = false;

  /** Ask Docker for every GPU (nvidia runtime); the stack decides whether the host has one. */
  withGpus(enabled: boolean): this {
    this.gpus = enabled;
    return this;
  }

  protected override async beforeContainerCreated(): Promise<void> {
    bindPublishedPortsToLoopback(this.hostConfig);
    if (this.gpus) requestAllGpus(this.hostConfig);
  }
}
