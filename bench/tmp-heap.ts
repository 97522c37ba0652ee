import { Session } from 'node:inspector/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '../harness/load/driver.ts';
import { validateScenario } from '../harness/scenario/validate-scenario.ts';
import { BENCH_CAMERA } from './load-driver-protocol.ts';
import { Placement, prepareWork, startServer } from './load-driver-tools.ts';

const work = mkdtempSync(join(tmpdir(), 'dp3-heap-'));
prepareWork(work);
const { url, child } = await startServer(new Placement(false));
const scenario = () => validateScenario(
  { name: 'h', scenarios: { max: { executor: 'constant-vus', vus: 64, duration: '2s', gracefulStop: '5s' } }, cameras: [{ id: BENCH_CAMERA }], limits: { maxDuration: '12s', maxRequests: 10_000_000 } },
  { fixturesDir: join(work, 'fixtures'), source: 'bench' },
);
await runLoad(scenario(), { backendUrl: url, progressLine: false });
const session = new Session();
session.connect();
await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
const r = await runLoad(scenario(), { backendUrl: url, progressLine: false });
const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: Node } };
interface Node { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] }
const self = new Map<string, number>();
let total = 0;
const walk = (n: Node, path: string[]) => {
  const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/(harness|bench|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
  const p = [...path, k];
  if (n.selfSize > 0) { const key = p.slice(-3).join(' < '); self.set(key, (self.get(key) ?? 0) + n.selfSize); total += n.selfSize; }
  for (const c of n.children) walk(c, p);
};
walk(profile.head, []);
const reqs = r.requests.completed;
console.log(`${reqs} requests, ${(total / reqs).toFixed(0)} B/request sampled`);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${(v / reqs).toFixed(1).padStart(7)} B/req  ${k.split(' < ').reverse().join(' < ')}`);
child.kill('SIGTERM');
