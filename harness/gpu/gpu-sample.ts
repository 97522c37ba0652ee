import { z } from 'zod';

/**
 * The GPU telemetry model: one reading per GPU per sample, every value nullable (a source
 * that does not report a value says null, never 0), and the lines of `gpu.ndjson`.
 * Units as nvidia-smi prints them with `nounits`: %, MiB, °C, W.
 */
export const NO_GPU_TELEMETRY = 'no GPU telemetry';

/** Where samples come from, in the fallback order of HSI's own GPU monitor. */
export const GPU_SOURCE_KINDS = ['nvidia-smi', 'backend-api', 'ai-health'] as const;
export type GpuSourceKind = (typeof GPU_SOURCE_KINDS)[number];

const nullableNumber = z.number().nullable();

export const GpuReadingSchema = z.object({
  index: z.number().int().min(0),
  name: z.string().nullable(),
  utilizationPct: nullableNumber,
  memoryUsedMiB: nullableNumber,
  memoryTotalMiB: nullableNumber,
  temperatureC: nullableNumber,
  powerW: nullableNumber,
});
export type GpuReading = z.infer<typeof GpuReadingSchema>;

/** A line of a source's output that could not be read (skipped, counted, kept for the record). */
export interface MalformedLine {
  line: string;
  reason: string;
  /** The GPU the line was about, when it starts with one (a cut-off row): that GPU is unread, not lost. */
  index?: number;
}

/** The lines of `results/<run>/gpu.ndjson`, written as the run goes. */
export const GpuNdjsonLineSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('source'), epochMs: z.number(), source: z.enum(GPU_SOURCE_KINDS).nullable(), label: z.string(), tried: z.array(z.object({ source: z.string(), reason: z.string() })) }),
  z.object({ kind: z.literal('sample'), epochMs: z.number(), source: z.enum(GPU_SOURCE_KINDS), gpus: z.array(GpuReadingSchema) }),
  z.object({ kind: z.literal('malformed'), epochMs: z.number(), line: z.string(), reason: z.string() }),
  z.object({ kind: z.literal('read-failed'), epochMs: z.number(), reason: z.string() }),
  z.object({ kind: z.literal('gpu-lost'), epochMs: z.number(), index: z.number().int(), name: z.string().nullable() }),
  z.object({ kind: z.literal('gpu-back'), epochMs: z.number(), index: z.number().int(), name: z.string().nullable() }),
]);
export type GpuNdjsonLine = z.infer<typeof GpuNdjsonLineSchema>;
export type GpuSample = Extract<GpuNdjsonLine, { kind: 'sample' }>;

/** What a source read: GPUs (possibly none left) plus the lines it skipped; or why it could not read. */
export type GpuReadResult = { ok: true; gpus: GpuReading[]; malformed: MalformedLine[] } | { ok: false; reason: string };

export interface GpuSource {
  readonly kind: GpuSourceKind;
  /** For people: "nvidia-smi (host)", "backend /api/system/gpu", … */
  readonly label: string;
  read(): Promise<GpuReadResult>;
}

/** used / total, or null when either is unknown (a fraction needs both; never a guessed total). */
export function memoryUsedFraction(reading: Pick<GpuReading, 'memoryUsedMiB' | 'memoryTotalMiB'>): number | null {
  const { memoryUsedMiB: used, memoryTotalMiB: total } = reading;
  if (used === null || total === null || total <= 0) return null;
  return used / total;
}

/** A reading with nothing measured in it is no reading (HSI's API answers all-null without a GPU). */
export function hasMeasurement(reading: GpuReading): boolean {
  return reading.utilizationPct !== null || reading.memoryUsedMiB !== null || reading.temperatureC !== null || reading.powerW !== null;
}
