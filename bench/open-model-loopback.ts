/**
 * Shared by the driver's diagnostics (driver-gc.ts, send-lag-breakdown.ts): a loopback node:http
 * upload server in its own process (on the last CPU when there are two, so it does not compete
 * with the driver), and a constant-arrival-rate upload scenario over one 4 KB JPEG-headed fixture
 * in a temporary folder. Nothing here measures: the callers do.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateScenario } from '../harness/scenario/validate-scenario.ts';

const SERVER = `const http=require('node:http');const s=http.createServer((q,r)=>{q.on('data',()=>{});q.on('end',()=>{r.writeHead(202,{'content-type':'application/json'});r.end('{"id":"u","file_path":"/data/x.jpg"}')})});s.keepAliveTimeout=60000;s.listen(0,'127.0.0.1',()=>process.stdout.write(String(s.address().port)+'\\n'));`;

export interface LoopbackServer {
  url: string;
  stop: () => void;
}

export async function startLoopbackServer(): Promise<LoopbackServer> {
  const cpus = availableParallelism();
  const [command, commandArgs] = cpus >= 2 ? ['/usr/bin/taskset', ['-c', String(cpus - 1), process.execPath, '-e', SERVER]] : [process.execPath, ['-e', SERVER]];
  const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (c: Buffer) => resolve(c.toString().trim()));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

/** An open-model scenario at `rate`/s for `seconds` over a fixture written to a temporary folder; `remove()` deletes it. */
export function openModelScenario(name: string, rate: number, seconds: number): { scenario: ReturnType<typeof validateScenario>; remove: () => void } {
  const work = mkdtempSync(join(tmpdir(), `hsi-${name}-`));
  const image = Buffer.alloc(4096, 0x5a);
  image.set([0xff, 0xd8, 0xff, 0xe0], 0);
  mkdirSync(join(work, 'cam'), { recursive: true });
  writeFileSync(join(work, 'cam', 'frame.jpg'), image);
  const fixed = { executor: 'constant-arrival-rate', rate, timeUnit: '1s', duration: `${seconds}s`, preAllocatedVUs: 50, maxVUs: 500 };
  const scenario = validateScenario({ name, scenarios: { fixed }, cameras: [{ id: 'cam' }], limits: { maxDuration: `${seconds + 20}s`, maxRequests: 10_000_000 } }, { fixturesDir: work, source: 'bench' });
  return { scenario, remove: () => rmSync(work, { recursive: true, force: true }) };
}
