import type { Redis } from 'ioredis';
import { rateLimited, type Logger } from '../common/log.ts';
import { sleep } from '../common/timing.ts';
import { BLOCKING_POP_SECONDS, type RedisConnections } from './queue.ts';

/**
 * N worker loops on one Redis list, as HSI's queue workers: each loop has its own connection and
 * waits 5 s per pop, one job at a time. Unlike HSI's `BLPOP` (at-most-once: a message Redis popped
 * whose reply never arrived, because the connection was cut or declared dead in between, is
 * gone), a loop pops with `BLMOVE <queue> <queue>:processing:<worker> LEFT LEFT 5` and removes the
 * message from its processing list (LREM, the ack) once the handler is done with it. Before each
 * pop the loop looks at its processing list: a message there was popped but never handled, and
 * is handled now (counted as `recovered`). So every message is handled at least once.
 * Shutdown: stop popping (an idle pop is ended with CLIENT UNBLOCK), let running jobs finish
 * within the grace time, then abort them through the signal (the handler gives the job back to
 * the queue).
 */

/**
 * A popped job starts this long after its pop's reply. Redis answers the producer's RPUSH and the
 * waiting worker's BLMOVE in the same round; both replies reach this one event loop through
 * Toxiproxy a few µs apart, often the worker's first. Started at once, the job's synchronous start
 * (parse, spans, file read, the detector request) ran before the producer's reply was read, and
 * the producer's `<queue> publish` span (and the upload's answer around it) took 2–5 ms instead
 * of ~1 ms, in a share of uploads that changed from run to run (6–40 %): the largest run-to-run
 * noise on those spans' p95 (docs/replay.md). One timer turn lets the producer's reply in first.
 */
export const JOB_START_DEFER_MS = 1;

/** What became of one message. */
/** `dropped`: logged and discarded without a dead letter (profile hsi-current's silent drops). */
export type JobOutcome = 'processed' | 'dead_lettered' | 'lost' | 'requeued' | 'skipped' | 'dropped';

export interface JobHandler {
  /** Handles one raw message; must not throw. `signal` aborts at the end of the shutdown grace. */
  handle(raw: string, signal: AbortSignal): Promise<JobOutcome>;
}

export interface WorkerPoolStatus {
  queue: string;
  workers: number;
  running: boolean;
  /** Loops busy with a job now. */
  busy_workers: number;
  busy: boolean;
  processed: number;
  failed: number;
  dead_lettered: number;
  requeued: number;
  skipped: number;
  /** Messages logged and dropped without a dead letter (profile hsi-current). */
  dropped: number;
  /** Messages found in a loop's processing list (popped, reply lost) and handled then. */
  recovered: number;
  last_error: string | undefined;
}

export interface WorkerPoolOptions {
  /** e.g. `detection`: the log name and the connection role prefix. */
  name: string;
  queue: string;
  count: number;
  redis: RedisConnections;
  log: Logger;
  handler: JobHandler;
}

interface Loop {
  connection: Redis;
  /** Where this loop's pops go until they are acknowledged. */
  processingKey: string;
  clientId: number | undefined;
  busy: boolean;
  /** A handled message whose ack failed: acked again before anything else (not handled twice). */
  unacked: string | undefined;
  done: Promise<void> | undefined;
}

/** The processing list of one worker loop. */
export function processingKey(queue: string, worker: string): string {
  return `${queue}:processing:${worker}`;
}

export class QueueWorkerPool {
  private readonly options: WorkerPoolOptions;
  private readonly loops: Loop[] = [];
  private readonly abort = new AbortController();
  private readonly allowLog = rateLimited(10_000);
  private stopping = false;
  private started = false;
  private counters = { processed: 0, failed: 0, deadLettered: 0, requeued: 0, skipped: 0, dropped: 0, recovered: 0 };
  private lastError: string | undefined;
  /** Jobs handled in the last minute (profile hsi-current's queue status throughput). */
  readonly throughput = new ThroughputWindow();

  constructor(options: WorkerPoolOptions) {
    this.options = options;
    for (let i = 0; i < options.count; i++) {
      const worker = `${options.name}-worker-${i + 1}`;
      const connection = options.redis.createBlocking(worker);
      const loop: Loop = { connection, processingKey: processingKey(options.queue, worker), clientId: undefined, busy: false, unacked: undefined, done: undefined };
      // Remember the id of the blocking connection: CLIENT UNBLOCK ends its pop at shutdown.
      const rememberId = (): void => {
        connection
          .call('CLIENT', 'ID')
          .then((id) => {
            loop.clientId = Number(id);
          })
          .catch(() => undefined);
      };
      connection.on('ready', rememberId);
      if (connection.status === 'ready') rememberId();
      this.loops.push(loop);
    }
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.options.log.info(`${this.options.name} workers started`, { queue: this.options.queue, workers: this.loops.length });
    this.loops.forEach((loop, index) => {
      loop.done = this.run(loop, index + 1);
    });
  }

