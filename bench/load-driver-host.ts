/**
 * One load tool of bench/load-driver.bench.ts in its own long-lived process, so that every
 * JavaScript tool runs alike: its own process (pinned to the same CPU as wrk when the bench
 * pins), warmed by the same uncounted round, driven round by round over IPC.
 *
 *   node bench/load-driver-host.ts native|autocannon|undici-raw|bare-net URL WORK_DIR CONNECTIONS
 *
 * WORK_DIR holds `body.bin` (the multipart upload every tool sends), `headers.json` and the
 * fixtures folder the native driver's scenarios read. Messages in: `{ op, seconds, rate? }`;
 * out: one answer per message (`{ ok: true, ... }` or `{ ok: false, error }`).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Client } from 'undici';
import { runLoad } from '../harness/load/driver.ts';
import { runExecutor } from '../harness/load/executors.ts';
import { Histogram } from '../harness/load/histogram.ts';
import type { PreparedUpload } from '../harness/load/multipart.ts';
import { RunState, systemClock } from '../harness/load/run-state.ts';
import { type IterationRunner, ScenarioRuntime } from '../harness/load/scenario-runtime.ts';
import { planWorkload } from '../harness/load/schedule.ts';
import { newTraceContext } from '../harness/load/trace-context.ts';
import { dispatchUpload } from '../harness/load/upload-client.ts';
import { validateScenario } from '../harness/scenario/validate-scenario.ts';
import type { Scenario } from '../harness/scenario/scenario-types.ts';
import { BENCH_CAMERA, type HostAnswer, type HostRequest, type LagStats } from './load-driver-protocol.ts';

/** The few fields of autocannon's programmatic API the bench uses (autocannon ships no types). */
interface AutocannonResult {
  requests: { total: number };
  duration: number;
  non2xx: number;
  errors: number;
}
type Autocannon = (options: Record<string, unknown>) => PromiseLike<AutocannonResult>;

interface MaxRound {
  rate: number;
  requests: number;
}

interface HostConfig {
  url: string;
  work: string;
  connections: number;
  body: Buffer;
  headers: Record<string, string>;
  path: string;
}

function readConfig(argv: readonly string[]): HostConfig {
  const [url, work, connections] = argv;
  if (!url || !work || !connections) throw new Error('usage: load-driver-host.ts TOOL URL WORK_DIR CONNECTIONS');
  const headers = JSON.parse(readFileSync(join(work, 'headers.json'), 'utf8')) as Record<string, string>;
  return { url, work, connections: Number(connections), body: readFileSync(join(work, 'body.bin')), headers, path: `/api/cameras/${BENCH_CAMERA}/uploads` };
}

function scenarioOf(config: HostConfig, name: string, scenarios: Record<string, unknown>, seconds: number, extra: Record<string, unknown> = {}): Scenario {
  return validateScenario(
    { name, scenarios, cameras: [{ id: BENCH_CAMERA }], limits: { maxDuration: `${seconds + 10}s`, maxRequests: 10_000_000 }, ...extra },
    { fixturesDir: join(config.work, 'fixtures'), source: 'bench' },
  );
}

function lagOf(h: Histogram): LagStats {
  const [p50, p99] = h.percentiles([50, 99]);
  return { count: h.count, p50: p50 ?? 0, p99: p99 ?? 0, max: h.max };
}

/** Iterations that do nothing but note their send lag: the executor's own scheduling floor. */
class NullIterations implements IterationRunner {
  readonly lag = new Histogram();
  private readonly state: RunState;
  constructor(state: RunState) {
    this.state = state;
  }
  run(_rt: ScenarioRuntime, _vu: number, intendedMs: number): Promise<void> {
    this.lag.record(this.state.now() - intendedMs);
    return Promise.resolve();
  }
  drop(): void {}
}

const openModel = (rate: number, seconds: number) => ({ executor: 'constant-arrival-rate', rate, timeUnit: '1s', duration: `${seconds}s`, preAllocatedVUs: 50, maxVUs: 500, gracefulStop: '5s' });

