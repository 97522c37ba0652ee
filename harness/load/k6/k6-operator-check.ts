import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError } from '../../errors.ts';
import { type K8sObject, type OpenApiSchema, unknownSchemaKeywords, validateStructural } from './k6-operator.ts';

/**
 * The checks a k6-operator manifest passes before `hsi-chaos k6 operator` writes it: the
 * `TestRun` against the operator's published CRD (vendored beside this file; source in
 * test/fixtures/k6/SOURCES.md), and the API server's own rules on every object (names,
 * ConfigMap keys and size) that no CRD schema carries.
 */
export const TESTRUN_CRD_FILE = fileURLToPath(new URL('./k6-operator-testrun-crd.v1alpha1.json', import.meta.url));

export interface TestRunCrd {
  group: string;
  kind: string;
  version: string;
  openAPIV3Schema: OpenApiSchema;
}

const CrdFile = z.object({ group: z.string().min(1), kind: z.string().min(1), version: z.string().min(1), openAPIV3Schema: z.record(z.string(), z.unknown()) });

/** The vendored CRD; refused when it uses a schema keyword the validator would skip. */
export function loadTestRunCrd(file: string = TESTRUN_CRD_FILE): TestRunCrd {
  const crd = CrdFile.parse(JSON.parse(readFileSync(file, 'utf8')));
  const unknown = unknownSchemaKeywords(crd.openAPIV3Schema);
  if (unknown.length > 0) throw new Error(`${file}: schema keywords the manifest check does not know: ${unknown.join(', ')}`);
  return { ...crd, openAPIV3Schema: crd.openAPIV3Schema as OpenApiSchema };
}

/** RFC 1123 label (namespaces, volume names) and subdomain (object names), as Kubernetes checks them */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;
/** a ConfigMap's data plus binaryData (decoded), as the API server sums them */
const CONFIGMAP_MAX_BYTES = 1024 * 1024;

function nameProblems(o: K8sObject): string[] {
  const problems: string[] = [];
  const { name, namespace } = o.metadata;
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253) problems.push(`metadata.name "${name}": lower-case letters, digits, - and ., at most 253 characters`);
  if (namespace !== undefined && (!DNS_LABEL.test(namespace) || namespace.length > 63)) problems.push(`metadata.namespace "${namespace}": lower-case letters, digits and -, at most 63 characters`);
  return problems;
}

function configMapProblems(o: K8sObject): string[] {
  const data = (o['data'] ?? {}) as Record<string, string>;
  const binary = (o['binaryData'] ?? {}) as Record<string, string>;
  const problems = [...Object.keys(data), ...Object.keys(binary)]
    .filter((key) => !CONFIGMAP_KEY.test(key) || key.length > 253)
    .map((key) => `key "${key}": letters, digits, -, _ and . only (rename the file)`);
  const bytes = Object.values(data).reduce((n, v) => n + Buffer.byteLength(v), 0) + Object.values(binary).reduce((n, v) => n + Buffer.from(v, 'base64').length, 0);
  if (bytes > CONFIGMAP_MAX_BYTES) problems.push(`holds ${(bytes / 1024).toFixed(0)} KiB, above a ConfigMap's 1 MiB`);
  return problems;
}

/** Every problem of the manifest as `TestRun hsi-chaos-mixed: spec.parallelism: ...` lines (empty: it validates). */
export function manifestProblems(list: { items: readonly K8sObject[] }, crd: TestRunCrd): string[] {
  const problems: string[] = [];
  for (const o of list.items) {
    const own = nameProblems(o);
    if (o.kind === 'ConfigMap') own.push(...configMapProblems(o));
    if (o.kind === crd.kind) {
      if (o.apiVersion !== `${crd.group}/${crd.version}`) own.push(`apiVersion ${o.apiVersion}: the CRD serves ${crd.group}/${crd.version}`);
      own.push(...validateStructural(o, crd.openAPIV3Schema));
    }
    problems.push(...own.map((p) => `${o.kind} ${o.metadata.name}: ${p}`));
  }
  return problems;
}

/** The manifest unchanged when it validates; else a ConfigError naming the first problem (exit 2, nothing written). */
export function checkK6OperatorManifest<T extends { items: readonly K8sObject[] }>(list: T, crd: TestRunCrd = loadTestRunCrd()): T {
  const problems = manifestProblems(list, crd);
  if (problems.length === 0) return list;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  throw new ConfigError(`k6 operator: the manifest would be refused by Kubernetes (checked against the ${crd.kind} CRD ${crd.group}/${crd.version}): ${problems[0]}${more}; nothing written`);
}