  status(): WorkerPoolStatus {
    const busy = this.loops.filter((l) => l.busy).length;
    return {
      queue: this.options.queue,
      workers: this.loops.length,
      running: this.started && !this.stopping,
      busy_workers: busy,
      busy: busy > 0,
      processed: this.counters.processed,
      failed: this.counters.failed,
      dead_lettered: this.counters.deadLettered,
      requeued: this.counters.requeued,
      skipped: this.counters.skipped,
      dropped: this.counters.dropped,
      recovered: this.counters.recovered,
      last_error: this.lastError,
    };
  }

  noteError(message: string): void {
    this.lastError = message;
  }

  /**
   * Stops popping and lets running jobs finish within graceMs; jobs still running after that are
   * aborted (their handler gives them back to the queue).
   */
  async stop(graceMs: number): Promise<void> {
    if (!this.started) return;
    this.stopping = true;
    await Promise.all(
      this.loops
        .filter((l) => !l.busy && l.clientId !== undefined)
        .map((l) => this.options.redis.main.call('CLIENT', 'UNBLOCK', String(l.clientId)).catch(() => undefined)),
    );
    const finished = Promise.all(this.loops.map((l) => l.done)).then(() => true);
    if (!(await Promise.race([finished, sleep(graceMs).then(() => false)]))) {
      this.abort.abort();
      if (!(await Promise.race([finished, sleep(1000).then(() => false)]))) {
        // Still blocked (e.g. a pop queued while Redis is unreachable): drop the connections.
        for (const l of this.loops) l.connection.disconnect();
      }
    }
  }

  private async run(loop: Loop, index: number): Promise<void> {
    const { log, name } = this.options;
    while (!this.stopping) {
      let raw: string | undefined;
      try {
        if (loop.unacked !== undefined) await this.ack(loop, loop.unacked);
        raw = await this.next(loop, index);
      } catch (error) {
        if (this.stopping) break;
        this.lastError = (error as Error).message;
        if (this.allowLog(`pop:${this.lastError}`)) log.warn(`${this.options.queue} pop failed`, { error, worker: index });
        await sleep(1000, this.abort.signal).catch(() => undefined);
        continue;
      }
      if (raw === undefined) continue;
      await sleep(JOB_START_DEFER_MS);
      await this.handleOne(loop, raw);
      await this.ack(loop, raw).catch(() => undefined);
    }
    if (loop.unacked !== undefined) await this.ack(loop, loop.unacked).catch(() => undefined);
    log.info(`${name} worker stopped`, { worker: index, ...this.status() });
  }

  /** A message left in the loop's processing list (popped, never handled), else the next one from the queue. */
  private async next(loop: Loop, index: number): Promise<string | undefined> {
    const orphan = await loop.connection.lindex(loop.processingKey, -1);
    if (orphan !== null) {
      this.counters.recovered++;
      if (this.allowLog(`recovered:${loop.processingKey}`)) this.options.log.warn(`${this.options.queue}: handling a message popped earlier whose reply was lost`, { worker: index, processing: loop.processingKey });
      return orphan;
    }
    if (this.stopping) return undefined;
    const popped = await loop.connection.blmove(this.options.queue, loop.processingKey, 'LEFT', 'LEFT', BLOCKING_POP_SECONDS);
    return popped ?? undefined;
  }

  /** LREM from the processing list; a failed ack is kept and retried before the next pop. */
  private async ack(loop: Loop, raw: string): Promise<void> {
    loop.unacked = raw;
    await loop.connection.lrem(loop.processingKey, 1, raw);
    loop.unacked = undefined;
  }

  private async handleOne(loop: Loop, raw: string): Promise<void> {
    loop.busy = true;
    const started = performance.now();
    try {
      const outcome = await this.options.handler.handle(raw, this.abort.signal);
      this.throughput.note(performance.now() - started);
      this.count(outcome);
    } catch (error) {
      this.counters.failed++;
      this.options.log.error(`unexpected ${this.options.name} worker error`, { error });
    } finally {
      loop.busy = false;
    }
  }

  private count(outcome: JobOutcome): void {
    if (outcome === 'processed') this.counters.processed++;
    else if (outcome === 'dead_lettered') {
      this.counters.failed++;
      this.counters.deadLettered++;
    } else if (outcome === 'lost') this.counters.failed++;
    else if (outcome === 'requeued') this.counters.requeued++;
    else if (outcome === 'dropped') {
      this.counters.failed++;
      this.counters.dropped++;
    } else this.counters.skipped++;
  }
}

/** Completions of one worker pool over the last minute (queue status throughput). */
export class ThroughputWindow {
  private readonly done: { at: number; ms: number }[] = [];

  note(durationMs: number, now = Date.now()): void {
    this.done.push({ at: now, ms: durationMs });
    this.prune(now);
  }

  private prune(now: number): void {
    while (this.done.length > 0 && (this.done[0]?.at ?? now) < now - 60_000) this.done.shift();
  }

  snapshot(now = Date.now()): { jobs_per_minute: number; avg_processing_seconds: number } {
    this.prune(now);
    const total = this.done.reduce((sum, d) => sum + d.ms, 0);
    return { jobs_per_minute: this.done.length, avg_processing_seconds: this.done.length === 0 ? 0 : Math.round(total / this.done.length) / 1000 };
  }
}

