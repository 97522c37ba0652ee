import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { loadFixtures } from '../../harness/load/fixtures.ts';
import { sendUpload, type UploadRecord } from '../../harness/load/upload-client.ts';
import type { StartedHsiStack } from '../../harness/stack/hsi-stack.ts';
import { JaegerQueryClient } from '../../harness/traces/jaeger-client.ts';
import type { NormalizedSpan, TraceTree } from '../../harness/traces/span-model.ts';
import { testConfig } from './stack-helpers.ts';

export const BACKEND = 'nemotron-backend';
export const DETECTOR = 'ai-yolo26-emulator';
export const LLM = 'ai-llm-emulator';

/** Pipeline settings that make a test run in seconds instead of the contract's minutes. */
export const FAST_PIPELINE = {
  BATCH_IDLE_TIMEOUT_SECONDS: '1',
  BATCH_WINDOW_SECONDS: '5',
  BATCH_CHECK_INTERVAL_SECONDS: '0.25',
  DETECTOR_MAX_RETRIES: '2',
  NEMOTRON_MAX_RETRIES: '2',
  DETECTOR_CB_RECOVERY_SECONDS: '3',
  YOLO26_READ_TIMEOUT: '5',
  NEMOTRON_READ_TIMEOUT: '10',
  FILE_WATCHER_STABLE_SECONDS: '0.5',
  FILE_WATCHER_DEBOUNCE_SECONDS: '0.2',
};
export const FAST_LLM = { EMULATOR_TIME_SCALE: '0.02' };

const fixtures = loadFixtures(testConfig().fixturesDir);

export function fixture(index = 0): { cameraId: string; name: string; bytes: Buffer; path: string } {
  const camera = fixtures[index % fixtures.length]!;
  const path = camera.files[Math.floor(index / fixtures.length) % camera.files.length]!;
  return { cameraId: camera.cameraId, name: path.split('/').pop()!, bytes: readFileSync(path), path };
}

export async function upload(stack: StartedHsiStack, index = 0, options: { sampled?: boolean; cameraId?: string } = {}): Promise<UploadRecord> {
  const f = fixture(index);
  return sendUpload({
    backendUrl: stack.getBackendUrl(),
    cameraId: options.cameraId ?? f.cameraId,
    fileName: f.name,
    bytes: f.bytes,
    ...(options.sampled !== undefined ? { sampled: options.sampled } : {}),
  });
}

export function jaegerOf(stack: StartedHsiStack): JaegerQueryClient {
  return new JaegerQueryClient({ baseUrl: stack.getJaegerQueryUrl() });
}

export async function trace(stack: StartedHsiStack, traceId: string, services: string[], spanNames: string[], timeoutMs = 30_000): Promise<TraceTree> {
  return jaegerOf(stack).waitForTrace(traceId, { expectedServices: services, expectedSpanNames: spanNames, timeoutMs, pollIntervalMs: 400 });
}

export function one(tree: TraceTree, predicate: (s: NormalizedSpan) => boolean, what: string): NormalizedSpan {
  const span = tree.spans.find(predicate);
  if (!span) throw new Error(`${what} not in trace ${tree.traceId} (spans: ${tree.spans.map((s) => `${s.service}/${s.name}`).join(', ')})`);
  return span;
}

export async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await request(url, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: res.statusCode, body: (await res.body.json()) as T };
}

export async function postJson<T>(url: string, payload: unknown): Promise<{ status: number; body: T }> {
  const res = await request(url, { method: 'POST', body: JSON.stringify(payload), headers: { 'content-type': 'application/json' }, headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, body: (await res.body.json()) as T };
}

export async function setProxyEnabled(stack: StartedHsiStack, name: string, enabled: boolean): Promise<void> {
  const p = await stack.toxiproxy.client.get(name);
  await p.update({ enabled, listen: p.listen, upstream: p.upstream });
}

/** Spans of every trace the backend started in a time window (worker-started traces included). */
export async function backendTraces(stack: StartedHsiStack, operation: string, sinceMs: number): Promise<TraceTree[]> {
  return jaegerOf(stack).findTraces({ service: BACKEND, operation, startMin: new Date(sinceMs - 1000), startMax: new Date(Date.now() + 1000), limit: 200 });
}
