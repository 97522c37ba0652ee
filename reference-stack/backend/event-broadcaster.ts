import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import { HSI_CURRENT } from '../../harness/contract/profiles.ts';
import type { Logger } from '../common/log.ts';

/**
 * Profile hsi-current: the real HSI's event path to the browser (services/event_broadcaster.py,
 * core/websocket/message_batcher.py). A created event is PUBLISHed on the Redis channel
 * `security_events` as `{type: "event", data: {id, event_id, batch_id, camera_id, risk_score,
 * risk_level, summary, started_at, ...}}`; the broadcaster, SUBSCRIBEd on its own connection,
 * numbers each message (`sequence`, `requires_ack` for risk >= 80 or critical) and hands it to
 * the batcher, which sends `{type: "batch", channel: "events", count, messages, batched_at}` to
 * every /ws/events client every 100 ms, or at once when 50 are waiting.
 */

export interface BatchedMessage {
  type: 'batch';
  channel: string;
  count: number;
  messages: Record<string, unknown>[];
  /** Epoch seconds (float). */
  batched_at: number;
}

/** Collects messages and flushes them as one batch every `intervalMs`, or at once at `maxSize`. */
export class MessageBatcher {
  private pending: Record<string, unknown>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly send: (batch: BatchedMessage) => void;
  readonly intervalMs: number;
  readonly maxSize: number;
  readonly channel: string;
  metrics = { queued: 0, batches: 0, sizeFlushes: 0, intervalFlushes: 0 };

  constructor(send: (batch: BatchedMessage) => void, options: { intervalMs?: number; maxSize?: number; channel?: string } = {}) {
    this.send = send;
    this.intervalMs = options.intervalMs ?? HSI_CURRENT.wsBatch.intervalMs;
    this.maxSize = options.maxSize ?? HSI_CURRENT.wsBatch.maxSize;
    this.channel = options.channel ?? 'events';
  }

  queue(message: Record<string, unknown>): void {
    this.pending.push(message);
    this.metrics.queued++;
    if (this.pending.length >= this.maxSize) {
      this.metrics.sizeFlushes++;
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.metrics.intervalFlushes++;
      this.flush();
    }, this.intervalMs);
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const messages = this.pending;
    this.pending = [];
    this.metrics.batches++;
    this.send({ type: 'batch', channel: this.channel, count: messages.length, messages, batched_at: Date.now() / 1000 });
  }

  get pendingCount(): number {
    return this.pending.length;
  }
}

/** `requires_ack` of the real broadcaster: events with risk_score >= 80 or risk_level critical. */
export function requiresAck(message: Record<string, unknown>): boolean {
  if (message['type'] !== 'event') return false;
  const data = message['data'];
  if (typeof data !== 'object' || data === null) return false;
  const d = data as Record<string, unknown>;
  return (typeof d['risk_score'] === 'number' && d['risk_score'] >= 80) || d['risk_level'] === 'critical';
}

export interface EventBroadcasterOptions {
  /** PUBLISH connection (the backend's main one). */
  publisher: Redis;
  /** A connection of its own, put in subscribe mode. */
  subscriber: Redis;
  log: Logger;
  /** Where batches go (the /ws/events server). */
  send: (batch: BatchedMessage) => void;
  channel?: string;
}

export class EventBroadcaster {
  private readonly o: EventBroadcasterOptions;
  private readonly batcher: MessageBatcher;
  private sequence = 0;
  readonly channel: string;
  counters = { published: 0, publishFailures: 0, received: 0 };

  constructor(options: EventBroadcasterOptions) {
    this.o = options;
    this.channel = options.channel ?? HSI_CURRENT.eventChannel;
    this.batcher = new MessageBatcher(options.send);
  }

  async start(): Promise<void> {
    this.o.subscriber.on('message', (channel: string, text: string) => {
      if (channel === this.channel) this.receive(text);
    });
    await this.o.subscriber.subscribe(this.channel);
  }

  /** PUBLISH of a created event (never throws: the event row exists either way). */
  async publish(event: Record<string, unknown>): Promise<void> {
    try {
      await this.o.publisher.publish(this.channel, JSON.stringify({ type: 'event', data: event }));
      this.counters.published++;
    } catch (error) {
      this.counters.publishFailures++;
      context.with(ROOT_CONTEXT, () => this.o.log.warn('event broadcast failed (pub/sub)', { channel: this.channel, error, event_id: event['id'] }));
    }
  }

  private receive(text: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    this.counters.received++;
    this.sequence++;
    this.batcher.queue({ ...message, sequence: this.sequence, requires_ack: requiresAck(message) });
  }

  status(): Record<string, unknown> {
    return { channel: this.channel, sequence: this.sequence, ...this.counters, batches: this.batcher.metrics };
  }

  stop(): void {
    this.batcher.flush();
    this.o.subscriber.disconnect();
  }
}
