import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { z } from 'zod';
import { HSI_ROUTES, QueueStatusResponse } from '../contract/hsi-api.ts';
import { HsiHttpClient } from '../dialect/hsi-http.ts';
import { errorMessage } from '../errors.ts';

/**
 * What the capacity search reads from the running stack besides traces: the AI services'
 * /health (slots, service time, the emulators' analytic capacity) and the backend's
 * /api/queues/status (backlog and dead-letter depth), polled through each step.
 */

async function getJson(url: URL, timeoutMs = 5_000): Promise<unknown> {
  const res = await request(url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${url.href}: HTTP ${res.statusCode}`);
  return JSON.parse(text) as unknown;
}

const DetectorHealthSlots = z
  .object({
    slots: z.number().int().positive().optional(),
    /** The ONNX Runtime detector's inferences at once (its slots). */
    concurrency: z.number().int().positive().optional(),
    /** Its CPUs and ONNX Runtime threads per inference (a CPU host: the work shares these cores). */
    cpus: z.number().int().positive().optional(),
    threads: z.number().int().positive().optional(),
    device: z.string().optional(),
    analytic_capacity_rps: z.number().positive().optional(),
    service_time_ms: z.object({ mean: z.number().positive() }).loose().optional(),
    vram_used_gb: z.number().nullable().optional(),
    emulated: z.boolean().optional(),
  })
  .loose();

const LlmHealthSlots = z
  .object({
    slots: z.number().int().positive().optional(),
    analytic_capacity_rps: z.number().positive().optional(),
    timing: z.object({ typical_request_ms: z.number().positive() }).loose().optional(),
    vram_used_gb: z.number().nullable().optional(),
    emulated: z.boolean().optional(),
  })
  .loose();

/** One AI service as its /health describes it; any field may be missing on a real server. */
export interface AiServiceInfo {
  url: string;
  slots?: number;
  /** Mean service time per request, ms. */
  serviceMs?: number;
  /** The emulator's own slots / mean service time, requests/s. */
  analyticCapacityRps?: number;
  vramUsedGb?: number;
  emulated?: boolean;
  /** A CPU engine's CPUs and threads per call (its work competes for them). */
  cpu?: { cpus: number; threadsPerCall: number };
  /** Why nothing could be read. */
  error?: string;
}

export async function readDetectorHealth(base: string): Promise<AiServiceInfo> {
  try {
    const h = DetectorHealthSlots.parse(await getJson(new URL('/health', base)));
    const slots = h.slots ?? h.concurrency;
    const onCpu = h.device === 'cpu' && h.cpus !== undefined;
    return {
      url: base,
      ...(slots !== undefined ? { slots } : {}),
      ...(onCpu ? { cpu: { cpus: h.cpus!, threadsPerCall: h.threads ?? 1 } } : {}),
      ...(h.service_time_ms ? { serviceMs: h.service_time_ms.mean } : {}),
      ...(h.analytic_capacity_rps !== undefined ? { analyticCapacityRps: h.analytic_capacity_rps } : {}),
      ...(typeof h.vram_used_gb === 'number' ? { vramUsedGb: h.vram_used_gb } : {}),
      ...(h.emulated !== undefined ? { emulated: h.emulated } : {}),
    };
  } catch (error) {
    return { url: base, error: errorMessage(error) };
  }
}

export async function readLlmHealth(base: string): Promise<AiServiceInfo> {
  try {
    const h = LlmHealthSlots.parse(await getJson(new URL('/health', base)));
    return {
      url: base,
      ...(h.slots !== undefined ? { slots: h.slots } : {}),
      ...(h.timing ? { serviceMs: h.timing.typical_request_ms } : {}),
      ...(h.analytic_capacity_rps !== undefined ? { analyticCapacityRps: h.analytic_capacity_rps } : {}),
      ...(typeof h.vram_used_gb === 'number' ? { vramUsedGb: h.vram_used_gb } : {}),
      ...(h.emulated !== undefined ? { emulated: h.emulated } : {}),
    };
  } catch (error) {
    return { url: base, error: errorMessage(error) };
  }
}

/**
 * /api/queues/status in both dialects (the contract's `QueueStatusResponse`): the reference
 * stack's names and the real HSI's (`detection`, `ai_analysis`, `dlq`, with throughput);
 * dead-letter queues have "dlq" in their name.
 */
const QueueStatus = QueueStatusResponse;

export interface QueueSample {
  /** Epoch ms of the answer. */
  atMs: number;
  /** Jobs queued plus jobs being worked on, over the work queues. */
  backlog: number;
  /** Detection queue: queued + running. */
  detection: number;
  /** Dead-letter entries over every DLQ. */
  deadLetters: number;
}

export function queueSampleOf(body: unknown, atMs: number): QueueSample {
  const q = QueueStatus.parse(body);
  let backlog = 0;
  let detection = 0;
  let deadLetters = 0;
  for (const queue of q.queues) {
    if (queue.name.includes('dlq')) {
      deadLetters += queue.depth;
      continue;
    }
    const n = queue.depth + (queue.running ?? 0);
    backlog += n;
    if (queue.name.startsWith('detection')) detection += n;
  }
  return { atMs, backlog, detection, deadLetters };
}

/** Polls the backend's queue status every `everyMs` until stopped; keeps every sample. */
export class QueueMonitor {
  readonly samples: QueueSample[] = [];
  readonly errors: string[] = [];
  private readonly url: URL;
  private readonly everyMs: number;
  private running: Promise<void> | undefined;
  private stopped = false;

  private readonly http: HsiHttpClient;

  /** `http`: the stack's client (API key; a 429 is waited out as Retry-After says, and counted for the run). */
  constructor(backendUrl: string, everyMs = 500, http: HsiHttpClient = new HsiHttpClient()) {
    this.url = new URL(HSI_ROUTES.queueStatus, backendUrl);
    this.everyMs = everyMs;
    this.http = http;
  }

  start(): this {
    this.running ??= this.loop();
    return this;
  }

  async sampleOnce(): Promise<QueueSample | undefined> {
    try {
      const res = await this.http.getJson(this.url, 3_000);
      if (res.status !== 200) throw new Error(`${this.url.href}: HTTP ${res.status}`);
      const sample = queueSampleOf(res.body, Date.now());
      this.samples.push(sample);
      return sample;
    } catch (error) {
      if (this.errors.length < 20) this.errors.push(errorMessage(error));
      return undefined;
    }
  }

  /** Samples taken in [fromMs, toMs). */
  between(fromMs: number, toMs: number): QueueSample[] {
    return this.samples.filter((s) => s.atMs >= fromMs && s.atMs < toMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const started = Date.now();
      await this.sampleOnce();
      await sleep(Math.max(0, this.everyMs - (Date.now() - started)));
    }
  }
}
