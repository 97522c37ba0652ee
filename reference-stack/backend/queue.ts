import { context, ROOT_CONTEXT, SpanKind, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { dlqName, REFERENCE_DIALECT } from '../../harness/contract/dialects.ts';
import { FLAT_DLQ_FIELDS } from '../../harness/contract/dlq-entry.ts';
import type { HsiQueueRole } from '../../harness/contract/dialects.ts';
import { COMPRESSED_PAYLOAD_PREFIX, decodePayloadText } from '../../harness/contract/payload-codec.ts';
import { rateLimited, type Logger } from '../common/log.ts';
import { withTimeout } from '../common/timing.ts';
import { baggageAttributes, extractTraceCarrier, inSpan, injectTraceCarrier, recordException, type TraceCarrier } from '../telemetry/tracing.ts';
import type { BackendQueues, DeadLetterFailure } from './queue-dialect.ts';

/** Redis queue keys of the HSI pipeline (profile `reference`: the contract's unprefixed names). */
export const DETECTION_QUEUE = REFERENCE_DIALECT.queueKey('detection');
export const DETECTION_DLQ = dlqName(DETECTION_QUEUE);
export const ANALYSIS_QUEUE = REFERENCE_DIALECT.queueKey('analysis');
export const ANALYSIS_DLQ = dlqName(ANALYSIS_QUEUE);
/** Source queue of each DLQ. */
export const DLQ_SOURCES: Readonly<Record<string, string>> = { [DETECTION_DLQ]: DETECTION_QUEUE, [ANALYSIS_DLQ]: ANALYSIS_QUEUE };
/** Fields a dead-letter entry adds to the original message (stripped again on requeue). */
export const DEAD_LETTER_FIELDS = FLAT_DLQ_FIELDS;

/** Blocking pop timeout of the detection worker (HSI: 5 s). */
export const BLOCKING_POP_SECONDS = 5;
/** How much later than the server-side pop timeout a silent blocking connection is declared dead. */
const BLOCKING_GRACE_MS = 3000;

// Messaging semantic conventions are still incubating; their names are spelled out here.
export const ATTR_MESSAGING_SYSTEM = 'messaging.system';
export const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
export const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
export const ATTR_MESSAGING_OPERATION_NAME = 'messaging.operation.name';
export const ATTR_MESSAGING_MESSAGE_BODY_SIZE = 'messaging.message.body.size';

export const traceCarrierSchema = z.object({
  traceparent: z.string(),
  tracestate: z.string().optional(),
  baggage: z.string().optional(),
});

/** The contract's detection_queue payload, plus `trace_context` (which the real HSI lacks). */
export const detectionJobSchema = z.object({
  camera_id: z.string().min(1),
  file_path: z.string().min(1),
  timestamp: z.string(),
  media_type: z.string().default('image'),
  pipeline_start_time: z.string().optional(),
  file_hash: z.string().optional(),
  trace_context: traceCarrierSchema.optional(),
});
export type DetectionJob = z.infer<typeof detectionJobSchema>;

/** The contract's analysis_queue payload, plus `trace_context` and `close_reason`. */
export const analysisJobSchema = z.object({
  batch_id: z.string().min(1),
  camera_id: z.string().min(1),
  detection_ids: z.array(z.coerce.number().int()).min(1),
  /** ISO text (reference) or epoch seconds, a float (hsi-current). */
  timestamp: z.union([z.string(), z.number()]),
  pipeline_start_time: z.string().optional(),
  close_reason: z.string().optional(),
  trace_context: traceCarrierSchema.optional(),
});
export type AnalysisJob = z.infer<typeof analysisJobSchema>;

export interface DeadLetter extends Record<string, unknown> {
  error: string;
  attempts: number;
  failed_at: string;
  queue: string;
}

export interface RedisConnections {
  /** Commands of the API and the workers' non-blocking writes; fails fast while disconnected. */
  main: Redis;
  /** A new blocking-pop connection for one worker loop (a blocked connection cannot serve anything else); closed with the others. */
  createBlocking(role: string): Redis;
  /** A connection for SUBSCRIBE (no socket timeout: a quiet channel is normal; ioredis resubscribes after a reconnect). */
  createSubscriber(role: string): Redis;
  address: { host: string; port: number };
  close(timeoutMs: number): Promise<void>;
}

export function createRedisConnections(redisUrl: string, commandTimeoutMs: number, log: Logger, name: string): RedisConnections {
  const allowLog = rateLimited(10_000);
  // Reconnect forever with a short capped delay: the proxy in front of Redis may drop us any time.
  const retryStrategy = (times: number): number => Math.min(times * 200, 2000);
  const main = new Redis(redisUrl, {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    // A connection that stops answering (e.g. a timeout toxic) is destroyed and reopened.
    socketTimeout: commandTimeoutMs * 2,
    connectTimeout: 5000,
    retryStrategy,
  });
  const allClients: Redis[] = [main];
  const watch = (role: string, client: Redis): void => {
    client.on('error', (error: Error) => {
      if (allowLog(`${role}:${error.message}`)) context.with(ROOT_CONTEXT, () => log.warn('redis connection error', { role, error }));
    });
    client.on('ready', () => context.with(ROOT_CONTEXT, () => log.info('redis connection ready', { role })));
  };
  watch('main', main);
  const url = new URL(redisUrl);
  return {
    main,
    createBlocking(role: string): Redis {
      const blocking = new Redis(redisUrl, {
        connectionName: `${name}-${role}`,
        enableOfflineQueue: true,
        maxRetriesPerRequest: 2,
        // No commandTimeout: a pop legitimately waits 5 s. A socket silent for longer is dead (a pop
        // whose reply is cut off that way stays in the worker's processing list: queue-worker.ts).
        socketTimeout: BLOCKING_POP_SECONDS * 1000 + BLOCKING_GRACE_MS,
        connectTimeout: 5000,
        retryStrategy,
      });
      watch(role, blocking);
      allClients.push(blocking);
      return blocking;
    },
    createSubscriber(role: string): Redis {
      const subscriber = new Redis(redisUrl, { connectionName: `${name}-${role}`, enableOfflineQueue: true, connectTimeout: 5000, retryStrategy });
      watch(role, subscriber);
      allClients.push(subscriber);
      return subscriber;
    },
    address: { host: url.hostname, port: url.port === '' ? 6379 : Number(url.port) },
    async close(timeoutMs: number): Promise<void> {
      await Promise.all(
        allClients.map((client) =>
          withTimeout(client.quit(), timeoutMs, 'redis quit').catch(() => {
            client.disconnect();
          }),
        ),
      );
    },
  };
}

/** Resolves once the connection is ready, or after timeoutMs (whichever first). */
export function whenReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    redis.once('ready', done);
  });
}

