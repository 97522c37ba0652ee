import type { Tracer } from '@opentelemetry/api';
import { createTracedServer, type TracedServer } from '../common/http.ts';
import type { Logger } from '../common/log.ts';
import { errorStyleFor } from '../common/profile.ts';
import { AnalysisJobHandler } from './analysis-worker.ts';
import { createRoutes, type ApiState } from './api.ts';
import { BatchAggregator } from './batch-aggregator.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { createDatabase, type Database } from './db.ts';
import { analysisRaisesDefect, type BackendDefects } from './defects.ts';
import { DetectionJobHandler } from './detection-worker.ts';
import { DetectorClient, MODEL_NAME } from './detector-client.ts';
import { EventBroadcaster } from './event-broadcaster.ts';
import { EventStream } from './event-stream.ts';
import { FileWatcher } from './file-watcher.ts';
import { HsiRetryHandler } from './hsi-retry-handler.ts';
import { liveDefectOptions } from './live-defects.ts';
import { LlmClient } from './llm-client.ts';
import { createRedisConnections, type RedisConnections } from './queue.ts';
import { BackendQueues } from './queue-dialect.ts';
import { QueueWorkerPool } from './queue-worker.ts';
import { rateLimitGate, SlidingWindowLimiter } from './rate-limit.ts';
import { Semaphore } from './semaphore.ts';
import type { BackendSettings } from './settings.ts';

/**
 * The backend's parts wired together for its settings, defect switches and profile (main.ts
 * owns the process: signals, start-up, shutdown). Profile hsi-current swaps in the real HSI's
 * behaviours (reference-stack/README.md, "Profile hsi-current"). Every part reads its defect
 * switches from the one `defects` object at each call (`live`: getters, not copies), so
 * POST /admin/defects turns them on and off while the backend runs.
 */

/** `base` plus option fields that read the live switches (see liveDefectOptions). */
function live<T extends object, K extends string>(defects: BackendDefects, base: T, fields: Readonly<Record<K, keyof BackendDefects>>): T & Readonly<Record<K, boolean>> {
  return liveDefectOptions(base, defects, fields);
}

export interface WireOptions {
  settings: BackendSettings;
  defects: BackendDefects;
  tracer: Tracer;
  serviceName: string;
  log: Logger;
}

export interface BackendParts {
  db: Database;
  redis: RedisConnections;
  detector: DetectorClient;
  llm: LlmClient;
  batches: BatchAggregator;
  detectionWorkers: QueueWorkerPool;
  analysisWorkers: QueueWorkerPool;
  fileWatcher: FileWatcher;
  eventStream: EventStream;
  broadcaster: EventBroadcaster | undefined;
  server: TracedServer;
  state: ApiState;
}

interface Clients {
  db: Database;
  redis: RedisConnections;
  detector: DetectorClient;
  llm: LlmClient;
  queues: BackendQueues;
}

/** Database, Redis, the AI clients (circuit breaker, semaphore) and the profile's queues. */
function wireClients({ settings, defects, tracer, serviceName, log }: WireOptions): Clients {
  const hsiCurrent = settings.profile === 'hsi-current';
  const semaphore = new Semaphore(settings.aiMaxConcurrentInferences);
  const breaker = new CircuitBreaker(
    live(
      defects,
      {
        name: MODEL_NAME,
        settings: settings.detectorCircuitBreaker,
        onStateChange: (from, to, snapshot) => log.warn('circuit breaker state change', { breaker: MODEL_NAME, from, to, failures: snapshot.failures }),
      },
      { neverOpens: 'breakerNeverOpens' },
    ),
  );
  return {
    db: createDatabase(settings, tracer, log, serviceName),
    redis: createRedisConnections(settings.redisUrl, settings.redisCommandTimeoutMs, log, serviceName),
    queues: new BackendQueues(settings.profile),
    detector: new DetectorClient(live(defects, { settings, tracer, breaker, semaphore }, { retryWithoutBackoff: 'retryWithoutBackoff', staleBaggage: 'detectorClientStaleBaggage' })),
    llm: new LlmClient(
      live(
        defects,
        { settings, tracer, semaphore, noRetryOn4xx: hsiCurrent, readinessProbe: hsiCurrent ? ('completions' as const) : ('health' as const), oneSpanForAllAttempts: hsiCurrent },
        { dropBaggage: 'llmClientDropsBaggage', dropTraceContext: 'llmClientNoTraceContext', retryWithoutBackoff: 'retryWithoutBackoff' },
      ),
    ),
  };
}

