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
 * behaviours (reference-stack/README.md, "Profile hsi-current").
 */

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
  const breaker = new CircuitBreaker({
    name: MODEL_NAME,
    settings: settings.detectorCircuitBreaker,
    neverOpens: defects.breakerNeverOpens,
    onStateChange: (from, to, snapshot) => log.warn('circuit breaker state change', { breaker: MODEL_NAME, from, to, failures: snapshot.failures }),
  });
  return {
    db: createDatabase(settings, tracer, log, serviceName),
    redis: createRedisConnections(settings.redisUrl, settings.redisCommandTimeoutMs, log, serviceName),
    queues: new BackendQueues(settings.profile),
    detector: new DetectorClient({ settings, tracer, breaker, semaphore, retryWithoutBackoff: defects.retryWithoutBackoff, staleBaggage: defects.detectorClientStaleBaggage }),
    llm: new LlmClient({
      settings,
      tracer,
      semaphore,
      dropBaggage: defects.llmClientDropsBaggage,
      dropTraceContext: defects.llmClientNoTraceContext,
      retryWithoutBackoff: defects.retryWithoutBackoff,
      noRetryOn4xx: hsiCurrent,
      readinessProbe: hsiCurrent ? 'completions' : 'health',
      oneSpanForAllAttempts: hsiCurrent,
    }),
  };
}

/** The batch aggregator, both job handlers and the event broadcast (single frames, or hsi-current's pub/sub + batches). */
function wirePipeline(o: WireOptions, c: Clients) {
  const { settings, defects, tracer, log } = o;
  const { db, redis, detector, llm, queues } = c;
  const hsiCurrent = settings.profile === 'hsi-current';
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
  const nested = hsiCurrent ? { hsiCurrent: { retryHandler: new HsiRetryHandler({ tracer, client: detector, withoutBackoff: defects.retryWithoutBackoff }), fastPathConfidence: settings.fastPathConfidence } } : {};
  const detectionHandler = new DetectionJobHandler({ tracer, log, db, redis, detector, batches, spanEndsEarly: defects.processingSpanEndsEarly, dropsRows: defects.workerDropsRows, queues, ...nested });
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
  return { batches, detectionHandler, analysisHandler, eventStream, broadcaster };
}

export function wireBackend(o: WireOptions): BackendParts {
  const { settings, defects, tracer, log } = o;
  const c = wireClients(o);
  const { db, redis, detector, llm, queues } = c;
  const { batches, detectionHandler, analysisHandler, eventStream, broadcaster } = wirePipeline(o, c);
  const detectionWorkers = new QueueWorkerPool({ name: 'detection', queue: queues.key('detection'), count: settings.detectionWorkers, redis, log, handler: detectionHandler });
  const analysisWorkers = new QueueWorkerPool({ name: 'analysis', queue: queues.key('analysis'), count: settings.analysisWorkers, redis, log, handler: analysisHandler });
  const fileWatcher = new FileWatcher({ settings: settings.fileWatcher, tracer, log, db, redis, noTraceContext: defects.queueNoTraceContext, queues });
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
