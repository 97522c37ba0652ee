import { createTracedServer } from '../common/http.ts';
import { createLogger } from '../common/log.ts';
import { retryUntil, sleep } from '../common/timing.ts';
import { initTracing } from '../telemetry/tracing.ts';
import { createRoutes, type ApiState } from './api.ts';
import { createDatabase, migrate } from './db.ts';
import { DetectionWorker } from './detection-worker.ts';
import { DetectorClient } from './detector-client.ts';
import { createRedisConnections, pingRedis, whenReady } from './queue.ts';
import { loadSettings, SettingsError, type BackendSettings } from './settings.ts';

/**
 * The reference backend: our stand-in for HSI's FastAPI backend (API + detection worker in one
 * process). Start-up: listen at once (readiness answers 503 until ready), wait for PostgreSQL and
 * Redis (bounded by STARTUP_TIMEOUT_SECONDS: in the stack both sit behind Toxiproxy), apply
 * migrations, start the worker. SIGTERM/SIGINT: stop popping, finish the current job, flush
 * spans, close pools, exit within SHUTDOWN_TIMEOUT_SECONDS.
 */

export const DEFAULT_SERVICE_NAME = 'nemotron-backend';
export const SERVICE_VERSION = '0.1.0';

const log = createLogger(process.env['OTEL_SERVICE_NAME'] ?? DEFAULT_SERVICE_NAME);

async function main(): Promise<void> {
  let settings: BackendSettings;
  try {
    settings = loadSettings();
  } catch (error) {
    if (error instanceof SettingsError) {
      log.error(error.message);
      process.exit(2);
    }
    throw error;
  }

  const tracing = initTracing({
    serviceName: DEFAULT_SERVICE_NAME,
    resourceAttributes: { 'service.version': SERVICE_VERSION, 'hsi.reference_stack': true, 'hsi.component': 'backend' },
  });
  const { tracer } = tracing;
  const db = createDatabase(settings, tracer, log, tracing.serviceName);
  const redis = createRedisConnections(settings.redisUrl, settings.redisCommandTimeoutMs, log, tracing.serviceName);
  const detector = new DetectorClient(settings, tracer);
  const worker = new DetectionWorker({ tracer, log, db, redis, detector });
  const state: ApiState = { started: false, shuttingDown: false };
  const server = createTracedServer({ tracer, log, routes: createRoutes({ settings, tracer, log, db, redis, detector, worker, state }) });

  const startup = new AbortController();
  let shutdownStarted = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (shutdownStarted) return;
    shutdownStarted = true;
    state.shuttingDown = true;
    startup.abort();
    const started = Date.now();
    const budget = settings.shutdownTimeoutMs;
    log.info('shutting down', { signal, budget_ms: budget });
    // Hard stop should anything hang.
    setTimeout(() => {
      log.error('shutdown deadline exceeded; exiting');
      process.exit(1);
    }, budget).unref();
    const grace = Math.max(500, budget - 2000);
    await Promise.all([worker.stop(grace - 500), server.close(grace)]);
    await tracing.shutdown(Math.max(300, budget - (Date.now() - started) - 700));
    await Promise.all([db.close(300), redis.close(300), detector.close()]);
    log.info('stopped', { elapsed_ms: Date.now() - started });
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  await server.listen(settings.port, settings.host);
  log.info('listening', { port: settings.port, upload_dir: settings.uploadDir, detector: settings.yolo26Url });

  const deadline = Date.now() + settings.startupTimeoutMs;
  const logRetry = (what: string) => (error: unknown, attempt: number) => {
    if (attempt === 1 || attempt % 5 === 0) log.warn(`${what} not reachable yet; retrying`, { attempt, error });
  };
  try {
    await Promise.all([
      retryUntil(
        async () => {
          await db.ping(3000);
          const applied = await migrate(db);
          log.info('database ready', { migrations_applied: applied });
        },
        { deadline, signal: startup.signal, onFailure: logRetry('postgresql') },
      ),
      retryUntil(
        async () => {
          // The main connection fails fast while not connected: give the first connect a moment.
          await whenReady(redis.main, 3000);
          await pingRedis(redis.main, 3000);
        },
        { deadline, signal: startup.signal, onFailure: logRetry('redis') },
      ),
    ]);
  } catch (error) {
    if (shutdownStarted) return;
    log.error('start-up failed: dependencies not reachable in time', { error, startup_timeout_ms: settings.startupTimeoutMs });
    await tracing.shutdown(1000);
    process.exit(1);
  }
  if (shutdownStarted) return;
  worker.start();
  state.started = true;
  log.info('ready');
}

process.on('unhandledRejection', (reason) => {
  log.error('unhandled promise rejection', { error: reason });
});
process.on('uncaughtException', (error) => {
  log.error('uncaught exception; exiting', { error, stack: error.stack });
  void sleep(200).then(() => process.exit(1));
});

await main();
