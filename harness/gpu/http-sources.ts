import { request } from 'undici';
import { z } from 'zod';
import { HSI_ROUTES } from '../contract/hsi-api.ts';
import type { HsiHttpClient } from '../dialect/hsi-http.ts';
import { describeIssue } from '../config/validation.ts';
import { errorMessage } from '../errors.ts';
import { hasMeasurement, type GpuReading, type GpuReadResult, type GpuSource } from './gpu-sample.ts';

/**
 * Sources 2 and 3: the backend's `GET /api/system/gpu` and the AI services' `GET /health`.
 * Both validated with zod at the edge. Neither counts when it has nothing measured: the
 * reference backend answers nulls (and `emulated: true`) without a GPU, its emulators report
 * modelled VRAM only, and the real HSI's monitor falls back to mock data named
 * "Mock GPU (Development Mode)" when it finds no GPU.
 */
const num = z.number().nullable().optional();

/** The contract's names (`gpu_utilization`) and the real HSI's (`utilization`, `power_usage`). */
export const BackendGpuSchema = z
  .object({
    gpu_utilization: num,
    utilization: num,
    memory_used: num,
    memory_total: num,
    temperature: num,
    power_usage: num,
    inference_fps: num,
    gpu_name: z.string().nullable().optional(),
    emulated: z.boolean().optional(),
  })
  .loose();

/** What HSI's AI containers put in /health (the detector: `vram_used_gb`; RT-DETR also utilisation, temperature, power). */
export const AiHealthSchema = z
  .object({
    device: z.string().nullable().optional(),
    cuda_available: z.boolean().nullable().optional(),
    vram_used_gb: num,
    vram_total_gb: num,
    gpu_utilization: num,
    temperature: num,
    power_watts: num,
    emulated: z.boolean().optional(),
  })
  .loose();

const MOCK_GPU_NAME = /^mock gpu/i;

export type ParsedGpuAnswer = { ok: true; reading: GpuReading } | { ok: false; reason: string };

export function parseBackendGpu(body: unknown, source: string = HSI_ROUTES.systemGpu): ParsedGpuAnswer {
  const parsed = BackendGpuSchema.safeParse(body);
  if (!parsed.success) return { ok: false, reason: describeIssue(source, parsed.error) };
  const b = parsed.data;
  if (b.emulated === true) return { ok: false, reason: 'emulated AI services, no GPU' };
  if (b.gpu_name && MOCK_GPU_NAME.test(b.gpu_name)) return { ok: false, reason: `mock data ("${b.gpu_name}"): the backend found no GPU` };
  const reading: GpuReading = {
    index: 0,
    name: b.gpu_name ?? null,
    utilizationPct: b.utilization ?? b.gpu_utilization ?? null,
    memoryUsedMiB: b.memory_used ?? null,
    memoryTotalMiB: b.memory_total ?? null,
    temperatureC: b.temperature ?? null,
    powerW: b.power_usage ?? null,
  };
  return hasMeasurement(reading) ? { ok: true, reading } : { ok: false, reason: 'every GPU field is null (no GPU)' };
}

/** The AI services' answers, summed the way HSI's monitor sums them: VRAM added up, other values from the first that has them. */
export function parseAiHealth(bodies: Record<string, unknown>): ParsedGpuAnswer {
  const reasons: string[] = [];
  const used: number[] = [];
  const totals: number[] = [];
  let util: number | null = null;
  let temp: number | null = null;
  let power: number | null = null;
  for (const [service, body] of Object.entries(bodies)) {
    const parsed = AiHealthSchema.safeParse(body);
    if (!parsed.success) {
      reasons.push(describeIssue(`${service} /health`, parsed.error));
      continue;
    }
    const h = parsed.data;
    if (h.emulated === true || h.device === 'cpu-emulated') {
      reasons.push(`${service}: emulator${typeof h.vram_used_gb === 'number' && h.vram_used_gb > 0 ? ` (modelled VRAM ${h.vram_used_gb} GB, not measured)` : ''}`);
      continue;
    }
    if (h.cuda_available === false) {
      reasons.push(`${service}: no CUDA`);
      continue;
    }
    if (typeof h.vram_used_gb === 'number') used.push(h.vram_used_gb * 1024);
    if (typeof h.vram_total_gb === 'number') totals.push(h.vram_total_gb * 1024);
    util ??= h.gpu_utilization ?? null;
    temp ??= h.temperature ?? null;
    power ??= h.power_watts ?? null;
    if (h.vram_used_gb == null && h.gpu_utilization == null) reasons.push(`${service}: no GPU fields`);
  }
  const sum = (xs: number[]) => (xs.length === 0 ? null : Math.round(xs.reduce((s, x) => s + x, 0)));
  const reading: GpuReading = {
    index: 0,
    name: `via AI services' /health (${Object.keys(bodies).join(', ')})`,
    utilizationPct: util,
    memoryUsedMiB: sum(used),
    // Only a total a service reports; HSI's own monitor assumes 24576 MiB, which this does not.
    memoryTotalMiB: totals.length === 0 ? null : Math.max(...totals.map(Math.round)),
    temperatureC: temp,
    powerW: power,
  };
  return hasMeasurement(reading) ? { ok: true, reading } : { ok: false, reason: reasons.length > 0 ? reasons.join('; ') : 'no service answered' };
}

