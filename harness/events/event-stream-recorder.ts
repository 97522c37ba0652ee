import { setTimeout as sleep } from 'node:timers/promises';
import { decodeWsFrame, HSI_WS_API_KEY_QUERY, HSI_WS_EVENTS_PATH, wsUrlWithApiKey, type BroadcastEvent, type DecodedWsFrame } from '../contract/hsi-ws-events.ts';
import type { RunResults } from '../util/run-results.ts';

/**
 * What a person on the dashboard sees: a subscriber on the backend's `/ws/events` for the whole
 * run. Every frame is decoded (single or batched envelope), stamped with its receive time and
 * appended to `ws-events.ndjson` as it arrives. A dropped connection is reopened (500 ms apart)
 * and the gap is recorded: events broadcast during a gap cannot be seen, and the check says so.
 */
export const WS_EVENTS_FILE = 'ws-events.ndjson';

export interface BroadcastReceipt {
  receivedEpochMs: number;
  form: DecodedWsFrame['form'];
  events: BroadcastEvent[];
  problem?: string;
}

/** What the evaluator reads: the receipts so far, and whether the subscription held. */
export interface BroadcastLog {
  path: string;
  /** The subscription opened at least once. */
  subscribed: boolean;
  receipts: readonly BroadcastReceipt[];
  /** Epoch ms windows without a subscription after it first opened. */
  gaps: readonly { fromEpochMs: number; toEpochMs: number | null }[];
  /** Why it never opened, or the last connection error. */
  note?: string;
}

export interface BroadcastSource {
  snapshot(): BroadcastLog;
  /** Resolves once every given event (by id, or its batch id) was received, or after timeoutMs. */
  waitFor(expected: readonly ExpectedBroadcast[], timeoutMs: number): Promise<void>;
}

/** An event to wait for: by its id, or by its batch id (either one received counts). */
export interface ExpectedBroadcast {
  eventId?: string | undefined;
  batchId?: string | undefined;
}

export interface EventStreamRecorderOptions {
  backendUrl: string;
  path?: string;
  /** Extra handshake headers. */
  headers?: Record<string, string>;
  /** The stack's API key, sent as the HSI WebSockets read it (`?api_key=`); never logged. */
  apiKey?: string | undefined;
  results?: RunResults;
  log?: (line: string) => void;
  /** How long start() waits for the first open; default 5000 ms. */
  openTimeoutMs?: number;
}

export function wsUrl(backendUrl: string, path: string): string {
  const url = new URL(path, backendUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

export class EventStreamRecorder implements BroadcastSource {
  private readonly options: EventStreamRecorderOptions;
  private readonly url: string;
  private readonly receipts: BroadcastReceipt[] = [];
  private readonly gaps: { fromEpochMs: number; toEpochMs: number | null }[] = [];
  private readonly seenEvents = new Set<string>();
  private readonly seenBatches = new Set<string>();
  private socket: WebSocket | undefined;
  private opened = false;
  private closing = false;
  private note: string | undefined;

  constructor(options: EventStreamRecorderOptions) {
    this.options = options;
    this.url = wsUrlWithApiKey(wsUrl(options.backendUrl, options.path ?? HSI_WS_EVENTS_PATH), options.apiKey);
  }

  /** The URL without the API key, for logs. */
  private get shownUrl(): string {
    const u = new URL(this.url);
    if (u.searchParams.has(HSI_WS_API_KEY_QUERY)) u.searchParams.set(HSI_WS_API_KEY_QUERY, '***');
    return u.toString();
  }

  get path(): string {
    return new URL(this.url).pathname;
  }

  /** Opens the subscription; resolves when open, or after the timeout with a note (never throws). */
  async start(): Promise<void> {
    const until = Date.now() + (this.options.openTimeoutMs ?? 5_000);
    while (!this.opened && !this.closing && Date.now() < until) {
      if (await this.connect()) break;
      await sleep(250);
    }
    if (!this.opened) this.options.log?.(`${HSI_WS_EVENTS_PATH}: not subscribed (${this.note ?? 'no answer'}); broadcasts cannot be checked`);
    else this.options.log?.(`${HSI_WS_EVENTS_PATH}: subscribed at ${this.shownUrl}`);
  }

  /** One connection attempt: true once open; on close it reconnects while the recorder runs. */
  private connect(): Promise<boolean> {
    return new Promise((resolve) => {
      let ws: WebSocket;
      try {
        ws = this.options.headers ? new WebSocket(this.url, { headers: this.options.headers } as unknown as string[]) : new WebSocket(this.url);
      } catch (error) {
        this.note = (error as Error).message;
        resolve(false);
        return;
      }
      this.socket = ws;
      let open = false;
      ws.addEventListener('open', () => {
        open = true;
        this.opened = true;
        const gap = this.gaps.at(-1);
        if (gap && gap.toEpochMs === null) gap.toEpochMs = Date.now();
        resolve(true);
      });
      ws.addEventListener('message', (event: MessageEvent) => this.receive(event.data));
      ws.addEventListener('error', (event: Event) => {
        const message = (event as Event & { message?: unknown }).message;
        this.note = typeof message === 'string' && message !== '' ? message : 'websocket error';
      });
      ws.addEventListener('close', (event: CloseEvent) => {
        if (!open) {
          this.note ??= `closed before opening (code ${event.code})`;
          resolve(false);
          return;
        }
        if (this.closing) return;
        this.gaps.push({ fromEpochMs: Date.now(), toEpochMs: null });
        void this.reconnect();
      });
    });
  }

  private async reconnect(): Promise<void> {
    while (!this.closing) {
      await sleep(500);
      if (this.closing || (await this.connect())) return;
    }
  }

  private receive(data: unknown): void {
    const receivedEpochMs = Date.now();
    const text = typeof data === 'string' ? data : data instanceof ArrayBuffer ? Buffer.from(data).toString('utf8') : undefined;
    const frame: DecodedWsFrame = text === undefined ? { form: 'invalid', events: [], problem: 'binary frame' } : decodeWsFrame(text);
    const receipt: BroadcastReceipt = { receivedEpochMs, form: frame.form, events: frame.events, ...(frame.problem ? { problem: frame.problem } : {}) };
    this.receipts.push(receipt);
    for (const e of frame.events) {
      if (e.eventId !== undefined) this.seenEvents.add(e.eventId);
      if (e.batchId !== undefined) this.seenBatches.add(e.batchId);
    }
    this.options.results?.appendNdjson(WS_EVENTS_FILE, receipt);
  }

  snapshot(): BroadcastLog {
    return { path: this.path, subscribed: this.opened, receipts: [...this.receipts], gaps: this.gaps.map((g) => ({ ...g })), ...(this.note !== undefined && (!this.opened || this.gaps.length > 0) ? { note: this.note } : {}) };
  }

  async waitFor(expected: readonly ExpectedBroadcast[], timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    const done = () => expected.every((e) => (e.eventId !== undefined && this.seenEvents.has(e.eventId)) || (e.batchId !== undefined && this.seenBatches.has(e.batchId)));
    while (this.opened && !done() && Date.now() < until) await sleep(100);
  }

  close(): void {
    this.closing = true;
    const gap = this.gaps.at(-1);
    if (gap && gap.toEpochMs === null) gap.toEpochMs = Date.now();
    try {
      this.socket?.close();
    } catch {
      // already closed
    }
  }
}
