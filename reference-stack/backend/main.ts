import { createTracedServer } from '../common/http.ts';
import { createLogger } from '../common/log.ts';
import { retryUntil, sleep } from '../common/timing.ts';
import { initTracing, TracingConfigError } from '../telemetry/tracing.ts';
import { AnalysisJobHandler } from './analysis-worker.ts';
import { createRoutes, type ApiState } from './api.ts';
import { BatchAggregator } from './batch-aggregator.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { createDatabase, migrate } from './db.ts';
import { activeDefects, analysisRaisesDefect, DefectSwitchError, loadDefects, type BackendDefects } from './defects.ts';
import { DetectionJobHandler } from './detection-worker.ts';
import { DetectorClient, MODEL_NAME } from './detector-client.ts';
import { EventStream } from './event-stream.ts';
import { FileWatcher } from './file-watcher.ts';
import { LlmClient } from './llm-client.ts';
import { errorStyleFor } from '../common/profile.ts';
import { EventBroadcaster } from './event-broadcaster.ts';
import { HsiRetryHandler } from './hsi-retry-handler.ts';
import { createRedisConnections, pingRedis, whenReady } from './queue.ts';
import { BackendQueues } from './queue-dialect.ts';
import { rateLimitGate, SlidingWindowLimiter } from './rate-limit.ts';
import { QueueWorkerPool } from './queue-worker.ts';
import { Semaphore } from './semaphore.ts';
import { loadSettings, SettingsError, type BackendSettings } from './settings.ts';

/**
 * The reference backend: our stand-in for HSI's FastAPI backend (API, file watcher, detection
 * and analysis workers, batch aggregator in one process). Start-up: listen at once (readiness
 * answers 503 until ready), wait for PostgreSQL and Redis (bounded by STARTUP_TIMEOUT_SECONDS:
 * in the stack both sit behind Toxiproxy), apply migrations, start the workers.
 * SIGTERM/SIGINT: stop popping, finish the current jobs, flush spans, close pools, exit within
 * SHUTDOWN_TIMEOUT_SECONDS.
 */

export const DEFAULT_SERVICE_NAME = 'nemotron-backend';
export const SERVICE_VERSION = '0.2.0';

const log = createLogger(process.env['OTEL_SERVICE_NAME'] ?? DEFAULT_SERVICE_NAME);

