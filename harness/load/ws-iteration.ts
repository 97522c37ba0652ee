import { wsFrameSentAtMs, wsUrlWithApiKey } from '../contract/hsi-ws-events.ts';
import type { Scenario, WebSocketSubscriber } from '../scenario/scenario-types.ts';
import type { MetricStore, Tags } from './metrics.ts';
import type { RunState } from './run-state.ts';
import type { IterationRunner, ScenarioRuntime } from './scenario-runtime.ts';
import type { AbortScope } from './upload-client.ts';
import type { RequestMetrics } from './upload-iteration.ts';

/**
 * A WebSocket subscriber: one iteration = one session on the stack's own origin (Node's
 * built-in WebSocket client): connect (ws_connecting), receive for sessionDuration
 * (ws_msgs_received; ws_event_latency = receive time - the frame's send time: its `timestamp`, or
 * a batch's `batched_at`, see wsFrameSentAtMs), close
 * (ws_session_duration, ws_sessions with status 101, or 0 when the connection failed).
 * With an API key, the URL carries it as `?api_key=` (the HSI WebSockets read the key there or
 * in a `Sec-WebSocket-Protocol` entry, never in an `X-API-Key` handshake header; Node's client
 * fails a handshake whose offered subprotocol the server does not echo, so the query it is).
 */
export const WS_EVENT_LATENCY = 'ws_event_latency';

interface Session {
  connectMs: number;
  opened: boolean;
  messages: number;
  error?: string;
}

export class WebSocketIterations implements IterationRunner {
  private readonly scenario: Scenario;
  private readonly state: RunState;
  private readonly store: MetricStore;
  private readonly metrics: RequestMetrics;
  private readonly wsOrigin: string;
  private readonly apiKey: string | undefined;
  private readonly tagCache = new Map<string, Tags>();

  constructor(o: { scenario: Scenario; state: RunState; store: MetricStore; metrics: RequestMetrics; backendUrl: string; apiKey?: string | undefined }) {
    this.scenario = o.scenario;
    this.state = o.state;
    this.store = o.store;
    this.metrics = o.metrics;
    this.apiKey = o.apiKey;
    const url = new URL(o.backendUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    this.wsOrigin = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  }

  /** The URL a subscriber opens: the stack's origin, its path, and the API key when the stack has one. */
  urlOf(sub: WebSocketSubscriber): string {
    return wsUrlWithApiKey(`${this.wsOrigin}${sub.path}`, this.apiKey);
  }

  drop(rt: ScenarioRuntime, dueMs: number): void {
    this.state.counts.dropped++;
    this.metrics.dropped(rt, dueMs);
  }

  async run(rt: ScenarioRuntime, _vu: number, intendedMs: number, scope: AbortScope, _open: boolean): Promise<void> {
    const sub = this.scenario.websockets[rt.workload.websocket ?? ''] as WebSocketSubscriber;
    this.state.counts.sent++;
    rt.begin();
    const startedMs = this.state.now();
    const session = await this.session(sub, scope, (latencyMs) => this.store.add(WS_EVENT_LATENCY, latencyMs, this.tags(rt, sub, '101')));
    const endMs = this.state.now();
    rt.end();
    const status = session.opened ? '101' : '0';
    const tags = this.tags(rt, sub, status);
    this.state.counts.completed++;
    if (session.opened) this.state.counts.accepted++;
    else this.state.counts.failed++;
    this.store.add('ws_sessions', 1, tags);
    if (session.opened) this.store.add('ws_connecting', session.connectMs, tags);
    this.store.add('ws_msgs_received', session.messages, tags);
    this.store.add('ws_session_duration', endMs - startedMs, tags);
    this.metrics.iteration(endMs - intendedMs, rt.iterationTags);
  }

  /** one session; ends after sessionDuration, when the run stops, or when the VU's scope aborts (ramp-down, gracefulStop) */
  private session(sub: WebSocketSubscriber, scope: AbortScope, onLatency: (ms: number) => void): Promise<Session> {
    return new Promise((resolve) => {
      const started = performance.now();
      const s: Session = { connectMs: 0, opened: false, messages: 0 };
      let ws: WebSocket;
      try {
        ws = new WebSocket(this.urlOf(sub));
      } catch (error) {
        s.error = (error as Error).message;
        resolve(s);
        return;
      }
      const stop = () => ws.close();
      const timer = setTimeout(stop, sub.sessionDuration);
      this.state.stopSignal.addEventListener('abort', stop, { once: true });
      const unregister = scope.onAbort(stop);
      ws.addEventListener('open', () => {
        s.opened = true;
        s.connectMs = performance.now() - started;
      });
      ws.addEventListener('message', (event: MessageEvent) => {
        s.messages++;
        const at = typeof event.data === 'string' ? wsFrameSentAtMs(event.data) : undefined;
        if (at !== undefined) onLatency(Math.max(0, Date.now() - at));
      });
      ws.addEventListener('error', () => {
        s.error ??= 'websocket error';
      });
      ws.addEventListener('close', () => {
        clearTimeout(timer);
        unregister();
        this.state.stopSignal.removeEventListener('abort', stop);
        resolve(s);
      });
    });
  }

  private tags(rt: ScenarioRuntime, sub: WebSocketSubscriber, status: string): Tags {
    const key = `${rt.name}\u0000${status}`;
    let tags = this.tagCache.get(key);
    if (!tags) {
      tags = { ...rt.iterationTags, ...sub.tags, status };
      this.tagCache.set(key, tags);
    }
    return tags;
  }
}
