/**
 * Native load driver vs wrk and autocannon, same run, same loopback server, same request.
 *
 *   node bench/load-driver.bench.ts [--seconds 10] [--rounds 5] [--connections 64] [--rate 1000]
 *
 * 1. max requests/s for each tool (closed model, N connections, S seconds each, split in
 *    rounds that alternate the tools so background load hits them alike; the median round
 *    counts), plus bare undici dispatch loops (the floor under the native driver);
 * 2. the native driver at a fixed open-model rate (1000/s for S seconds): the lag between
 *    intended and actual send time (p50/p99/max).
 * The server is a tiny node:http server answering 202 + JSON, in a child process so it does
 * not share the driver's event loop. Every tool POSTs the same multipart upload (4 KiB image)
 * with the same headers. Loopback only; every step is bounded. Goals: native >= 50 % of wrk,
 * >= autocannon; lag p99 < 2 ms.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'undici';
import { runLoad } from '../harness/load/driver.ts';
import { Histogram } from '../harness/load/histogram.ts';
import { ExactTrend } from '../harness/load/metrics.ts';
import { encodeMultipartFile } from '../harness/load/multipart.ts';
import { newTraceContext } from '../harness/load/trace-context.ts';
import { dispatchUpload } from '../harness/load/upload-client.ts';
import { RunResults } from '../harness/report/run-results.ts';
import { validateScenario } from '../harness/scenario/validate-scenario.ts';
import { run } from '../harness/util/exec.ts';

const ROOT = resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    rate: { type: 'string', default: '1000' },
  },
});
const SECONDS = Math.min(60, Math.max(1, Number(args.seconds)));
const CONNECTIONS = Math.min(1024, Math.max(1, Number(args.connections)));
const RATE = Math.min(20_000, Math.max(1, Number(args.rate)));
const ROUNDS = Math.min(10, Math.max(1, Number(args.rounds)));
const ROUND_SECONDS = Math.max(1, Math.round(SECONDS / ROUNDS));

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}
const CAMERA = 'bench_cam';

const SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  let bytes = 0;
  req.on('data', (c) => { bytes += c.length; });
  req.on('end', () => {
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end('{"id":"u","camera_id":"${CAMERA}","file_path":"/data/x.jpg","status":"queued","trace_id":"t"}');
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

async function startServer(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error('bench server did not start in 10 s')), 10_000);
    child.stdout?.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      resolvePort(chunk.toString().trim());
    });
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

function line(text: string): void {
  process.stdout.write(`${text}\n`);
}

/**
 * The driver's trend store (hdr-histogram-js) against k6's own TrendSink (every value kept,
 * sorted for percentiles: ExactTrend), same values, same run: ns per recorded value and µs
 * for the four summary percentiles.
 */
