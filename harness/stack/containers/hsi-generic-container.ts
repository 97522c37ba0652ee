import { GenericContainer } from 'testcontainers';
import { bindPublishedPortsToLoopback, requestAllGpus } from './container-hardening.ts';

/** GenericContainer with loopback-only published ports and optional GPUs. */
export class HsiGenericContainer extends GenericContainer {
  private gpus = false;
  private cpuShares: number | undefined;

  /** Ask Docker for every GPU (nvidia runtime); the stack decides whether the host has one. */
  withGpus(enabled: boolean): this {
    this.gpus = enabled;
    return this;
  }

  /** Relative CPU weight under contention (Docker's default is 1024); no limit when the CPU is free. */
  withCpuShares(shares: number): this {
    this.cpuShares = shares;
    return this;
  }

  protected override async beforeContainerCreated(): Promise<void> {
    bindPublishedPortsToLoopback(this.hostConfig);
    if (this.gpus) requestAllGpus(this.hostConfig);
    if (this.cpuShares !== undefined) this.hostConfig.CpuShares = this.cpuShares;
  }
}
