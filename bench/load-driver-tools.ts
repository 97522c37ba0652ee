/**
 * What bench/load-driver.bench.ts and bench/driver-cpu.ts share: the loopback target server,
 * the request every tool sends, and the long-lived tool processes (load-driver-host.ts) driven
 * round by round over IPC. With 2+ CPUs and taskset, tools go on CPU 0 and the server on the
 * last CPU, so a tool never shares its core with the server it loads.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { encodeMultipartFile } from '../harness/load/multipart.ts';
import { BENCH_CAMERA, type HostAnswer, type HostRequest, type LagStats } from './load-driver-protocol.ts';

const HERE = import.meta.dirname;
const TASKSET = '/usr/bin/taskset';
export const TOOL_CPU = '0';

/** Where the bench's processes run: pinned (tools on CPU 0, the server on the last CPU) or not. */
export class Placement {
  readonly pin: boolean;
  readonly serverCpu: string;
  constructor(noPin: boolean) {
    const cpus = availableParallelism();
    this.pin = !noPin && cpus >= 2 && existsSync(TASKSET);
    this.serverCpu = String(cpus - 1);
  }

  /** `command args` on `cpu` when pinning, as is otherwise */
  pinned(cpu: string, command: string, commandArgs: readonly string[]): [string, string[]] {
    return this.pin ? [TASKSET, ['-c', cpu, command, ...commandArgs]] : [command, [...commandArgs]];
  }

  describe(): string {
    return this.pin ? `tools pinned to CPU ${TOOL_CPU}, server to CPU ${this.serverCpu}` : 'not pinned';
  }
}

const SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end('{"id":"u","camera_id":"${BENCH_CAMERA}","file_path":"/data/x.jpg","status":"queued","trace_id":"t"}');
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/** The target: a tiny node:http server answering 202 + JSON, in its own process (pinned). */
export async function startServer(placement: Placement): Promise<{ url: string; child: ChildProcess }> {
  const [command, commandArgs] = placement.pinned(placement.serverCpu, process.execPath, ['-e', SERVER]);
  const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
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

export interface ToolHostOptions {
  placement: Placement;
  connections: number;
  /** node flags for the host process (e.g. `--cpu-prof`) */
  nodeArgs?: readonly string[];
  /** the checkout whose bench/load-driver-host.ts runs the tool (default: this one) */
  checkout?: string;
  /** the name rounds are reported under (default: the tool's) */
  label?: string;
}

/** One JavaScript tool in its own process (load-driver-host.ts), asked one round at a time. */
export class ToolHost {
  readonly name: string;
  private readonly child: ChildProcess;
  private pending: ((answer: HostAnswer) => void) | undefined;

  constructor(tool: string, url: string, work: string, o: ToolHostOptions) {
    const name = o.label ?? tool;
    this.name = name;
    const script = o.checkout === undefined ? join(HERE, 'load-driver-host.ts') : join(o.checkout, 'bench', 'load-driver-host.ts');
    const hostArgs = [...(o.nodeArgs ?? []), script, tool, url, work, String(o.connections)];
    const [command, commandArgs] = o.placement.pinned(TOOL_CPU, process.execPath, hostArgs);
    this.child = spawn(command, commandArgs, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (answer: HostAnswer) => {
      const settle = this.pending;
      this.pending = undefined;
      settle?.(answer);
    });
    this.child.once('exit', (code) => this.pending?.({ ok: false, error: `${name} host exited with ${code}` }));
  }

  /** the host's process id (taskset execs the host in its own process) */
  get pid(): number | undefined {
    return this.child.pid;
  }

  async ask(req: HostRequest): Promise<{ rate: number; cpuUs?: number; lag?: LagStats; detail?: string }> {
    const answer = await new Promise<HostAnswer>((settle, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no answer to ${req.op} in ${req.seconds + 60} s`)), (req.seconds + 60) * 1000);
      this.pending = (a) => {
        clearTimeout(timer);
        settle(a);
      };
      this.child.send(req);
    });
    if (!answer.ok) throw new Error(`${this.name}: ${answer.error}`);
    return answer;
  }

  /** Ends the host: a disconnect lets it exit by itself (a `--cpu-prof` profile is written then); SIGTERM after 5 s. */
  close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => this.child.kill('SIGTERM'), 5000);
      this.child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      if (this.child.connected) this.child.disconnect();
      else this.child.kill('SIGTERM');
    });
  }
}

/** The request every tool sends, written where the hosts and wrk read it. */
export function prepareWork(work: string): { path: string; headers: Record<string, string>; bytes: number; lua: string } {
  const image = Buffer.alloc(4096, 0x5a);
  // a JPEG's SOI and APP0 markers first: scenario validation refuses fixtures that are not JPEGs
  image.set([0xff, 0xd8, 0xff, 0xe0], 0);
  mkdirSync(join(work, 'fixtures', BENCH_CAMERA), { recursive: true });
  writeFileSync(join(work, 'fixtures', BENCH_CAMERA, 'frame.jpg'), image);
  const upload = encodeMultipartFile({ fileName: 'frame.jpg', bytes: image, boundary: '----hsi-chaos-bench' });
  writeFileSync(join(work, 'body.bin'), upload.body);
  const path = `/api/cameras/${BENCH_CAMERA}/uploads`;
  const headers: Record<string, string> = {
    'content-type': upload.contentType,
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    baggage: `camera.id=${BENCH_CAMERA},request.source=hsi-chaos`,
  };
  writeFileSync(join(work, 'headers.json'), JSON.stringify(headers));
  const lua = join(work, 'wrk.lua');
  const luaHeaders = Object.entries(headers).map(([k, v]) => `wrk.headers["${k}"] = "${v}"`);
  writeFileSync(lua, [`local f = io.open("${join(work, 'body.bin')}", "rb")`, 'wrk.body = f:read("*a")', 'f:close()', 'wrk.method = "POST"', `wrk.path = "${path}"`, ...luaHeaders, ''].join('\n'));
  return { path, headers, bytes: upload.body.length, lua };
}
