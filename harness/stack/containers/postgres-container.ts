import { PostgreSqlContainer, type StartedPostgreSqlContainer } from '@testcontainers/postgresql';
import pg from 'pg';
import { getContainerRuntimeClient, type WaitStrategy } from 'testcontainers';
import { bindPublishedPortsToLoopback } from './container-hardening.ts';

const POSTGRES_PORT = 5432;
type WaitArgs = Parameters<WaitStrategy['waitUntilReady']>;

interface Login {
  user: string;
  password: string;
  database: string;
}

/**
 * Ready when the user can log in to the database over TCP from the host and `SELECT 1`,
 * probed every 100 ms. Every image's initialisation (ours and the official one) runs its
 * temporary server on the unix socket only, so a TCP login succeeds only on the final server.
 * Replaces the module's wait (a Docker health check running pg_isready every 250 ms for the
 * container's whole life, plus `docker exec` port probes every 100 ms while it starts): those
 * execs cost the CPU the starting stack needs.
 */
class PgLoginWait implements WaitStrategy {
  private readonly login: () => Login;
  private startupTimeoutMs = 120_000;
  private startupTimeoutSet = false;

  constructor(login: () => Login) {
    this.login = login;
  }

  async waitUntilReady(_container: WaitArgs[0], boundPorts: WaitArgs[1]): Promise<void> {
    const host = (await getContainerRuntimeClient()).info.containerRuntime.host;
    const deadline = Date.now() + this.startupTimeoutMs;
    let last = '';
    for (;;) {
      const client = new pg.Client({ ...this.login(), host, port: boundPorts.getBinding(POSTGRES_PORT), connectionTimeoutMillis: 5_000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        return;
      } catch (error) {
        last = (error as Error).message;
      } finally {
        await client.end().catch(() => undefined);
      }
      if (Date.now() >= deadline) throw new Error(`PostgreSQL did not accept a login within ${this.startupTimeoutMs} ms: ${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  withStartupTimeout(startupTimeoutMs: number): this {
    this.startupTimeoutMs = startupTimeoutMs;
    this.startupTimeoutSet = true;
    return this;
  }

  isStartupTimeoutSet(): boolean {
    return this.startupTimeoutSet;
  }

  getStartupTimeout(): number {
    return this.startupTimeoutMs;
  }
}

/** PostgreSQL (official image or hsi-chaos's Debian build) with loopback-only ports, ready on a TCP login. */
export class HsiPostgresContainer extends PostgreSqlContainer {
  // The module keeps these private; the login wait needs them (its defaults: test/test/test).
  private readonly login: Login = { user: 'test', password: 'test', database: 'test' };

  constructor(image: string) {
    super(image);
    // No Docker health check (the module's execs pg_isready 4 times a second for the container's
    // life): Docker's Test ["NONE"]; `healthCheck` is set so that the module's start() adds none.
    this.createOpts.Healthcheck = { Test: ['NONE'] };
    this.healthCheck = { test: ['CMD', 'true'] };
    this.withWaitStrategy(new PgLoginWait(() => this.login));
  }

  override withUsername(username: string): this {
    this.login.user = username;
    return super.withUsername(username);
  }

  override withPassword(password: string): this {
    this.login.password = password;
    return super.withPassword(password);
  }

  override withDatabase(database: string): this {
    this.login.database = database;
    return super.withDatabase(database);
  }

  protected override async beforeContainerCreated(): Promise<void> {
    bindPublishedPortsToLoopback(this.hostConfig);
  }
}
export type { StartedPostgreSqlContainer };