class Host {
  private readonly config: HostConfig;
  private readonly tool: string;
  private autocannon: Autocannon | undefined;
  constructor(tool: string, config: HostConfig) {
    this.tool = tool;
    this.config = config;
  }

  async handle(req: HostRequest): Promise<HostAnswer> {
    if (req.op === 'max') return this.max(req.seconds);
    if (this.tool === 'native') {
      if (req.op === 'lag') return this.nativeLag(req.seconds, req.rate);
      if (req.op === 'floor') return this.floor(req.seconds, req.rate);
      return this.mixed(req.seconds, req.rate);
    }
    return { ok: false, error: `${this.tool} cannot do ${req.op}` };
  }

  /** one closed-model round at max rate: req/s and this process's CPU per request */
  private async max(seconds: number): Promise<HostAnswer> {
    const cpu0 = process.cpuUsage();
    const round = this.tool === 'native' ? this.nativeMax(seconds) : this.tool === 'autocannon' ? this.autocannonMax(seconds) : this.tool === 'bare-net' ? this.bareMax(seconds) : this.undiciMax(seconds);
    const { rate, requests } = await round;
    const cpu = process.cpuUsage(cpu0);
    return { ok: true, rate, cpuUs: (cpu.user + cpu.system) / Math.max(1, requests) };
  }

  private async nativeMax(seconds: number): Promise<MaxRound> {
    const scenario = scenarioOf(this.config, 'bench-max', { max: { executor: 'constant-vus', vus: this.config.connections, duration: `${seconds}s`, gracefulStop: '5s' } }, seconds);
    const r = await runLoad(scenario, { backendUrl: this.config.url, progressLine: false });
    if (r.requests.failed > 0) throw new Error(`native driver: ${r.requests.failed} failed requests`);
    return { rate: r.requests.completed / (r.durationMs / 1000), requests: r.requests.completed };
  }

