import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError } from '../../errors.ts';
import type { Scenario } from '../../scenario/scenario-types.ts';
import { PROJECT_ROOT } from '../../scenario/load-scenario.ts';
import { K6_API_KEY_ENV } from './k6-runner.ts';
import { renderK6 } from './render-k6.ts';

/**
 * The same scenario, distributed: a k6-operator `TestRun` (k6.io/v1alpha1) with `parallelism`
 * runners, a ConfigMap holding the k6 script and the rendered scenario JSON, and one ConfigMap
 * of camera fixtures (binaryData) per fixture folder mounted on the runners, as one `v1/List`
 * that `kubectl create -f` takes (JSON is YAML; the fixture ConfigMaps are too big for a client-side
 * `kubectl apply`, whose last-applied annotation holds at most 256 KiB: `kubectl apply --server-side`).
 * The operator mounts the ConfigMap at /test and splits the executors across the runners
 * (execution segments), so rates and VUs stay the scenario's totals.
 */
export const K6_SCRIPT = join(PROJECT_ROOT, 'scenarios', 'k6', 'camera-uploads.ts');
/** where the k6-operator mounts `script.configMap` in its pods */
const MOUNT = '/test';
/** where the fixture ConfigMaps are mounted (runner volumes) */
const FIXTURES_MOUNT = '/fixtures';
/** a ConfigMap holds at most 1 MiB */
const CONFIGMAP_LIMIT = 1024 * 1024;
const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/**
 * The operator labels its pods `job-name: <name>-initializer` (and `-starter`, `-<n>`): a label
 * value of at most 63 characters, so the TestRun's name is at most 63 - 12.
 */
const MAX_NAME = 63 - '-initializer'.length;
/** a fixture folder as part of a ConfigMap name (lower-case letters, digits and -) */
const nameOfFolder = (folder: string) => folder.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'fixtures';