async function main(): Promise<void> {
  let settings: BackendSettings;
  let defects: BackendDefects;
  try {
    settings = loadSettings();
    defects = loadDefects();
  } catch (error) {
    if (error instanceof SettingsError || error instanceof DefectSwitchError) {
      log.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const active = activeDefects(defects);

  let tracing: ReturnType<typeof initTracing>;
  try {
    tracing = initTracing({
      serviceName: DEFAULT_SERVICE_NAME,
      resourceAttributes: {
        'service.version': SERVICE_VERSION,
        'hsi.reference_stack': true,
        'hsi.component': 'backend',
        'hsi.profile': settings.profile,
        ...(active.length > 0 ? { 'hsi.defects': active } : {}),
      },
      sampler: { ignoreParent: defects.samplerIgnoresParent, profile: settings.profile },
    });
  } catch (error) {
    if (error instanceof TracingConfigError) {
      log.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  if (active.length > 0) log.warn('DEFECT SWITCHES ON: this backend ships deliberate bugs', { defects: active });
  else log.info('no defect switches on');

  const { tracer } = tracing;
  const db = createDatabase(settings, tracer, log, tracing.serviceName);
  const redis = createRedisConnections(settings.redisUrl, settings.redisCommandTimeoutMs, log, tracing.serviceName);
  const semaphore = new Semaphore(settings.aiMaxConcurrentInferences);
  const breaker = new CircuitBreaker({
    name: MODEL_NAME,
    settings: settings.detectorCircuitBreaker,
    neverOpens: defects.breakerNeverOpens,
    onStateChange: (from, to, snapshot) => log.warn('circuit breaker state change', { breaker: MODEL_NAME, from, to, failures: snapshot.failures }),
  });
  const hsiCurrent = settings.profile === 'hsi-current';
  const queues = new BackendQueues(settings.profile);
  const detector = new DetectorClient({ settings, tracer, breaker, semaphore, retryWithoutBackoff: defects.retryWithoutBackoff, staleBaggage: defects.detectorClientStaleBaggage });
  const llm = new LlmClient({
    settings,
    tracer,
    semaphore,
    dropBaggage: defects.llmClientDropsBaggage,
    dropTraceContext: defects.llmClientNoTraceContext,
    retryWithoutBackoff: defects.retryWithoutBackoff,
    noRetryOn4xx: hsiCurrent,
    readinessProbe: hsiCurrent ? 'completions' : 'health',
  });
  const batches = new BatchAggregator({
    tracer,
    log,
    redis: redis.main,
    address: redis.address,
    settings: settings.batch,
    noTraceContext: defects.queueNoTraceContext,
    analysisNoTraceContext: defects.analysisQueueNoTraceContext,
    queues,
    hsiCurrent,
  });
  const detectionHandler = new DetectionJobHandler({
    tracer,
    log,
    db,
    redis,
    detector,
    batches,
    spanEndsEarly: defects.processingSpanEndsEarly,
    dropsRows: defects.workerDropsRows,
    queues,
    ...(hsiCurrent
      ? { hsiCurrent: { retryHandler: new HsiRetryHandler({ tracer, client: detector, withoutBackoff: defects.retryWithoutBackoff }), fastPathConfidence: settings.fastPathConfidence } }
      : {}),
  });
  const eventStream = new EventStream({ dropFirstBroadcast: defects.wsDropsBroadcast });
  const broadcaster = hsiCurrent
    ? new EventBroadcaster({ publisher: redis.main, subscriber: redis.createSubscriber('event-subscriber'), log, send: (batch) => eventStream.send({ ...batch }) })
    : undefined;
  const analysisHandler = new AnalysisJobHandler({
    tracer,
    log,
    db,
    redis,
    llm,
    retryWithoutBackoff: defects.retryWithoutBackoff,
    llmFailureDeadLetters: defects.llmFailureDeadLetters,
    analysisRaises: analysisRaisesDefect(defects),
    queues,
    hsiCurrent,
    onEvent: (e) => (broadcaster !== undefined ? void broadcaster.publish(e) : eventStream.publish(e)),
  });
  const detectionWorkers = new QueueWorkerPool({ name: 'detection', queue: queues.key('detection'), count: settings.detectionWorkers, redis, log, handler: detectionHandler });
  const analysisWorkers = new QueueWorkerPool({ name: 'analysis', queue: queues.key('analysis'), count: settings.analysisWorkers, redis, log, handler: analysisHandler });
  const fileWatcher = new FileWatcher({ settings: settings.fileWatcher, tracer, log, db, redis, noTraceContext: defects.queueNoTraceContext, queues });
  const state: ApiState = { started: false, shuttingDown: false };
  const rateLimiter = new SlidingWindowLimiter(settings.rateLimit);
  const server = createTracedServer({
    tracer,
    log,
    routes: createRoutes({
      settings,
      tracer,
      log,
      db,
      redis,
      detector,
      llm,
      detectionWorkers,
      analysisWorkers,
      detectionHandler,
      analysisHandler,
      batches,
      fileWatcher,
      defects,
      state,
      queues,
      ...(broadcaster !== undefined ? { broadcaster } : {}),
    }),
    errorStyle: errorStyleFor(settings.profile),
    ...(hsiCurrent && settings.rateLimit.enabled ? { gate: rateLimitGate(rateLimiter) } : {}),
  });

  eventStream.attach(server.server);

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
    broadcaster?.stop();
    eventStream.close();
    await Promise.all([fileWatcher.stop(), batches.stop()]);
    await Promise.all([detectionWorkers.stop(grace - 500), analysisWorkers.stop(grace - 500), server.close(grace)]);
    await tracing.shutdown(Math.max(300, budget - (Date.now() - started) - 700));
    await Promise.all([db.close(300), redis.close(300), detector.close(), llm.close()]);
    log.info('stopped', { elapsed_ms: Date.now() - started });
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  await server.listen(settings.port, settings.host);
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

process.on('unhandledRejection', (reason) => {
  log.error('unhandled promise rejection', { error: reason });
});
process.on('uncaughtException', (error) => {
  log.error('uncaught exception; exiting', { error, stack: error.stack });
  void sleep(200).then(() => process.exit(1));
});

await main();
