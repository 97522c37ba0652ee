import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, spawnCli } from './cli/in-process-cli.ts';
import { loadTestRunCrd, manifestProblems } from '../../harness/load/k6/k6-operator-check.ts';
import type { K8sObject } from '../../harness/load/k6/k6-operator.ts';

function tempConfig(content: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hsi-chaos-cfg-'));
  const file = join(dir, 'stack.json');
  writeFileSync(file, JSON.stringify({ resultsDir: join(dir, 'results'), ...content }));
  return file;
}

/** Bad input: one clear line naming the field or file, exit code 2, never a stack trace. */
function expectOneLineError(res: { code: number | null; stderr: string }, pattern: RegExp, code = 2): void {
  expect(res.code).toBe(code);
  const lines = res.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(res.stderr).not.toMatch(/\n\s+at /);
}

describe('hsi-chaos CLI: bad input', () => {
  it('rejects an unknown image mode naming the field', async () => {
    expectOneLineError(await cli(['run', '--image-mode', 'floppy']), /imageMode: expected "local" or "registry", got "floppy"/);
  });

  it('rejects an unknown image mode in the config file naming the file and field', async () => {
    const file = tempConfig({ imageMode: 'tape' });
    expectOneLineError(await cli(['run', '--config', file]), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: imageMode`));
  });

  it('rejects a missing fixtures folder before starting anything', async () => {
    const file = tempConfig({ fixturesDir: '/nonexistent/hsi-fixtures' });
    expectOneLineError(await cli(['trace-check', '--config', file]), /fixtures folder \/nonexistent\/hsi-fixtures does not exist/);
  });

  it('says how to provide Docker when no engine answers and none can be started (exit 3, environment)', async () => {
    const file = tempConfig({});
    // End to end (bin/hsi-chaos.js in its own process): the process's exit code is the table's 3.
    expectOneLineError(spawnCli(['run', '--config', file], { DOCKER_HOST: 'unix:///tmp/hsi-chaos-no-such.sock' }), /no Docker engine answers at DOCKER_HOST=unix:\/\/\/tmp\/hsi-chaos-no-such\.sock; start Docker/, 3);
  });

  it('rejects unknown commands, flags and bad numbers', async () => {
    expectOneLineError(spawnCli(['explode']), /unknown command "explode"/); // end to end: exit 2 from the process
    expectOneLineError(await cli(['run', '--bogus']), /Unknown option '--bogus'/);
    expectOneLineError(await cli(['trace-check', '--uploads', '0']), /--uploads must be a whole number from 1 to 10000/);
  });

  it('rejects a config file that does not exist', async () => {
    expectOneLineError(await cli(['run', '--config', '/nonexistent/cfg.json']), /config file \/nonexistent\/cfg\.json does not exist/);
  });

  it('prints help with exit 0', async () => {
    const res = spawnCli(['--help']); // end to end
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Usage: hsi-chaos <command>/);
  });
});

describe('hsi-chaos CLI: bad scenarios fail before anything starts', () => {
  it('names an unknown scenario and lists the built-in ones', async () => {
    expectOneLineError(await cli(['run', 'no-such-scenario']), /scenario "no-such-scenario": no built-in scenario of that name \(built-in: .*steady-detector-fault/);
  });

  it('names an unknown defect', async () => {
    expectOneLineError(await cli(['run', 'smoke', '--defect', 'gremlins']), /--defect: unknown defect "gremlins"; known: queue-no-trace-context/);
  });

  it('rejects a scenario file with a bad executor or fault, naming the entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsi-chaos-scn-'));
    const file = join(dir, 'bad.ts');
    writeFileSync(
      file,
      `export default { name: 'bad', scenarios: { a: { executor: 'constant-arrival-rate', rate: 1, timeUnit: '1s', duration: '5s', preAllocatedVUs: 1 } }, cameras: [{ id: 'front_door' }], faults: [{ at: '1s', duration: '1s', target: 'kafka', fault: { type: 'down' } }] };\n`,
    );
    expectOneLineError(await cli(['run', file], { DOCKER_HOST: 'unix:///tmp/hsi-chaos-no-such.sock' }), /faults\[0\] \(down-kafka-0 on kafka at 1s\): unknown target "kafka"/);
  });

  it('rejects request kinds and subscribers that cannot work: no route, a check on a missing field, a WebSocket outside the stack (exit 2, one line)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsi-chaos-req-'));
    const scenario = (extra: string) =>
      `export default { name: 'bad-requests', cameras: [{ id: 'front_door' }], ${extra}, scenarios: { d: { executor: 'constant-vus', vus: 1, duration: '2s', ${extra.startsWith('websockets') ? "websocket: 'events'" : 'requests: { bad: 1 }'} } } };\n`;
    const cases: [string, RegExp][] = [
      ["requests: { bad: { method: 'GET', path: '/api/nowhere' } }", /requests\.bad\.path: no HSI API route GET \/api\/nowhere/],
      ["requests: { bad: { method: 'GET', path: '/api/events', checks: { total: { json: 'total' } } } }", /requests\.bad\.checks\["total"\]\.json: GET \/api\/events answers no field "total"/],
      ["websockets: { events: { path: 'ws://example.org/ws/events' } }", /websockets\.events\.path: ws:\/\/example\.org\/ws\/events is outside the stack/],
    ];
    for (const [i, [extra, pattern]] of cases.entries()) {
      const file = join(dir, `bad-${i}.ts`);
      writeFileSync(file, scenario(extra));
      expectOneLineError(await cli(['run', file], { DOCKER_HOST: 'unix:///tmp/hsi-chaos-no-such.sock' }), pattern);
    }
  });

  it('conform: one of --external or --stack, a known dialect, --defect only with --stack, a stack file that exists', async () => {
    expectOneLineError(await cli(['conform']), /^hsi-chaos: conform needs exactly one of --external STACK or --stack$/);
    expectOneLineError(await cli(['conform', '--stack', '--dialect', 'klingon']), /--dialect must be reference, hsi-current, auto \(got "klingon"\)/);
    expectOneLineError(await cli(['conform', '--external', 'x', '--defect', 'ws-drops-broadcast']), /--defect needs --stack/);
    expectOneLineError(await cli(['conform', '--external', 'no-such-stack']), /--external no-such-stack: no stack file/);
    expectOneLineError(await cli(['conform', '--stack', '--event-timeout', 'soon']), /--event-timeout must be a duration such as 60s \(got "soon"\)/);
  });

  it('k6 operator: a missing backend URL, a bad parallelism, an unknown sub-command', async () => {
    expectOneLineError(await cli(['k6', 'operator', 'steady']), /^hsi-chaos: k6 operator: --backend-url is required/);
    expectOneLineError(await cli(['k6', 'operator', 'steady', '--backend-url', 'http://b:8000', '--parallelism', '0']), /--parallelism must be a whole number from 1 to 1000/);
    expectOneLineError(await cli(['k6', 'deploy']), /unknown k6 command "deploy"/);
    expectOneLineError(await cli(['k6', 'operator', 'steady', '--backend-url', 'http://b:8000', '--api-key-secret', 'just-a-name']), /--api-key-secret: expected SECRET\/KEY/);
    const out = join(mkdtempSync(join(tmpdir(), 'hsi-chaos-k6op-')), 'testrun.json');
    expectOneLineError(await cli(['k6', 'operator', 'steady', '--backend-url', 'http://b:8000', '--namespace', 'Load_Test', '--out', out]), /^hsi-chaos: --namespace "Load_Test": a Kubernetes namespace is lower-case letters, digits and -, at most 63 characters$/);
    expect(existsSync(out)).toBe(false);
  });

  it('k6 operator writes the TestRun manifest for kubectl', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'hsi-chaos-k6op-')), 'testrun.json');
    const res = await cli(['k6', 'operator', 'steady', '--backend-url', 'http://hsi-backend.hsi.svc:8000', '--parallelism', '3', '--out', out]);
    expect(res.code).toBe(0);
    const list = JSON.parse(readFileSync(out, 'utf8')) as { items: { kind: string; spec?: { parallelism?: number } }[] };
    expect(list.items.find((i) => i.kind === 'TestRun')?.spec?.parallelism).toBe(3);
    // what it wrote passed the same check the command runs before writing
    expect(manifestProblems(list as unknown as { items: K8sObject[] }, loadTestRunCrd())).toEqual([]);
    expect(res.stderr).toContain(`kubectl create -f ${out}`);
  });
});
