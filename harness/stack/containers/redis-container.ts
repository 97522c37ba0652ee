import { RedisContainer, type StartedRedisContainer } from '@testcontainers/redis';
import { bindPublishedPortsToLoopback } from './container-hardening.ts';

/** Redis with loopback-only ports. */
export class HsiRedisContainer extends RedisContainer {
  protected override async beforeContainerCreated(): Promise<void> {
    bindPublishedPortsToLoopback(this.hostConfig);
  }
}
export type { StartedRedisContainer };
