import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../harness/errors.ts';
import { checkK6OperatorManifest, loadTestRunCrd, manifestProblems, TESTRUN_CRD_FILE } from '../../../harness/load/k6/k6-operator-check.ts';
import { type K8sObject, renderK6OperatorManifest, unknownSchemaKeywords, validateStructural } from '../../../harness/load/k6/k6-operator.ts';
import { listBuiltinScenarios, loadScenario } from '../../../harness/scenario/load-scenario.ts';

/** The operator's published CRD (config/crd/bases/k6.io_testruns.yaml, v1alpha1), vendored beside the command: see test/fixtures/k6/SOURCES.md. */
const CRD = loadTestRunCrd();

describe('k6-operator TestRun manifest', () => {
  it("validates against the operator's published TestRun schema, for uploads and for the mixed scenario", async () => {
    for (const name of ['steady', 'mixed']) {
      const list = renderK6OperatorManifest(await loadScenario(name), { backendUrl: 'http://hsi-backend.hsi.svc:8000', parallelism: 4, namespace: 'load' });
      const testRun = list.items.find((i) => i.kind === 'TestRun');
      expect(testRun?.apiVersion).toBe(`${CRD.group}/${CRD.version}`);
      expect(validateStructural(testRun, CRD.openAPIV3Schema)).toEqual([]);
      expect(testRun).toMatchObject({ spec: { parallelism: 4, script: { configMap: { name: `hsi-chaos-${name}-script`, file: 'script.ts' } } } });
      const cm = list.items.find((i) => i.metadata.name === `hsi-chaos-${name}-script`) as unknown as { data: Record<string, string> };
      const rendered = JSON.parse(cm.data['scenario.json'] ?? '{}') as { cameras: { files: { path: string }[] }[] };
      // every fixture path is a mounted fixture ConfigMap's key
      const spec = (testRun as unknown as { spec: { runner: { volumes: { name: string; configMap: { name: string } }[]; volumeMounts: { name: string; mountPath: string }[] } } }).spec;
      for (const f of rendered.cameras.flatMap((c) => c.files)) {
        const mount = spec.runner.volumeMounts.find((m) => f.path.startsWith(`${m.mountPath}/`));
        const volume = spec.runner.volumes.find((v) => v.name === mount?.name);
        const fixtures = list.items.find((i) => i.metadata.name === volume?.configMap.name) as unknown as { binaryData: Record<string, string> } | undefined;
        expect(fixtures?.binaryData[f.path.split('/').pop() ?? '']).toBeDefined();
      }
      expect(cm.data['script.ts']).toContain('HSI_SCENARIO_JSON');
    }
  });

  it('the API key comes from a Secret entry (runner env HSI_API_KEY), never written in the manifest', async () => {
    const list = renderK6OperatorManifest(await loadScenario('mixed'), { backendUrl: 'http://b:8000', parallelism: 2, apiKeySecret: { name: 'hsi-api', key: 'key' } });
    const testRun = list.items.find((i) => i.kind === 'TestRun') as unknown as { spec: { runner: { env: unknown[] } } };
    expect(validateStructural(testRun, CRD.openAPIV3Schema)).toEqual([]);
    expect(testRun.spec.runner.env).toContainEqual({ name: 'HSI_API_KEY', valueFrom: { secretKeyRef: { name: 'hsi-api', key: 'key' } } });
    const without = renderK6OperatorManifest(await loadScenario('mixed'), { backendUrl: 'http://b:8000', parallelism: 2 }).items.find((i) => i.kind === 'TestRun') as unknown as { spec: { runner: { env: { name: string }[] } } };
    expect(without.spec.runner.env.map((e) => e.name)).toEqual(['HSI_SCENARIO_JSON', 'HSI_BACKEND_URL']);
  });

  it('the schema check can fail: a wrong type, an unknown field, a bad enum', async () => {
    const list = renderK6OperatorManifest(await loadScenario('steady'), { backendUrl: 'http://backend:8000', parallelism: 2 });
    const testRun = structuredClone(list.items.find((i) => i.kind === 'TestRun')) as unknown as { spec: Record<string, unknown> };
    testRun.spec['parallelism'] = '2';
    testRun.spec['parralelism'] = 2;
    testRun.spec['cleanup'] = 'always';
    expect(validateStructural(testRun, CRD.openAPIV3Schema)).toEqual([
      'spec.parallelism: must be an integer',
      'spec.cleanup: must be one of post',
      'spec.parralelism: unknown field (the API server would drop it)',
    ]);
  });

  it('the validator checks every keyword the published schema uses (patterns, lengths, bounds, list types): none is skipped', async () => {
    expect(unknownSchemaKeywords(CRD.openAPIV3Schema)).toEqual([]);
    expect(unknownSchemaKeywords({ type: 'object', properties: { a: { type: 'string', oneOf: [] } } })).toEqual(['oneOf']);
    const list = renderK6OperatorManifest(await loadScenario('steady'), { backendUrl: 'http://backend:8000', parallelism: 2 });
    const testRun = structuredClone(list.items.find((i) => i.kind === 'TestRun')) as unknown as { spec: { runner: Record<string, unknown> } };
    testRun.spec.runner['resources'] = { limits: { cpu: 'lots', memory: '512Mi' }, requests: { cpu: 2 } };
    expect(validateStructural(testRun, CRD.openAPIV3Schema)).toEqual([expect.stringMatching(/^spec\.runner\.resources\.limits\.cpu: must match /)]);
    const status = { status: { conditions: [{ type: 'x', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z', reason: '', message: 'm', observedGeneration: -1 }] } };
    expect(validateStructural({ ...testRun, ...status }, CRD.openAPIV3Schema)).toEqual([
      expect.stringMatching(/^spec\.runner\.resources\.limits\.cpu: must match /),
      'status.conditions[0].reason: must match ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      'status.conditions[0].reason: at least 1 characters',
      'status.conditions[0].observedGeneration: must be at least 0',
    ]);
  });

  it("every built-in scenario's manifest passes the command's check (the CRD and the API server's rules on names, keys, sizes)", async () => {
    const names = listBuiltinScenarios();
    expect(names).toEqual(expect.arrayContaining(['steady', 'mixed', 'suite-all']));
    for (const name of names) {
      const list = renderK6OperatorManifest(await loadScenario(name), { backendUrl: 'http://hsi-backend.hsi.svc:8000', parallelism: 3, namespace: 'load' });
      expect(manifestProblems(list, CRD), name).toEqual([]);
    }
  });

  it('the check can fail: a manifest the CRD or the API server would refuse is a one-line ConfigError naming the first problem', async () => {
    const good = renderK6OperatorManifest(await loadScenario('steady'), { backendUrl: 'http://b:8000', parallelism: 2 });
    expect(checkK6OperatorManifest(good, CRD)).toBe(good);
    const bad = structuredClone(good) as { items: (K8sObject & { spec?: Record<string, unknown>; binaryData?: Record<string, string> })[] };
    const testRun = bad.items.find((i) => i.kind === 'TestRun')!;
    testRun.spec!['parallelism'] = '2';
    const fixtures = bad.items.find((i) => i.binaryData !== undefined)!;
    fixtures.binaryData!['my photo.jpg'] = Buffer.alloc(1100 * 1024).toString('base64');
    fixtures.metadata.namespace = 'Load_Test';
    expect(manifestProblems(bad, CRD)).toEqual([
      expect.stringMatching(/^ConfigMap hsi-chaos-steady-fx-\S+: metadata\.namespace "Load_Test": lower-case letters/),
      expect.stringMatching(/^ConfigMap hsi-chaos-steady-fx-\S+: key "my photo\.jpg": letters, digits/),
      expect.stringMatching(/^ConfigMap hsi-chaos-steady-fx-\S+: holds \d+ KiB, above a ConfigMap's 1 MiB$/),
      'TestRun hsi-chaos-steady: spec.parallelism: must be an integer',
    ]);
    expect(() => checkK6OperatorManifest(bad, CRD)).toThrowError(ConfigError);
    expect(() => checkK6OperatorManifest(bad, CRD)).toThrowError(/^k6 operator: the manifest would be refused by Kubernetes \(checked against the TestRun CRD k6\.io\/v1alpha1\): ConfigMap .*: metadata\.namespace "Load_Test".* \(and 3 more\); nothing written$/);
    testRun.apiVersion = 'k6.io/v1';
    expect(manifestProblems(bad, CRD)).toContain('TestRun hsi-chaos-steady: apiVersion k6.io/v1: the CRD serves k6.io/v1alpha1');
  });

  it('the CRD the command reads is the vendored one, and a CRD using a keyword the check skips is refused', () => {
    expect(CRD).toMatchObject({ group: 'k6.io', kind: 'TestRun', version: 'v1alpha1' });
    expect(readFileSync(TESTRUN_CRD_FILE, 'utf8')).toContain('"openAPIV3Schema"');
    const odd = { ...CRD, openAPIV3Schema: { ...CRD.openAPIV3Schema, oneOf: [] } };
    const file = join(mkdtempSync(join(tmpdir(), 'hsi-chaos-crd-')), 'crd.json');
    writeFileSync(file, JSON.stringify(odd));
    expect(() => loadTestRunCrd(file)).toThrowError(/schema keywords the manifest check does not know: oneOf/);
  });

  it('bad options: one line', async () => {
    const s = await loadScenario('steady');
    expect(() => renderK6OperatorManifest(s, { backendUrl: 'http://b:8000', parallelism: 0 })).toThrowError(ConfigError);
    expect(() => renderK6OperatorManifest(s, { backendUrl: 'http://b:8000', parallelism: 1, name: 'Bad_Name' })).toThrowError(/a Kubernetes name/);
    // the operator's job labels add "-initializer" to the name: 51 characters fit, 52 do not
    expect(() => renderK6OperatorManifest(s, { backendUrl: 'http://b:8000', parallelism: 1, name: 'a'.repeat(51) })).not.toThrow();
    expect(() => renderK6OperatorManifest(s, { backendUrl: 'http://b:8000', parallelism: 1, name: 'a'.repeat(52) })).toThrowError(/at most 51 \(a Kubernetes name; the operator's job labels add "-initializer"\)/);
  });
});