export interface K6OperatorOptions {
  /** the backend as the runner pods reach it, e.g. http://hsi-backend.hsi.svc:8000 */
  backendUrl: string;
  parallelism: number;
  namespace?: string;
  /** k6 image with the operator's conventions (default grafana/k6) */
  image?: string;
  /** resource name (default hsi-chaos-<scenario>) */
  name?: string;
  /** the stack's API key: runner env HSI_API_KEY from this Secret entry (the key never enters the manifest) */
  apiKeySecret?: { name: string; key: string } | undefined;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export function renderK6OperatorManifest(scenario: Scenario, options: K6OperatorOptions): { kind: 'List'; apiVersion: 'v1'; items: K8sObject[] } {
  const name = options.name ?? `hsi-chaos-${scenario.name}`;
  if (!K8S_NAME.test(name) || name.length > MAX_NAME) {
    throw new ConfigError(`k6-operator: name "${name}": lower-case letters, digits and -, at most ${MAX_NAME} (a Kubernetes name; the operator's job labels add "-initializer"); give --name`);
  }
  if (!Number.isInteger(options.parallelism) || options.parallelism < 1) throw new ConfigError(`k6-operator: parallelism must be a whole number of 1 or more, got ${options.parallelism}`);
  const rendered = renderK6(scenario, { backendUrl: options.backendUrl });
  const metadata = (n: string) => ({ name: n, ...(options.namespace ? { namespace: options.namespace } : {}), labels: { 'app.kubernetes.io/part-of': 'hsi-chaos', 'hsi-chaos/scenario': scenario.name } });
  // fixtures: one ConfigMap per fixture folder (each under 1 MiB), mounted at /fixtures/<folder>
  const folders = new Map<string, Record<string, string>>();
  rendered.cameras.forEach((camera, i) => {
    const folder = scenario.cameras[i]?.fixtures ?? camera.id;
    const files = folders.get(folder) ?? {};
    for (const file of camera.files) {
      const key = basename(file.path);
      files[key] ??= readFileSync(file.path).toString('base64');
      file.path = `${FIXTURES_MOUNT}/${folder}/${key}`;
    }
    folders.set(folder, files);
  });
  const fixtureMaps = [...folders].map(([folder, binaryData]): K8sObject => {
    const size = Object.values(binaryData).reduce((n, v) => n + v.length, 0);
    if (size > CONFIGMAP_LIMIT) throw new ConfigError(`k6-operator: fixture folder ${folder} takes ${(size / 1024).toFixed(0)} KiB in base64, above a ConfigMap's 1 MiB; give its cameras fewer files (files: [...])`);
    return { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata(`${name}-fx-${nameOfFolder(folder)}`), binaryData };
  });
  const data = { 'script.ts': readFileSync(K6_SCRIPT, 'utf8'), 'scenario.json': `${JSON.stringify(rendered, null, 2)}\n` };
  const configMap: K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata(`${name}-script`), data };
  const testRun: K8sObject = {
    apiVersion: 'k6.io/v1alpha1',
    kind: 'TestRun',
    metadata: metadata(name),
    spec: {
      parallelism: options.parallelism,
      script: { configMap: { name: `${name}-script`, file: 'script.ts' } },
      arguments: '--tag testid=hsi-chaos',
      cleanup: 'post',
      runner: {
        image: options.image ?? 'grafana/k6:latest',
        env: [
          { name: 'HSI_SCENARIO_JSON', value: `${MOUNT}/scenario.json` },
          { name: 'HSI_BACKEND_URL', value: options.backendUrl.replace(/\/+$/, '') },
          ...(options.apiKeySecret ? [{ name: K6_API_KEY_ENV, valueFrom: { secretKeyRef: { name: options.apiKeySecret.name, key: options.apiKeySecret.key } } }] : []),
        ],
        volumes: fixtureMaps.map((cm, i) => ({ name: `fixtures-${i}`, configMap: { name: cm.metadata.name } })),
        volumeMounts: [...folders.keys()].map((folder, i) => ({ name: `fixtures-${i}`, mountPath: `${FIXTURES_MOUNT}/${folder}`, readOnly: true })),
      },
    },
  };
  return { apiVersion: 'v1', kind: 'List', items: [configMap, ...fixtureMaps, testRun] };
}

/** An OpenAPI v3 schema node as Kubernetes CRDs write it (structural schemas). */
export interface OpenApiSchema {
  type?: string;
  description?: string;
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: OpenApiSchema | boolean;
  items?: OpenApiSchema;
  required?: string[];
  enum?: unknown[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  default?: unknown;
  anyOf?: OpenApiSchema[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
}

/**
 * Every schema keyword validateStructural reads or may ignore (annotations, merge strategies);
 * a CRD using any other keyword must not silently pass: see unknownSchemaKeywords.
 */
export const SCHEMA_KEYWORDS: ReadonlySet<string> = new Set([
  'type', 'description', 'properties', 'additionalProperties', 'items', 'required', 'enum', 'format', 'pattern', 'minLength', 'maxLength',
  'minimum', 'maximum', 'default', 'anyOf', 'x-kubernetes-int-or-string', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys', 'x-kubernetes-map-type',
]);

/** Keywords of a schema the validator does not know (empty: every rule of the schema is checked). */
export function unknownSchemaKeywords(schema: unknown): string[] {
  const found = new Set<string>();
  const walk = (node: unknown, inProperties: boolean): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, false));
    if (typeof node !== 'object' || node === null) return;
    for (const [k, v] of Object.entries(node)) {
      if (!inProperties && !SCHEMA_KEYWORDS.has(k)) found.add(k);
      if (k === 'enum' || k === 'required' || k === 'default' || k === 'x-kubernetes-list-map-keys') continue;
      walk(v, k === 'properties' && !inProperties);
    }
  };
  walk(schema, false);
  return [...found].sort();
}

const at = (path: string) => (path === '' ? '(root)' : path);
const child = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