  private async autocannonMax(seconds: number): Promise<MaxRound> {
    this.autocannon ??= createRequire(import.meta.url)('autocannon') as Autocannon;
    const { url, path, connections, body, headers } = this.config;
    const r = await this.autocannon({ url: `${url}${path}`, connections, pipelining: 1, duration: seconds, method: 'POST', body, headers, timeout: 5 });
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`autocannon: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
    return { rate: r.requests.total / r.duration, requests: r.requests.total };
  }

  /** the floor under the driver: bare undici dispatch loops, one Client per connection, same request */
  private async undiciMax(seconds: number): Promise<MaxRound> {
    const { url, path, connections, body, headers } = this.config;
    const prepared: PreparedUpload = { body, contentType: headers['content-type'] ?? '', fileName: 'frame.jpg' };
    const clients = Array.from({ length: connections }, () => new Client(url, { pipelining: 1 }));
    let n = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    await Promise.all(
      clients.map(async (client) => {
        while (performance.now() < end) {
          const rec = await dispatchUpload({ dispatcher: client, path, cameraId: BENCH_CAMERA, prepared, trace: newTraceContext(true), baggage: headers['baggage'] ?? '', parseAnswer: false });
          if (rec.accepted) n++;
        }
      }),
    );
    const rate = n / ((performance.now() - start) / 1000);
    await Promise.all(clients.map((c) => c.close()));
    return { rate, requests: n };
  }

  /**
   * The floor under every JavaScript tool: bare node:net sockets, each writing the same request
   * bytes (one fixed traceparent) and the next one when the answer's last bytes (a chunked
   * body's `0\r\n\r\n`) arrive; no parsing, metrics or records.
   */
  private async bareMax(seconds: number): Promise<MaxRound> {
    const { url, path, connections, body, headers } = this.config;
    const target = new URL(url);
    const head = [`POST ${path} HTTP/1.1`, `host: ${target.host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), `content-length: ${body.length}`, '', ''].join('\r\n');
    const request = Buffer.concat([Buffer.from(head, 'latin1'), body]);
    const end = performance.now() + seconds * 1000;
    let n = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: connections }, () => new Promise<void>((resolve, reject) => {
        const socket = connect({ host: target.hostname, port: Number(target.port), noDelay: true }, () => socket.write(request));
        socket.on('error', reject);
        socket.on('data', (chunk: Buffer) => {
          if (chunk.length < 5 || chunk[chunk.length - 5] !== 48 || chunk[chunk.length - 1] !== 10) return;
          n++;
          if (performance.now() < end) socket.write(request);
          else socket.end(resolve);
        });
      })),
    );
    return { rate: n / ((performance.now() - start) / 1000), requests: n };
  }

  private async nativeLag(seconds: number, rate: number): Promise<HostAnswer> {
    const r = await runLoad(scenarioOf(this.config, 'bench-fixed', { fixed: openModel(rate, seconds) }, seconds), { backendUrl: this.config.url, progressLine: false });
    const lag = r.sendLag;
    if (lag === null) return { ok: false, error: 'native driver: no send lag recorded' };
    const p99 = r.scenarios['fixed']?.http_req_duration['p(99)'] ?? 0;
    return { ok: true, rate: r.requests.completed / (r.durationMs / 1000), lag, detail: `${r.requests.completed} completed, ${r.requests.dropped} dropped, latency p99 ${p99.toFixed(2)} ms` };
  }

  /** the same open executor and schedule with iterations that send nothing */
  private async floor(seconds: number, rate: number): Promise<HostAnswer> {
    const scenario = scenarioOf(this.config, 'bench-floor', { floor: openModel(rate, seconds) }, seconds);
    const workload = scenario.scenarios['floor'];
    if (workload === undefined) return { ok: false, error: 'floor scenario missing' };
    const state = new RunState(systemClock, scenario.limits.maxRequests);
    const rt = new ScenarioRuntime('floor', workload, planWorkload('floor', workload), [0]);
    const iterations = new NullIterations(state);
    await runExecutor(state, rt, iterations);
    return { ok: true, rate: iterations.lag.count / seconds, lag: lagOf(iterations.lag) };
  }

  private async mixed(seconds: number, rate: number): Promise<HostAnswer> {
    const scenario = scenarioOf(this.config, 'bench-mixed', { cameras: openModel(rate, seconds), dashboard: { ...openModel(rate, seconds), requests: { list_events: 3, get_event: 1 } } }, seconds, {
      requests: {
        list_events: { method: 'GET', path: '/api/events', query: { limit: '50' }, headers: { 'X-API-Key': 'bench' }, tags: { type: 'api' }, checks: { 'status ok': { status: 202 } } },
        get_event: { method: 'GET', path: '/api/events/{event_id}', tags: { type: 'api' }, checks: { 'has id': { json: 'id', type: 'string' } } },
      },
      setup: { params: { event_id: [1, 2, 3] } },
    });
    const r = await runLoad(scenario, { backendUrl: this.config.url, progressLine: false });
    const checks = r.metrics['checks']?.type === 'rate' ? r.metrics['checks'].values.rate : 0;
    const detail =
      `${r.requests.completed} completed, ${r.requests.failed} failed, ${r.requests.dropped} dropped; checks ${(checks * 100).toFixed(1)} % passed; ` +
      `latency p99 uploads ${r.scenarios['cameras']?.http_req_duration['p(99)'].toFixed(2)} ms, API ${r.scenarios['dashboard']?.http_req_duration['p(99)'].toFixed(2)} ms`;
    return { ok: true, rate: r.requests.completed / (r.durationMs / 1000), ...(r.sendLag ? { lag: r.sendLag } : {}), detail };
  }
}

const [tool, ...rest] = process.argv.slice(2);
if (process.send === undefined || tool === undefined) {
  process.stderr.write('load-driver-host.ts runs as a child of bench/load-driver.bench.ts (IPC)\n');
  process.exitCode = 2;
} else {
  const host = new Host(tool, readConfig(rest));
  const send = process.send.bind(process);
  process.on('message', (req: HostRequest) => {
    host.handle(req).then(
      (answer) => send(answer),
      (error: unknown) => send({ ok: false, error: (error as Error).message } satisfies HostAnswer),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
