import { AbstractStartedContainer, type StartedTestContainer } from 'testcontainers';
import { Toxiproxy } from 'toxiproxy-node-client';
import { HsiGenericContainer } from './hsi-generic-container.ts';
import { HttpReadyWait } from './http-ready-wait.ts';

export const TOXIPROXY_API_PORT = 8474;

/** A proxy inside the stack's network: clients dial `<alias>:<listenPort>`. */
export interface ProxySpec {
  name: string;
  listenPort: number;
  upstream: string;
}

/**
 * Toxiproxy. Every connection of the backend to an AI service, PostgreSQL or Redis
 * goes through one of its proxies, so the chaos timeline can break any of them.
 * Listen ports sit at 8666+ (outside the ephemeral range, as Toxiproxy advises).
 */
export class ToxiproxyContainer extends HsiGenericContainer {
  constructor(image: string) {
    super(image);
    // Toxiproxy does little work but sits on every path and is the fault timeline's clock: on a
    // 2-core host with the whole stack busy it must not wait for the CPU, or fault timing (and
    // the proxy's own added latency) measures the scheduler. 4x the default weight.
    this.withExposedPorts(TOXIPROXY_API_PORT)
      .withWaitStrategy(HttpReadyWait.forHttp('/version', TOXIPROXY_API_PORT))
      .withStartupTimeout(30_000)
      .withCpuShares(4096);
  }

  override async start(): Promise<StartedToxiproxyContainer> {
    return new StartedToxiproxyContainer(await super.start());
  }
}

export class StartedToxiproxyContainer extends AbstractStartedContainer {
  readonly client: Toxiproxy;
  constructor(started: StartedTestContainer) {
    super(started);
    this.client = new Toxiproxy(this.getApiUrl());
  }
  getApiUrl(): string {
    return `http://${this.getHost()}:${this.getMappedPort(TOXIPROXY_API_PORT)}`;
  }
  async createProxies(specs: readonly ProxySpec[]): Promise<void> {
    for (const spec of specs) {
      await this.client.createProxy({ name: spec.name, listen: `0.0.0.0:${spec.listenPort}`, upstream: spec.upstream });
    }
  }
}