function stringRules(value: string, schema: OpenApiSchema, path: string): string[] {
  const problems: string[] = [];
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${at(path)}: must be one of ${schema.enum.join(', ')}`);
  if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`${at(path)}: must match ${schema.pattern}`);
  if (schema.minLength !== undefined && value.length < schema.minLength) problems.push(`${at(path)}: at least ${schema.minLength} characters`);
  if (schema.maxLength !== undefined && value.length > schema.maxLength) problems.push(`${at(path)}: at most ${schema.maxLength} characters`);
  return problems;
}

function numberRules(value: number, schema: OpenApiSchema, path: string): string[] {
  const problems: string[] = [];
  if (schema.format === 'int32' && (value > 2 ** 31 - 1 || value < -(2 ** 31))) problems.push(`${at(path)}: out of int32 range`);
  if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${at(path)}: must be at least ${schema.minimum}`);
  if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${at(path)}: must be at most ${schema.maximum}`);
  return problems;
}

function objectRules(obj: Record<string, unknown>, schema: OpenApiSchema, path: string): string[] {
  const problems = (schema.required ?? []).filter((k) => !(k in obj)).map((k) => `${at(path)}: ${k} is required`);
  for (const [k, v] of Object.entries(obj)) {
    const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    if (sub) problems.push(...validateStructural(v, sub, child(path, k)));
    else if (schema.properties && !schema['x-kubernetes-preserve-unknown-fields']) problems.push(`${child(path, k)}: unknown field (the API server would drop it)`);
  }
  return problems;
}

/** `x-kubernetes-list-type: set | map`: the API server refuses duplicates (by value, or by the map keys). */
function listRules(list: unknown[], schema: OpenApiSchema, path: string): string[] {
  const type = schema['x-kubernetes-list-type'];
  if (type !== 'set' && type !== 'map') return [];
  const keys = schema['x-kubernetes-list-map-keys'] ?? [];
  const seen = new Set<string>();
  const problems: string[] = [];
  list.forEach((item, i) => {
    const id = type === 'set' ? JSON.stringify(item) : JSON.stringify(keys.map((k) => (item as Record<string, unknown> | null)?.[k]));
    if (seen.has(id)) problems.push(`${path}[${i}]: duplicate ${type === 'set' ? 'entry' : `${keys.join(', ')}`} in a list-type ${type}`);
    seen.add(id);
  });
  return problems;
}

/**
 * Checks a value against a CRD's structural schema the way the API server prunes and validates
 * it: types, required fields, enums, patterns, lengths, bounds, int32 ranges, int-or-string,
 * list-type set/map uniqueness, and no unknown fields (they would be pruned silently). Returns
 * the problems as `spec.runner.env[0].name: ...` lines.
 */
export function validateStructural(value: unknown, schema: OpenApiSchema, path = ''): string[] {
  if (schema['x-kubernetes-int-or-string']) {
    if (Number.isInteger(value)) return [];
    return typeof value === 'string' ? stringRules(value, schema, path) : [`${at(path)}: must be an integer or a string`];
  }
  switch (schema.type) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? objectRules(value as Record<string, unknown>, schema, path) : [`${at(path)}: must be an object`];
    case 'array':
      if (!Array.isArray(value)) return [`${at(path)}: must be an array`];
      return [...(schema.items ? value.flatMap((v, i) => validateStructural(v, schema.items as OpenApiSchema, `${path}[${i}]`)) : []), ...listRules(value, schema, path)];
    case 'string':
      return typeof value === 'string' ? stringRules(value, schema, path) : [`${at(path)}: must be a string`];
    case 'integer':
      return Number.isInteger(value) ? numberRules(value as number, schema, path) : [`${at(path)}: must be an integer`];
    case 'number':
      return typeof value === 'number' ? numberRules(value, schema, path) : [`${at(path)}: must be a number`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${at(path)}: must be a boolean`];
    default:
      return [];
  }
}