async function getJson(url: URL, timeoutMs: number): Promise<{ ok: true; body: unknown } | { ok: false; reason: string }> {
  try {
    const res = await request(url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const text = await res.body.text();
    if (res.statusCode !== 200) return { ok: false, reason: `HTTP ${res.statusCode}` };
    try {
      return { ok: true, body: JSON.parse(text) as unknown };
    } catch {
      return { ok: false, reason: 'answer is not JSON' };
    }
  } catch (error) {
    return { ok: false, reason: errorMessage(error) };
  }
}

export class BackendGpuSource implements GpuSource {
  readonly kind = 'backend-api' as const;
  readonly label = `backend ${HSI_ROUTES.systemGpu}`;
  private readonly url: URL;
  private readonly timeoutMs: number;
  private readonly http: HsiHttpClient | undefined;

  /** `http`: the stack's client (API key, 429 back-off); default a plain request. */
  constructor(backendUrl: string, timeoutMs = 3_000, http?: HsiHttpClient) {
    this.timeoutMs = timeoutMs;
    this.url = new URL(HSI_ROUTES.systemGpu, backendUrl);
    this.http = http;
  }

  private async answer(): Promise<{ ok: true; body: unknown } | { ok: false; reason: string }> {
    if (!this.http) return getJson(this.url, this.timeoutMs);
    try {
      const res = await this.http.getJson(this.url, this.timeoutMs);
      if (res.status !== 200) return { ok: false, reason: `HTTP ${res.status}` };
      return res.body === undefined ? { ok: false, reason: 'answer is not JSON' } : { ok: true, body: res.body };
    } catch (error) {
      return { ok: false, reason: errorMessage(error) };
    }
  }

  async read(): Promise<GpuReadResult> {
    const answer = await this.answer();
    if (!answer.ok) return answer;
    const parsed = parseBackendGpu(answer.body);
    return parsed.ok ? { ok: true, gpus: [parsed.reading], malformed: [] } : parsed;
  }
}

export class AiHealthSource implements GpuSource {
  readonly kind = 'ai-health' as const;
  readonly label: string;
  private readonly urls: [string, URL][];
  private readonly timeoutMs: number;

  /** `services`: base URL by service name, e.g. `{ detector: 'http://127.0.0.1:32771' }`. */
  constructor(services: Record<string, string>, timeoutMs = 3_000) {
    this.timeoutMs = timeoutMs;
    this.urls = Object.entries(services).map(([name, base]) => [name, new URL('/health', base)]);
    this.label = `AI services' /health (${Object.keys(services).join(', ')})`;
  }

  async read(): Promise<GpuReadResult> {
    if (this.urls.length === 0) return { ok: false, reason: 'no AI service URLs known' };
    const bodies: Record<string, unknown> = {};
    const failures: string[] = [];
    const answers = await Promise.all(this.urls.map(async ([name, url]) => [name, await getJson(url, this.timeoutMs)] as const));
    for (const [name, answer] of answers) {
      if (answer.ok) bodies[name] = answer.body;
      else failures.push(`${name}: ${answer.reason}`);
    }
    if (Object.keys(bodies).length === 0) return { ok: false, reason: failures.join('; ') };
    const parsed = parseAiHealth(bodies);
    if (!parsed.ok) return { ok: false, reason: [parsed.reason, ...failures].join('; ') };
    return { ok: true, gpus: [parsed.reading], malformed: [] };
  }
}
