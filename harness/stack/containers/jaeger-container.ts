import { AbstractStartedContainer, type StartedTestContainer } from 'testcontainers';
import { HsiGenericContainer } from './hsi-generic-container.ts';
import { HttpReadyWait } from './http-ready-wait.ts';

export const JAEGER_QUERY_PORT = 16686;
export const JAEGER_OTLP_GRPC_PORT = 4317;
export const JAEGER_OTLP_HTTP_PORT = 4318;
/** The image's configuration file (local build and official image) plus keep-alive on the query port. */
export const JAEGER_COMMAND: readonly string[] = ['--config', '/etc/jaeger/config.yaml', '--set=extensions.jaeger_query.http.keep_alives_enabled=true'];

/**
 * Jaeger v2 all-in-one: in-memory storage, OTLP gRPC/HTTP in, api/v3 query out.
 * The image must listen on 0.0.0.0 (JAEGER_LISTEN_HOST), which both our local
 * build and the official image do.
 *
 * HTTP keep-alive on the query port: Jaeger's query extension builds its HTTP server config
 * without the collector's default `keep_alives_enabled: true` (jaeger v1.76.0,
 * cmd/query/app/flags.go), so out of the box it answers every request with `Connection: close`
 * and each trace read pays a TCP connect and close. The flag is set on the command line (the
 * collector's `--set`), so the image and its configuration file stay as built.
 */
export class JaegerContainer extends HsiGenericContainer {
  constructor(image: string) {
    super(image);
    this.withExposedPorts(JAEGER_QUERY_PORT, JAEGER_OTLP_GRPC_PORT, JAEGER_OTLP_HTTP_PORT)
      .withEnvironment({ JAEGER_LISTEN_HOST: '0.0.0.0' })
      .withCommand([...JAEGER_COMMAND])
      .withWaitStrategy(
        new HttpReadyWait([
          { path: '/api/v3/services', port: JAEGER_QUERY_PORT },
          // The OTLP receiver starts its gRPC listener before its HTTP one: an answer on 4318 means 4317 listens too.
          { path: '/v1/traces', port: JAEGER_OTLP_HTTP_PORT, status: 'any' },
        ]),
      )
      .withStartupTimeout(60_000);
  }

  override async start(): Promise<StartedJaegerContainer> {
    return new StartedJaegerContainer(await super.start());
  }
}

export class StartedJaegerContainer extends AbstractStartedContainer {
  constructor(started: StartedTestContainer) {
    super(started);
  }
  /** Query API and UI on the host, e.g. http://127.0.0.1:32768 */
  getQueryUrl(): string {
    return `http://${this.getHost()}:${this.getMappedPort(JAEGER_QUERY_PORT)}`;
  }
  /** OTLP/HTTP endpoint on the host (for spans sent by the harness itself). */
  getOtlpHttpUrl(): string {
    return `http://${this.getHost()}:${this.getMappedPort(JAEGER_OTLP_HTTP_PORT)}`;
  }
  getOtlpGrpcUrl(): string {
    return `http://${this.getHost()}:${this.getMappedPort(JAEGER_OTLP_GRPC_PORT)}`;
  }
}
