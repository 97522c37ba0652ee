import { PostgreSqlContainer, type StartedPostgreSqlContainer } from '@testcontainers/postgresql';
import { bindPublishedPortsToLoopback } from './container-hardening.ts';

/** PostgreSQL (official image or hsi-chaos's Debian build) with loopback-only ports. */
export class HsiPostgresContainer extends PostgreSqlContainer {
  protected override async beforeContainerCreated(): Promise<void> {
    bindPublishedPortsToLoopback(this.hostConfig);
  }
}
export type { StartedPostgreSqlContainer };
