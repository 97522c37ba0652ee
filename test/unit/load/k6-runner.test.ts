import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../harness/errors.ts';
import { findK6, K6_SCRIPT, runK6 } from '../../../harness/load/k6/k6-runner.ts';
import { RunResults } from '../../../harness/util/run-results.ts';
import { PROJECT_ROOT } from '../../../harness/scenario/load-scenario.ts';
import { validateScenario } from '../../../harness/scenario/validate-scenario.ts';

const FIXTURES = resolve(PROJECT_ROOT, 'fixtures', 'images');
const K6_SAMPLES = resolve(import.meta.dirname, '..', '..', 'fixtures', 'k6');
const scenario = validateScenario(
  {
    name: 'k6-unit',
    scenarios: { steady: { executor: 'constant-arrival-rate', rate: 2, duration: '2s', preAllocatedVUs: 2 } },
    cameras: [{ id: 'front_door' }],
    thresholds: { http_req_duration: ['p(95)<2000'] },
    limits: { maxDuration: '1m', maxRequests: 100 },
  },
  { fixturesDir: FIXTURES, source: 'k6-unit.ts' },
);

describe('k6 runner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hsi-k6-runner-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('says what to do when k6 is missing', async () => {
    expect(findK6('k6', { PATH: dir })).toBeUndefined();
    const error = await runK6(scenario, { backendUrl: 'http://127.0.0.1:1', env: { PATH: dir } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe('k6 is not on PATH; install k6 or use --driver native');
  });

  it('runs k6 with --out json and --summary-export, keeps exit code 99 and converts the outputs', async () => {
    // a stand-in k6: checks its arguments and the rendered scenario, writes k6 sample outputs, exits 99
    const fake = join(dir, 'k6');
    writeFileSync(
      fake,
      `#!/bin/sh
set -e
[ "$1" = run ] || exit 2
out=""; summary=""
for a in "$@"; do
  case "$a" in
    json=*) out="\${a#json=}" ;;
    --summary-export=*) summary="\${a#--summary-export=}" ;;
  esac
done
script=""; for a in "$@"; do script="$a"; done
[ -f "$script" ] || exit 3
grep -q '"constant-arrival-rate"' "$HSI_SCENARIO_JSON" || exit 4
echo "backend $HSI_BACKEND_URL key $HSI_API_KEY"
cp "${K6_SAMPLES}/docs-http-requests-point.ndjson" "$out"
cp "${K6_SAMPLES}/handle-summary-data.json" "$summary"
echo 'level=error msg="thresholds on metrics have been crossed"' >&2
exit 99
`,
    );
    chmodSync(fake, 0o755);
    expect(findK6('k6', { PATH: dir })).toBe(fake);
    const results = new RunResults(dir, 'run-1');
    const chunks: string[] = [];
    const result = await runK6(scenario, {
      backendUrl: 'http://127.0.0.1:9',
      apiKey: 'runner-key',
      results,
      env: { PATH: `${dir}:/usr/bin:/bin` },
      onOutput: (c) => chunks.push(c.toString()),
    });
    // the API key reaches k6 in its environment only, never in the rendered scenario file
    expect(chunks.join('')).toContain('backend http://127.0.0.1:9 key runner-key');
    expect(readFileSync(results.path('k6-scenario.json'), 'utf8')).not.toContain('runner-key');
    expect(result.driver).toBe('k6');
    expect(result.exitCode).toBe(99);
    expect(result.thresholdsPassed).toBe(false);
    expect(result.metrics['http_req_duration']).toMatchObject({ values: { count: 1, avg: 586.831127 } });
    expect(result.durationMs).toBe(1000);
    const rendered = JSON.parse(readFileSync(results.path('k6-scenario.json'), 'utf8')) as { options: { scenarios: Record<string, unknown> } };
    expect(Object.keys(rendered.options.scenarios)).toEqual(['steady']);
    expect(existsSync(results.path('k6.log'))).toBe(true);
    expect(JSON.parse(readFileSync(results.path('load-result.json'), 'utf8'))).toMatchObject({ driver: 'k6', exitCode: 99 });
    expect(readFileSync(results.path('requests.ndjson'), 'utf8').trim().split('\n')).toHaveLength(1);
    expect(K6_SCRIPT).toBe(join(PROJECT_ROOT, 'scenarios', 'k6', 'camera-uploads.ts'));
  });

  it('turns other k6 failures into one-line errors', async () => {
    const fake = join(dir, 'k6');
    writeFileSync(fake, '#!/bin/sh\necho "level=error msg=\\"SyntaxError: boom\\"" >&2\nexit 107\n');
    chmodSync(fake, 0o755);
    await expect(runK6(scenario, { backendUrl: 'http://127.0.0.1:9', env: { PATH: dir } })).rejects.toThrowError(/k6 failed \(script exception\): level=error msg="SyntaxError: boom"/);
  });

  it('refuses the drop-folder transport', async () => {
    const drop = validateScenario(
      { name: 'drop', scenarios: { s: { executor: 'shared-iterations' } }, cameras: [{ id: 'front_door' }], transport: { type: 'drop-folder' } },
      { fixturesDir: FIXTURES, source: 'drop.ts' },
    );
    await expect(runK6(drop, { backendUrl: 'http://x' })).rejects.toThrowError(/drop\.ts: transport: the k6 driver uploads over HTTP only/);
  });
});