/** The batch aggregator, both job handlers and the event broadcast (single frames, or hsi-current's pub/sub + batches). */
function wirePipeline(o: WireOptions, c: Clients) {
  const { settings, defects, tracer, log } = o;
  const { db, redis, detector, llm, queues } = c;
  const hsiCurrent = settings.profile === 'hsi-current';
  const batches = new BatchAggregator(
    live(defects, { tracer, log, redis: redis.main, address: redis.address, settings: settings.batch, queues, hsiCurrent }, { noTraceContext: 'queueNoTraceContext', analysisNoTraceContext: 'analysisQueueNoTraceContext' }),
  );
  const retryHandler = () => new HsiRetryHandler(live(defects, { tracer, client: detector }, { withoutBackoff: 'retryWithoutBackoff' }));
  const nested = hsiCurrent ? { hsiCurrent: { retryHandler: retryHandler(), fastPathConfidence: settings.fastPathConfidence } } : {};
  const detectionHandler = new DetectionJobHandler(live(defects, { tracer, log, db, redis, detector, batches, queues, ...nested }, { spanEndsEarly: 'processingSpanEndsEarly', dropsRows: 'workerDropsRows' }));
  const eventStream = new EventStream(live(defects, {}, { dropFirstBroadcast: 'wsDropsBroadcast' }));
  const broadcaster = hsiCurrent
    ? new EventBroadcaster({ publisher: redis.main, subscriber: redis.createSubscriber('event-subscriber'), log, send: (batch) => eventStream.send({ ...batch }) })
    : undefined;
  const analysisHandler = new AnalysisJobHandler(
    live(
      defects,
      {
        tracer,
        log,
        db,
        redis,
        llm,
        get analysisRaises() {
          return analysisRaisesDefect(defects);
        },
        queues,
        hsiCurrent,
        onEvent: (e: Record<string, unknown>) => (broadcaster !== undefined ? void broadcaster.publish(e) : eventStream.publish(e)),
      },
      { retryWithoutBackoff: 'retryWithoutBackoff', llmFailureDeadLetters: 'llmFailureDeadLetters' },
    ),
  );
  return { batches, detectionHandler, analysisHandler, eventStream, broadcaster };
}

export function wireBackend(o: WireOptions): BackendParts {
  const { settings, defects, tracer, log } = o;
  const c = wireClients(o);
  const { db, redis, detector, llm, queues } = c;
  const { batches, detectionHandler, analysisHandler, eventStream, broadcaster } = wirePipeline(o, c);
  const detectionWorkers = new QueueWorkerPool({ name: 'detection', queue: queues.key('detection'), count: settings.detectionWorkers, redis, log, handler: detectionHandler });
  const analysisWorkers = new QueueWorkerPool({ name: 'analysis', queue: queues.key('analysis'), count: settings.analysisWorkers, redis, log, handler: analysisHandler });
  const fileWatcher = new FileWatcher(live(defects, { settings: settings.fileWatcher, tracer, log, db, redis, queues }, { noTraceContext: 'queueNoTraceContext' }));
  const state: ApiState = { started: false, shuttingDown: false };
  const routes = createRoutes({
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
  });
  const limit = settings.profile === 'hsi-current' && settings.rateLimit.enabled ? { gate: rateLimitGate(new SlidingWindowLimiter(settings.rateLimit)) } : {};
  const server = createTracedServer({ tracer, log, routes, errorStyle: errorStyleFor(settings.profile), ...limit });
  return { db, redis, detector, llm, batches, detectionWorkers, analysisWorkers, fileWatcher, eventStream, broadcaster, server, state };
}
