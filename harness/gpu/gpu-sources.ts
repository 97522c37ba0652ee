import type { HsiHttpClient } from '../dialect/hsi-http.ts';
import { AiHealthSource, BackendGpuSource } from './http-sources.ts';
import type { GpuSource } from './gpu-sample.ts';
import { NvidiaSmiSource } from './nvidia-smi.ts';

/** Where a stack's GPU telemetry can come from; every part optional (an external stack may give only a backend). */
export interface GpuSourceTargets {
  /** Try nvidia-smi on this machine (default true). */
  host?: boolean;
  /** AI containers that were given GPUs: `docker exec` nvidia-smi in each (id, and a name for people). */
  gpuContainers?: { id: string; name: string }[];
  backendUrl?: string;
  /** The stack's client for the backend (API key, 429 back-off). */
  backendHttp?: HsiHttpClient;
  /** AI services' base URLs by name, for /health. */
  aiServices?: Record<string, string>;
}

/** The sources in HSI's GPU monitor's fallback order: nvidia-smi (host, then containers), backend API, AI /health. */
export function gpuSourcesFor(targets: GpuSourceTargets): GpuSource[] {
  const sources: GpuSource[] = [];
  if (targets.host ?? true) sources.push(new NvidiaSmiSource({ kind: 'host' }));
  for (const c of targets.gpuContainers ?? []) sources.push(new NvidiaSmiSource({ kind: 'container', container: c.id, name: c.name }));
  if (targets.backendUrl) sources.push(new BackendGpuSource(targets.backendUrl, 3_000, targets.backendHttp));
  if (targets.aiServices && Object.keys(targets.aiServices).length > 0) sources.push(new AiHealthSource(targets.aiServices));
  return sources;
}
