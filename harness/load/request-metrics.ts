import { Histogram } from './histogram.ts';
import type { TimeSeriesBuilder } from './load-result.ts';
import { addToSink, type MetricStore, type Sink, type Tags, TIMING_METRICS } from './metrics.ts';
import type { RequestTiming } from './request-timing.ts';
import type { ScenarioRuntime } from './scenario-runtime.ts';

/**
 * The metric sinks of one request tag set (scenario, status, name, ...), resolved once: the
 * metric's own sink and each submetric's whose tags match, for every metric a request feeds.
 * Hot paths hold one of these per request kind and status, so a finished request costs no
 * lookup at all. The timing lists are empty when the run does not define the metrics.
 */
export class RequestSinks {
  readonly tags: Tags;
  readonly reqs: Sink[];
  readonly duration: Sink[];
  readonly failed: Sink[];
  /** k6's timing split and wire bytes, in TIMING_METRICS order */
  readonly blocked: Sink[];
  readonly connecting: Sink[];
  readonly tls: Sink[];
  readonly sending: Sink[];
  readonly waiting: Sink[];
  readonly receiving: Sink[];
  readonly sent: Sink[];
  readonly received: Sink[];

  constructor(store: MetricStore, tags: Tags) {
    this.tags = tags;
    const of = (name: string): Sink[] => (store.has(name) ? store.sinksFor(name, tags) : []);
    this.reqs = of('http_reqs');
    this.duration = of('http_req_duration');
    this.failed = of('http_req_failed');
    const [blocked, connecting, tls, sending, waiting, receiving, sent, received] = TIMING_METRICS.map(of) as [Sink[], Sink[], Sink[], Sink[], Sink[], Sink[], Sink[], Sink[]];
    this.blocked = blocked;
    this.connecting = connecting;
    this.tls = tls;
    this.sending = sending;
    this.waiting = waiting;
    this.receiving = receiving;
    this.sent = sent;
    this.received = received;
  }
}

/** The iteration metrics of one iteration tag set (k6: the scenario and its tags). */
export class IterationSinks {
  readonly iterations: Sink[];
  readonly duration: Sink[];
  constructor(store: MetricStore, tags: Tags) {
    this.iterations = store.sinksFor('iterations', tags);
    this.duration = store.sinksFor('iteration_duration', tags);
  }
}

function feed(sinks: readonly Sink[], value: number): void {
  for (let i = 0; i < sinks.length; i++) addToSink(sinks[i] as Sink, value);
}

/** The metric sinks finished requests feed, plus the send lag and the per-second series. */
export class RequestMetrics {
  readonly lag = new Histogram();
  private readonly requestSinks = new WeakMap<Tags, RequestSinks>();
  private readonly iterationSinks = new WeakMap<Tags, IterationSinks>();

  readonly store: MetricStore;
  readonly series: TimeSeriesBuilder;

  constructor(store: MetricStore, series: TimeSeriesBuilder) {
    this.store = store;
    this.series = series;
  }

  /** The request sinks of a tag set (resolved once per tags object: callers reuse theirs). */
  sinksOf(tags: Tags): RequestSinks {
    let s = this.requestSinks.get(tags);
    if (!s) {
      s = new RequestSinks(this.store, tags);
      this.requestSinks.set(tags, s);
    }
    return s;
  }

  iterationSinksOf(tags: Tags): IterationSinks {
    let s = this.iterationSinks.get(tags);
    if (!s) {
      s = new IterationSinks(this.store, tags);
      this.iterationSinks.set(tags, s);
    }
    return s;
  }

  /** http_reqs, http_req_duration, http_req_failed and the series point of one request */
  requestDone(s: RequestSinks, endMs: number, latencyMs: number, ok: boolean): void {
    feed(s.reqs, 1);
    feed(s.duration, latencyMs);
    feed(s.failed, ok ? 0 : 1);
    this.series.record(endMs, latencyMs, !ok);
  }

  /** k6's timing split and bytes of one HTTP request (uploads and request kinds) */
  timingDone(s: RequestSinks, t: RequestTiming): void {
    feed(s.blocked, t.blockedMs);
    feed(s.connecting, t.connectingMs);
    feed(s.tls, 0);
    feed(s.sending, t.sendingMs);
    feed(s.waiting, t.waitingMs);
    feed(s.receiving, t.receivingMs);
    feed(s.sent, t.bytesSent);
    feed(s.received, t.bytesReceived);
  }

  iterationDone(s: IterationSinks, durationMs: number): void {
    feed(s.iterations, 1);
    feed(s.duration, durationMs);
  }

  /** k6's timing split by tags (resolved through the cache) */
  timing(t: RequestTiming, tags: Tags): void {
    this.timingDone(this.sinksOf(tags), t);
  }

  /** one request of one iteration (iteration metrics carry the iteration's tags, as in k6) */
  request(endMs: number, latencyMs: number, ok: boolean, tags: Tags, iterationTags: Tags): void {
    this.requestDone(this.sinksOf(tags), endMs, latencyMs, ok);
    this.iterationDone(this.iterationSinksOf(iterationTags), latencyMs);
  }

  /**
   * One API request (request kinds): the upload metrics plus k6's timing split and bytes.
   * Iteration metrics come separately (iteration()), after the think time.
   */
  api(endMs: number, latencyMs: number, ok: boolean, answer: { waitingMs: number; receivingMs: number; bytesIn: number; timing?: RequestTiming | undefined }, tags: Tags): void {
    const s = this.sinksOf(tags);
    this.requestDone(s, endMs, latencyMs, ok);
    if (answer.timing) this.timingDone(s, answer.timing);
    else {
      this.store.add('http_req_waiting', answer.waitingMs, tags);
      this.store.add('http_req_receiving', answer.receivingMs, tags);
      this.store.add('data_received', answer.bytesIn, tags);
    }
  }

  iteration(durationMs: number, iterationTags: Tags): void {
    this.iterationDone(this.iterationSinksOf(iterationTags), durationMs);
  }

  dropped(rt: ScenarioRuntime, dueMs: number): void {
    this.store.add('dropped_iterations', 1, rt.iterationTags);
    this.series.drop(dueMs);
  }
}
