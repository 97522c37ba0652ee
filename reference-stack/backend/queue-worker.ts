import type { Redis } from 'ioredis';
import { rateLimited, type Logger } from '../common/log.ts';
import { sleep } from '../common/timing.ts';
import { BLOCKING_POP_SECONDS, type RedisConnections } from './queue.ts';

/**
 * N worker loops on one Redis list, as HSI's queue workers: each loop has its own connection and
 * pops with `BLPOP <queue> 5`, one job at a time. Shutdown: stop popping (an idle BLPOP is ended
 * with CLIENT UNBLOCK, so nothing popped is lost), let running jobs finish within the grace
 * time, then abort them through the signal (the handler gives the job back to the queue).
 */

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
  clientId: number | undefined;
  busy: boolean;
  done: Promise<void> | undefined;
}

export class QueueWorkerPool {
  private readonly options: WorkerPoolOptions;
  private readonly loops: Loop[] = [];
  private readonly abort = new AbortController();
  private readonly allowLog = rateLimited(10_000);
  private stopping = false;
  private started = false;
  private counters = { processed: 0, failed: 0, deadLettered: 0, requeued: 0, skipped: 0, dropped: 0 };
  private lastError: string | undefined;
  /** Jobs handled in the last minute (profile hsi-current's queue status throughput). */
  readonly throughput = new ThroughputWindow();

  constructor(options: WorkerPoolOptions) {
    this.options = options;
    for (let i = 0; i < options.count; i++) {
      const connection = options.redis.createBlocking(`${options.name}-worker-${i + 1}`);
      const loop: Loop = { connection, clientId: undefined, busy: false, done: undefined };
      // Remember the id of the blocking connection: CLIENT UNBLOCK ends its BLPOP at shutdown.
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
        // Still blocked (e.g. BLPOP queued while Redis is unreachable): drop the connections.
        for (const l of this.loops) l.connection.disconnect();
      }
    }
  }

  private async run(loop: Loop, index: number): Promise<void> {
    const { queue, log, handler, name } = this.options;
    while (!this.stopping) {
      let popped: [string, string] | null;
      try {
        popped = await loop.connection.blpop(queue, BLOCKING_POP_SECONDS);
      } catch (error) {
        if (this.stopping) break;
        this.lastError = (error as Error).message;
        if (this.allowLog(`blpop:${this.lastError}`)) log.warn(`${queue} pop failed`, { error, worker: index });
        await sleep(1000, this.abort.signal).catch(() => undefined);
        continue;
      }
      if (popped === null) continue;
      loop.busy = true;
      const started = performance.now();
      try {
        const outcome = await handler.handle(popped[1], this.abort.signal);
        this.throughput.note(performance.now() - started);
        if (outcome === 'processed') this.counters.processed++;
        else if (outcome === 'dead_lettered') {
          this.counters.failed++;
          this.counters.deadLettered++;
        } else if (outcome === 'lost') this.counters.failed++;
        else if (outcome === 'requeued') this.counters.requeued++;
        else if (outcome === 'dropped') {
          this.counters.failed++;
          this.counters.dropped++;
        }
        else this.counters.skipped++;
      } catch (error) {
        this.counters.failed++;
        log.error(`unexpected ${name} worker error`, { error });
      } finally {
        loop.busy = false;
      }
    }
    log.info(`${name} worker stopped`, { worker: index, ...this.status() });
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