/** PING without a span, bounded. */
export async function pingRedis(redis: Redis, timeoutMs: number): Promise<void> {
  await withTimeout(redis.ping(), timeoutMs, 'redis ping');
}

/** Attributes of a PRODUCER span that RPUSHes to `queue`. */
export function producerAttributes(queue: string, address: { host: string; port: number }): Attributes {
  return {
    [ATTR_MESSAGING_SYSTEM]: 'redis',
    [ATTR_MESSAGING_DESTINATION_NAME]: queue,
    [ATTR_MESSAGING_OPERATION_TYPE]: 'send',
    [ATTR_MESSAGING_OPERATION_NAME]: 'RPUSH',
    [ATTR_SERVER_ADDRESS]: address.host,
    [ATTR_SERVER_PORT]: address.port,
  };
}

/** Attributes of a CONSUMER span processing one message of `queue`. */
export function consumerAttributes(queue: string, raw: string): Attributes {
  return {
    [ATTR_MESSAGING_SYSTEM]: 'redis',
    [ATTR_MESSAGING_DESTINATION_NAME]: queue,
    [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
    [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: Buffer.byteLength(raw),
  };
}

/**
 * Pushes a job that will not succeed to its dead-letter queue, in a PRODUCER span of the job's
 * trace (the entry keeps the original `trace_context`), in the profile's shape (flat or nested,
 * queue-dialect.ts). `identity` names the job in the span and the log (camera, file or batch).
 * False when even that push failed: the job is lost.
 */
export async function deadLetter(
  deps: { tracer: Tracer; redis: RedisConnections; log: Logger; queues: BackendQueues },
  role: HsiQueueRole,
  raw: string,
  job: Record<string, unknown> | undefined,
  failure: DeadLetterFailure,
  span: Span,
  identity: Attributes,
): Promise<boolean> {
  const { tracer, redis, log, queues } = deps;
  const entry = queues.deadLetterEntry(role, job, raw, failure);
  const queue = queues.logicalName(role);
  const dlq = queues.dlq(role);
  try {
    await publish(tracer, redis.main, redis.address, { key: dlq, name: dlq, encode: (m) => queues.encode(m) }, entry, false, identity);
    log.warn(`${queue} job dead-lettered`, { error_code: failure.code, error: failure.message, attempts: failure.attempts, ...identity });
    return true;
  } catch (error) {
    recordException(span, error, 'dead-lettering failed');
    log.error(`dead-lettering failed; the ${queue} job is lost`, { error, original_error: failure.message, ...identity });
    return false;
  }
}

/** A queue message as a worker takes it: the job (or why it is not one) and its consumer span's start. */
export interface ReceivedJob<J> {
  job: J | undefined;
  parseError: string | undefined;
  /** The producer's context from the message (root when it carries none). */
  parent: Context;
  /** Baggage, messaging attributes and `queue_wait_ms`; the worker adds its job's own. */
  attributes: Attributes;
}

/** Parses one message of `queue`; a bad message is still received (the worker dead-letters it in a span). */
export function receiveJob<J extends { trace_context?: TraceCarrier | undefined; timestamp: string | number }>(schema: z.ZodType<J>, queue: string, raw: string): ReceivedJob<J> {
  let job: J | undefined;
  let parseError: string | undefined;
  try {
    job = schema.parse(JSON.parse(decodePayloadText(raw)));
  } catch (error) {
    parseError = (error as Error).message.slice(0, 300);
  }
  const parent = extractTraceCarrier(job?.trace_context);
  const attributes: Attributes = { ...baggageAttributes(parent), ...consumerAttributes(queue, raw) };
  const queuedAt = job === undefined ? Number.NaN : typeof job.timestamp === 'number' ? job.timestamp * 1000 : Date.parse(job.timestamp);
  if (Number.isFinite(queuedAt)) attributes['queue_wait_ms'] = Math.max(0, Date.now() - queuedAt);
  return { job, parseError, parent, attributes };
}

/** Where a producer pushes: the Redis key, the contract's queue name (span names), the stored form and the cap. */
export interface QueueTarget {
  key: string;
  /** `detection_queue`: the span is `<name> publish` whatever the key. */
  name: string;
  encode?: (message: Record<string, unknown>) => string;
  /** Profile hsi-current: a queue this long sends new jobs to `overflowKey` instead. */
  cap?: number;
  overflowKey?: string;
}

// KEYS[1] queue, KEYS[2] overflow; ARGV body, cap. Returns the new length, or -1 when the job went to the overflow list.
const CAPPED_PUSH_SCRIPT = `
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return -1
end
return redis.call('RPUSH', KEYS[1], ARGV[1])
`;

/** RPUSH of a stored body to `target`, through the cap when it has one; -1: the job went to the overflow list. */
export async function pushBody(redis: Redis, target: QueueTarget, body: string): Promise<number> {
  if (target.cap === undefined || target.overflowKey === undefined) return redis.rpush(target.key, body);
  return Number(await redis.eval(CAPPED_PUSH_SCRIPT, 2, target.key, target.overflowKey, body, String(target.cap)));
}

/**
 * RPUSH of a JSON message in a PRODUCER span `<queue> publish`. When `withTraceContext` is set,
 * the span's context is injected into the message as `trace_context`, so that the consumer's
 * span becomes its child. A string queue is a plain-JSON key of the same name.
 */
export async function publish(
  tracer: Tracer,
  redis: Redis,
  address: { host: string; port: number },
  queue: string | QueueTarget,
  message: Record<string, unknown>,
  withTraceContext = true,
  extraAttributes: Attributes = {},
): Promise<{ body: string; length: number; traceContext: TraceCarrier | undefined }> {
  const target: QueueTarget = typeof queue === 'string' ? { key: queue, name: queue } : queue;
  const attributes: Attributes = { ...producerAttributes(target.key, address), ...extraAttributes };
  return inSpan(tracer, `${target.name} publish`, { kind: SpanKind.PRODUCER, attributes }, async (span) => {
    const traceContext = withTraceContext ? injectTraceCarrier() : undefined;
    const full = traceContext === undefined ? message : { ...message, trace_context: traceContext };
    const body = target.encode?.(full) ?? JSON.stringify(full);
    span.setAttribute(ATTR_MESSAGING_MESSAGE_BODY_SIZE, Buffer.byteLength(body));
    if (body.startsWith(COMPRESSED_PAYLOAD_PREFIX)) span.setAttribute('messaging.redis.compressed', true);
    const length = await pushBody(redis, target, body);
    if (length < 0) {
      span.addEvent('queue_overflow', { 'messaging.destination.name': target.overflowKey ?? '' });
      span.setAttribute('messaging.redis.overflow', true);
    } else span.setAttribute('messaging.redis.queue_length', length);
    return { body, length, traceContext };
  });
}
