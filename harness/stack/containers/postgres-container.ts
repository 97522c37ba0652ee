import { PostgreSqlContainer, type StartedPostgreSqlContainer } from '@testcontainers/postgresql';
import pg from 'pg';
import { bindPublishedPortsToLoopback } from './container-hardening.ts';
import { PollingWait, type WaitArgs } from './polling-wait.ts';

const POSTGRES_PORT = 5432;

/**
 * Server settings of the stack's PostgreSQL, a disposable test database thrown away with its run:
 * no fsync, COMMIT does not wait for its WAL write, no full-page images. A COMMIT otherwise waited
 * for an fsync through Docker's overlay file system, whose time follows whatever else writes to
 * the host's disk (other stacks, image builds): the noisiest part of the few-ms SQL spans the
 * replay's p95 band judges. Nothing the harness does needs durability across a crash of the
 * server or the host (faults cut connections; they never kill PostgreSQL).
 */
export const DISPOSABLE_POSTGRES_SETTINGS: readonly string[] = ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'];

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
class PgLoginWait extends PollingWait {
  private readonly login: () => Login;
  private lastError = '';

  constructor(login: () => Login) {
    super(120_000);
    this.login = login;
  }

  async waitUntilReady(_container: WaitArgs[0], boundPorts: WaitArgs[1]): Promise<void> {
    const host = await this.runtimeHost();
    const port = boundPorts.getBinding(POSTGRES_PORT);
    await this.pollUntil(this.deadline(), 100, () => this.logsIn(host, port), () => `PostgreSQL did not accept a login within ${this.getStartupTimeout()} ms: ${this.lastError}`);
  }

  /** One TCP login and `SELECT 1`; a failure is kept for the timeout's message. */
  private async logsIn(host: string, port: number): Promise<boolean> {
    const client = new pg.Client({ ...this.login(), host, port, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch (error) {
      this.lastError = (error as Error).message;
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
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
