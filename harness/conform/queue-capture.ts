import { Redis } from 'ioredis';
import { errorMessage } from '../errors.ts';

/**
 * The work queues' payloads as the stack writes them: a Redis MONITOR connection for the length
 * of one traced upload sees every LPUSH/RPUSH (also those a Lua script runs), so a payload is
 * read even when a worker pops it a millisecond later. A stack whose Redis refuses MONITOR
 * (an ACL) gives a note instead.
 */
export interface PushedPayload {
  key: string;
  raw: string;
  atEpochMs: number;
}

const PUSH_COMMANDS = new Set(['lpush', 'rpush', 'lpushx', 'rpushx']);

export class QueueCapture {
  private readonly redisUrl: string;
  private monitor: Awaited<ReturnType<Redis['monitor']>> | undefined;
  private client: Redis | undefined;
  readonly pushes: PushedPayload[] = [];
  note: string | undefined;

  constructor(redisUrl: string) {
    this.redisUrl = redisUrl;
  }

  async start(): Promise<void> {
    this.client = new Redis(this.redisUrl, { lazyConnect: true, connectTimeout: 5_000, maxRetriesPerRequest: 1, retryStrategy: () => null });
    this.client.on('error', () => undefined);
    try {
      await this.client.connect();
      this.monitor = await this.client.monitor();
      this.monitor.on('error', () => undefined);
      this.monitor.on('monitor', (_time: string, args: unknown[]) => this.see(args));
    } catch (error) {
      this.note = `Redis MONITOR not available (${errorMessage(error)}): queue payloads not read`;
    }
  }

  private see(args: readonly unknown[]): void {
    const [command, key, ...values] = args.map((a) => String(a));
    if (command === undefined || key === undefined || !PUSH_COMMANDS.has(command.toLowerCase())) return;
    for (const raw of values) this.pushes.push({ key, raw, atEpochMs: Date.now() });
  }

  stop(): void {
    this.monitor?.disconnect();
    this.client?.disconnect();
  }
}
