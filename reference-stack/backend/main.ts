import { createLogger } from '../common/log.ts';
import { retryUntil, sleep } from '../common/timing.ts';
import { initTracing, TracingConfigError, type Tracing } from '../telemetry/tracing.ts';
import { migrate } from './db.ts';
import { activeDefects, DefectSwitchError, loadDefects, type BackendDefects } from './defects.ts';
import { liveDefectOptions } from './live-defects.ts';
import { pingRedis, whenReady } from './queue.ts';
import { loadSettings, SettingsError, type BackendSettings } from './settings.ts';
import { wireBackend, type BackendParts } from './wiring.ts';

/**
 * The reference backend: our stand-in for HSI's FastAPI backend (API, file watcher, detection
 * and analysis workers, batch aggregator in one process). Start-up: listen at once (readiness
 * answers 503 until ready), wait for PostgreSQL and Redis (bounded by STARTUP_TIMEOUT_SECONDS:
 * in the stack both sit behind Toxiproxy), apply migrations, start the workers.
 * SIGTERM/SIGINT: stop popping, finish the current jobs, flush spans, close pools, exit within
 * SHUTDOWN_TIMEOUT_SECONDS. The parts are wired in wiring.ts.
 */

export const DEFAULT_SERVICE_NAME = 'nemotron-backend';
export const SERVICE_VERSION = '0.2.0';

const log = createLogger(process.env['OTEL_SERVICE_NAME'] ?? DEFAULT_SERVICE_NAME);

/** Settings and defect switches, or exit 2 naming the variable. */
function configOrExit(): { settings: BackendSettings; defects: BackendDefects } {
  try {
    return { settings: loadSettings(), defects: loadDefects() };
  } catch (error) {
    if (error instanceof SettingsError || error instanceof DefectSwitchError) {
      log.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}

function tracingOrExit(settings: BackendSettings, defects: BackendDefects): Tracing {
  const active = activeDefects(defects);
  try {
    const tracing = initTracing({
      serviceName: DEFAULT_SERVICE_NAME,
      resourceAttributes: {
        'service.version': SERVICE_VERSION,
        'hsi.reference_stack': true,
        'hsi.component': 'backend',
        'hsi.profile': settings.profile,
        ...(active.length > 0 ? { 'hsi.defects': active } : {}),
      },
      // Read at each decision (POST /admin/defects turns it on and off).
      sampler: liveDefectOptions({ profile: settings.profile }, defects, { ignoreParent: 'samplerIgnoresParent' }),
    });
    if (active.length > 0) log.warn('DEFECT SWITCHES ON: this backend ships deliberate bugs', { defects: active });
    else log.info('no defect switches on');
    return tracing;
  } catch (error) {
    if (error instanceof TracingConfigError) {
      log.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}

/** The process's lifecycle around the wired parts: one shutdown on SIGTERM/SIGINT. */
class BackendProcess {
  private readonly settings: BackendSettings;
  private readonly parts: BackendParts;
  private readonly tracing: Tracing;
  readonly startup = new AbortController();
  shutdownStarted = false;

  constructor(settings: BackendSettings, parts: BackendParts, tracing: Tracing) {
    this.settings = settings;
    this.parts = parts;
    this.tracing = tracing;
  }

  async shutdown(signal: string): Promise<void> {
    if (this.shutdownStarted) return;
    this.shutdownStarted = true;
    const { db, redis, detector, llm, batches, detectionWorkers, analysisWorkers, fileWatcher, eventStream, broadcaster, server, state } = this.parts;
    state.shuttingDown = true;
    this.startup.abort();
    const started = Date.now();
    const budget = this.settings.shutdownTimeoutMs;
    log.info('shutting down', { signal, budget_ms: budget });
    // Hard stop should anything hang.
    setTimeout(() => {
      log.error('shutdown deadline exceeded; exiting');
      process.exit(1);
    }, budget).unref();
    const grace = Math.max(500, budget - 2000);
    broadcaster?.stop();
    eventStream.close();
    await Promise.all([fileWatcher.stop(), batches.stop()]);
    await Promise.all([detectionWorkers.stop(grace - 500), analysisWorkers.stop(grace - 500), server.close(grace)]);
    await this.tracing.shutdown(Math.max(300, budget - (Date.now() - started) - 700));
    await Promise.all([db.close(300), redis.close(300), detector.close(), llm.close()]);
    log.info('stopped', { elapsed_ms: Date.now() - started });
    process.exit(0);
  }

  /** PostgreSQL (ping + migrations) and Redis, retried until STARTUP_TIMEOUT_SECONDS; false when they did not come up. */
  async waitForDependencies(): Promise<boolean> {
    const { db, redis } = this.parts;
    const deadline = Date.now() + this.settings.startupTimeoutMs;
    const signal = this.startup.signal;
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
          { deadline, signal, onFailure: logRetry('postgresql') },
        ),
        retryUntil(
          async () => {
            // The main connection fails fast while not connected: give the first connect a moment.
            await whenReady(redis.main, 3000);
            await pingRedis(redis.main, 3000);
          },
          { deadline, signal, onFailure: logRetry('redis') },
        ),
      ]);
      return true;
    } catch (error) {
      if (!this.shutdownStarted) log.error('start-up failed: dependencies not reachable in time', { error, startup_timeout_ms: this.settings.startupTimeoutMs });
      return false;
    }
  }

  /** Workers, closer, file watcher and (hsi-current) the event broadcaster's subscription. */
  async startWork(): Promise<void> {
    const { batches, detectionWorkers, analysisWorkers, fileWatcher, broadcaster, state } = this.parts;
    if (broadcaster !== undefined) {
      await broadcaster.start().catch((error: unknown) => log.error('event broadcaster could not subscribe; /ws/events gets nothing', { error }));
    }
    detectionWorkers.start();
    analysisWorkers.start();
    batches.start();
    fileWatcher.start();
    state.started = true;
    log.info('ready');
  }
}

async function main(): Promise<void> {
  const { settings, defects } = configOrExit();
  const tracing = tracingOrExit(settings, defects);
  const parts = wireBackend({ settings, defects, tracer: tracing.tracer, serviceName: tracing.serviceName, log });
  parts.eventStream.attach(parts.server.server);
  const proc = new BackendProcess(settings, parts, tracing);
  process.once('SIGTERM', () => void proc.shutdown('SIGTERM'));
  process.once('SIGINT', () => void proc.shutdown('SIGINT'));

  await parts.server.listen(settings.port, settings.host);
  log.info('listening', {
    port: settings.port,
    upload_dir: settings.uploadDir,
    detector: settings.yolo26Url,
    llm: settings.nemotronUrl,
    drop_dir: settings.fileWatcher.dropDir ?? null,
    detection_workers: settings.detectionWorkers,
    analysis_workers: settings.analysisWorkers,
    profile: settings.profile,
    batch_window_ms: settings.batch.windowMs,
    batch_idle_ms: settings.batch.idleMs,
  });
  const ready = await proc.waitForDependencies();
  if (proc.shutdownStarted) return;
  if (!ready) {
    await tracing.shutdown(1000);
    process.exit(1);
  }
  await proc.startWork();
}

process.on('unhandledRejection', (reason) => {
  log.error('unhandled promise rejection', { error: reason });
});
process.on('uncaughtException', (error) => {
  log.error('uncaught exception; exiting', { error, stack: error.stack });
  void sleep(200).then(() => process.exit(1));
});

await main();