function histogramLine(): void {
  const n = 1_000_000;
  const values = Float64Array.from({ length: n }, (_, i) => ((i * 7919) % 5000) ** 1.5 / 70);
  const measure = (store: { record(v: number): void; percentiles(ps: readonly number[]): number[] }) => {
    let t = performance.now();
    for (let i = 0; i < n; i++) store.record(values[i] ?? 0);
    const recordNs = ((performance.now() - t) * 1e6) / n;
    t = performance.now();
    const p99 = store.percentiles([50, 90, 95, 99])[3] ?? 0;
    return { recordNs, percentilesUs: (performance.now() - t) * 1000, p99 };
  };
  const rows: Record<'hdr' | 'exact', { recordNs: number; percentilesUs: number; p99: number }[]> = { hdr: [], exact: [] };
  for (let round = 0; round < 3; round++) {
    rows.hdr.push(measure(new Histogram()));
    rows.exact.push(measure(new ExactTrend()));
  }
  const med = (k: 'hdr' | 'exact', f: 'recordNs' | 'percentilesUs') => median(rows[k].map((r) => r[f]));
  line(
    `trend store  hdr-histogram-js ${med('hdr', 'recordNs').toFixed(0)} ns/value + ${med('hdr', 'percentilesUs').toFixed(0)} µs for 4 percentiles; ` +
      `exact (k6's TrendSink) ${med('exact', 'recordNs').toFixed(0)} ns/value + ${med('exact', 'percentilesUs').toFixed(0)} µs; p99 ${rows.hdr[0]?.p99.toFixed(2)} vs ${rows.exact[0]?.p99.toFixed(2)} ms`,
  );
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'hsi-bench-'));
  const { url, child } = await startServer();
  try {
    // the same upload for every tool: a 4 KiB "image", multipart field `file`
    const image = Buffer.alloc(4096, 0x5a);
    // a JPEG's SOI and APP0 markers first: scenario validation refuses fixtures that are not JPEGs
    image.set([0xff, 0xd8, 0xff, 0xe0], 0);
    mkdirSync(join(work, 'fixtures', CAMERA), { recursive: true });
    writeFileSync(join(work, 'fixtures', CAMERA, 'frame.jpg'), image);
    const upload = encodeMultipartFile({ fileName: 'frame.jpg', bytes: image, boundary: '----hsi-chaos-bench' });
    writeFileSync(join(work, 'body.bin'), upload.body);
    const path = `/api/cameras/${CAMERA}/uploads`;
    const headers: Record<string, string> = {
      'content-type': upload.contentType,
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      baggage: `camera.id=${CAMERA},request.source=hsi-chaos`,
    };
    line(`bench: ${SECONDS}s per tool, ${CONNECTIONS} connections, POST ${path} (${upload.body.length} B multipart), server ${url} (child process), ${cpus().length} CPUs, node ${process.version}`);

    // --- the three tools, closed model, same connections, alternating rounds ---
    const lua = join(work, 'wrk.lua');
    writeFileSync(
      lua,
      `local f = io.open("${join(work, 'body.bin')}", "rb")\nwrk.body = f:read("*a")\nf:close()\nwrk.method = "POST"\nwrk.path = "${path}"\n` +
        Object.entries(headers)
          .map(([k, v]) => `wrk.headers["${k}"] = "${v}"`)
          .join('\n') +
        '\n',
    );
    const wrkRound = async (): Promise<number> => {
      // one thread: the server has the other core
      const wrk = await run('/usr/bin/wrk', ['-t1', `-c${CONNECTIONS}`, `-d${ROUND_SECONDS}s`, '--timeout', '5s', '-s', lua, url], { timeoutMs: (ROUND_SECONDS + 30) * 1000 });
      return Number(/Requests\/sec:\s+([\d.]+)/.exec(wrk.stdout)?.[1] ?? Number.NaN);
    };
    const acRound = async (): Promise<number> => {
      const ac = await run(
        join(ROOT, 'node_modules', '.bin', 'autocannon'),
        ['-c', String(CONNECTIONS), '-d', String(ROUND_SECONDS), '-m', 'POST', '-i', join(work, 'body.bin'), ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]), '--json', `${url}${path}`],
        { timeoutMs: (ROUND_SECONDS + 30) * 1000, env: { ...process.env, PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env['PATH'] ?? ''}` } },
      );
      const json = JSON.parse(ac.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '{}') as { requests?: { total?: number; average?: number }; duration?: number; non2xx?: number };
      if ((json.non2xx ?? 0) > 0) throw new Error(`autocannon got ${json.non2xx} non-2xx answers`);
      return json.requests?.total !== undefined && json.duration ? json.requests.total / json.duration : (json.requests?.average ?? Number.NaN);
    };
    const fixturesDir = join(work, 'fixtures');
    const maxRate = validateScenario(
      {
        name: 'bench-max',
        scenarios: { max: { executor: 'constant-vus', vus: CONNECTIONS, duration: `${ROUND_SECONDS}s`, gracefulStop: '5s' } },
        cameras: [{ id: CAMERA }],
        limits: { maxDuration: `${ROUND_SECONDS + 10}s`, maxRequests: 10_000_000 },
      },
      { fixturesDir, source: 'bench' },
    );
    const nativeRound = async (): Promise<number> => {
      const native = await runLoad(maxRate, { backendUrl: url, progressLine: false });
      if (native.requests.failed > 0) throw new Error(`native driver: ${native.requests.failed} failed requests`);
      return native.requests.completed / (native.durationMs / 1000);
    };
    // the floor under the driver: bare undici dispatch loops, one Client per connection, same request
    const undiciRound = async (): Promise<number> => {
      const clients = Array.from({ length: CONNECTIONS }, () => new Client(url, { pipelining: 1 }));
      let n = 0;
      const start = performance.now();
      const end = start + ROUND_SECONDS * 1000;
      await Promise.all(
        clients.map(async (client) => {
          while (performance.now() < end) {
            const rec = await dispatchUpload({ dispatcher: client, path, cameraId: CAMERA, prepared: upload, trace: newTraceContext(true), baggage: headers['baggage'] ?? '', parseAnswer: false });
            if (rec.accepted) n++;
          }
        }),
      );
      const seconds = (performance.now() - start) / 1000;
      await Promise.all(clients.map((c) => c.close()));
      return n / seconds;
    };
    const rates: Record<'wrk' | 'autocannon' | 'native' | 'undici-raw', number[]> = { wrk: [], autocannon: [], native: [], 'undici-raw': [] };
    const order = [
      ['wrk', wrkRound],
      ['autocannon', acRound],
      ['native', nativeRound],
      ['undici-raw', undiciRound],
    ] as const;
    // warm-up, not counted: JIT for the native driver, page cache and connections for all
    await wrkRound();
    await acRound();
    await nativeRound();
    await undiciRound();
    for (let round = 0; round < ROUNDS; round++) {
      // rotate the order each round
      for (let k = 0; k < order.length; k++) {
        const [name, fn] = order[(k + round) % order.length] as (typeof order)[number];
        rates[name].push(await fn());
      }
    }
    const show = (name: keyof typeof rates) =>
      line(
        `${name.padEnd(11)} ${median(rates[name]).toFixed(0).padStart(7)} req/s median, ${Math.max(...rates[name]).toFixed(0).padStart(7)} best of ${ROUNDS} x ${ROUND_SECONDS}s  (rounds: ${rates[name].map((r) => r.toFixed(0)).join(', ')})`,
      );
    show('wrk');
    show('autocannon');
    show('native');
    show('undici-raw');
    const wrkRate = median(rates.wrk);
    const acRate = median(rates.autocannon);
    const nativeRate = median(rates.native);

    // --- native driver, open model at a fixed rate: send lag ---
    const fixed = validateScenario(
      {
        name: 'bench-fixed',
        scenarios: { fixed: { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: `${SECONDS}s`, preAllocatedVUs: 50, maxVUs: 500, gracefulStop: '5s' } },
        cameras: [{ id: CAMERA }],
        limits: { maxDuration: `${SECONDS + 10}s`, maxRequests: 10_000_000 },
      },
      { fixturesDir, source: 'bench' },
    );
    const results = new RunResults(join(work, 'results'), 'bench-fixed');
    const open = await runLoad(fixed, { backendUrl: url, progressLine: false, results });
    const lag = open.sendLag;
    line(
      `native open ${RATE}/s for ${SECONDS}s: ${open.requests.completed} completed, ${open.requests.dropped} dropped; ` +
        `send lag p50 ${lag?.p50.toFixed(3)} ms, p99 ${lag?.p99.toFixed(3)} ms, max ${lag?.max.toFixed(3)} ms; ` +
        `latency p50 ${open.scenarios['fixed']?.http_req_duration.med.toFixed(2)} ms, p99 ${open.scenarios['fixed']?.http_req_duration['p(99)'].toFixed(2)} ms (records written to requests.ndjson)`,
    );

    // --- a mixed scenario at 2,000 req/s: camera uploads + dashboard API requests side by side ---
    const mixed = validateScenario(
      {
        name: 'bench-mixed',
        scenarios: {
          cameras: { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: `${SECONDS}s`, preAllocatedVUs: 50, maxVUs: 500, gracefulStop: '5s' },
          dashboard: { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: `${SECONDS}s`, preAllocatedVUs: 50, maxVUs: 500, gracefulStop: '5s', requests: { list_events: 3, get_event: 1 } },
        },
        cameras: [{ id: CAMERA }],
        requests: {
          list_events: { method: 'GET', path: '/api/events', query: { limit: '50' }, headers: { 'X-API-Key': 'bench' }, tags: { type: 'api' }, checks: { 'status ok': { status: 202 } } },
          get_event: { method: 'GET', path: '/api/events/{event_id}', tags: { type: 'api' }, checks: { 'has id': { json: 'id', type: 'string' } } },
        },
        setup: { params: { event_id: [1, 2, 3] } },
        limits: { maxDuration: `${SECONDS + 10}s`, maxRequests: 10_000_000 },
      },
      { fixturesDir, source: 'bench' },
    );
    const mix = await runLoad(mixed, { backendUrl: url, progressLine: false });
    const mixLag = mix.sendLag;
    line(
      `native mixed ${2 * RATE}/s (uploads ${RATE}/s + API ${RATE}/s) for ${SECONDS}s: ${mix.requests.completed} completed (${(mix.requests.completed / (mix.durationMs / 1000)).toFixed(0)}/s), ${mix.requests.failed} failed, ${mix.requests.dropped} dropped; ` +
        `send lag p99 ${mixLag?.p99.toFixed(3)} ms; checks ${((mix.metrics['checks']?.type === 'rate' ? mix.metrics['checks'].values.rate : 0) * 100).toFixed(1)} % passed; ` +
        `latency p99 uploads ${mix.scenarios['cameras']?.http_req_duration['p(99)'].toFixed(2)} ms, API ${mix.scenarios['dashboard']?.http_req_duration['p(99)'].toFixed(2)} ms`,
    );

    const best = (name: keyof typeof rates) => Math.max(...rates[name]);
    const vsWrk = nativeRate / wrkRate;
    const vsAc = nativeRate / acRate;
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`.padStart(8);
    line('');
    line(`native / wrk        = ${pct(vsWrk)} median, ${pct(best('native') / best('wrk'))} best  (goal >= 50 %)  ${vsWrk >= 0.5 ? 'OK' : 'MISSED'}`);
    line(`native / autocannon = ${pct(vsAc)} median, ${pct(best('native') / best('autocannon'))} best  (goal >= 100 %) ${vsAc >= 1 ? 'OK' : 'MISSED'}`);
    line(`send lag p99        = ${lag?.p99.toFixed(3)} ms  (goal < 2 ms)    ${lag !== null && lag !== undefined && lag.p99 < 2 ? 'OK' : 'MISSED'}`);
    line(`native / undici-raw = ${pct(nativeRate / median(rates['undici-raw']))} median, ${pct(best('native') / best('undici-raw'))} best  (what the driver costs over bare undici dispatch)`);
    histogramLine();
  } finally {
    child.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
