import { z } from 'zod';
import { errorMessage } from '../errors.ts';
import { run, type ExecResult } from '../util/exec.ts';
import type { GpuReading, GpuReadResult, GpuSource, MalformedLine } from './gpu-sample.ts';

/**
 * Source 1: `nvidia-smi --query-gpu=… --format=csv,noheader,nounits`, on the host or with
 * `docker exec` in an AI container that has the GPU. One CSV line per GPU, e.g.
 * `0, NVIDIA RTX A5500, 35, 175, 24564, 39, 29.61`; unsupported values print as `[N/A]` or
 * `[Not Supported]` (null here). A line that is not such a row (an error text, a cut-off
 * line) is skipped and counted; the GPUs on the other lines still count.
 */
export const NVIDIA_SMI_FIELDS = ['index', 'name', 'utilization.gpu', 'memory.used', 'memory.total', 'temperature.gpu', 'power.draw'] as const;
export const NVIDIA_SMI_ARGS = [`--query-gpu=${NVIDIA_SMI_FIELDS.join(',')}`, '--format=csv,noheader,nounits'] as const;

const NOT_AVAILABLE = new Set(['[N/A]', 'N/A', '[Not Supported]', '[Unknown Error]', '[Insufficient Permissions]']);

/** A number as nvidia-smi prints it, or null for its not-available markers; never "" → 0. */
const value = (min: number, max: number) =>
  z.string().transform((text, ctx) => {
    if (NOT_AVAILABLE.has(text)) return null;
    if (!/^-?\d+(\.\d+)?$/.test(text)) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a number` });
      return z.NEVER;
    }
    const v = Number(text);
    if (v < min || v > max) {
      ctx.addIssue({ code: 'custom', message: `${v} is outside ${min}..${max}` });
      return z.NEVER;
    }
    return v;
  });

const RowSchema = z.object({
  index: z.string().regex(/^\d+$/, 'expected a GPU index').transform(Number),
  name: z.string().min(1, 'expected a GPU name'),
  utilizationPct: value(0, 100),
  memoryUsedMiB: value(0, Number.MAX_SAFE_INTEGER),
  memoryTotalMiB: value(0, Number.MAX_SAFE_INTEGER),
  temperatureC: value(-50, 200),
  powerW: value(0, 100_000),
});

/** One CSV row → a reading, or why it is not one. A GPU name with a comma keeps its comma. */
export function parseNvidiaSmiLine(line: string): { reading: GpuReading } | { reason: string } {
  if (!/^\d+\s*,/.test(line)) return { reason: `not a CSV row of nvidia-smi: "${line.slice(0, 80)}"` };
  const cells = line.split(',').map((c) => c.trim());
  if (cells.length < NVIDIA_SMI_FIELDS.length) return { reason: `${cells.length} of ${NVIDIA_SMI_FIELDS.length} fields` };
  const tail = cells.slice(-5);
  const row = { index: cells[0], name: cells.slice(1, cells.length - 5).join(', '), utilizationPct: tail[0], memoryUsedMiB: tail[1], memoryTotalMiB: tail[2], temperatureC: tail[3], powerW: tail[4] };
  const parsed = RowSchema.safeParse(row);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { reason: `${issue?.path.join('.') ?? 'row'}: ${issue?.message ?? 'invalid'}` };
  }
  const r = parsed.data;
  if (r.memoryUsedMiB !== null && r.memoryTotalMiB !== null && r.memoryUsedMiB > r.memoryTotalMiB) return { reason: `memory.used ${r.memoryUsedMiB} > memory.total ${r.memoryTotalMiB}` };
  return { reading: r };
}

/** The whole output: readings, and the lines that were skipped (counted by the sampler). */
export function parseNvidiaSmiCsv(stdout: string): { gpus: GpuReading[]; malformed: MalformedLine[] } {
  const gpus: GpuReading[] = [];
  const malformed: MalformedLine[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const parsed = parseNvidiaSmiLine(line);
    if ('reading' in parsed) {
      gpus.push(parsed.reading);
      continue;
    }
    const index = /^(\d+)\s*,/.exec(line)?.[1];
    malformed.push(index === undefined ? { line, reason: parsed.reason } : { line, reason: parsed.reason, index: Number(index) });
  }
  return { gpus, malformed };
}

/** How to run it: on the host, or inside a container (`docker exec <id> nvidia-smi …`). */
export type NvidiaSmiPlace = { kind: 'host'; command?: string } | { kind: 'container'; container: string; name?: string };

export type CommandRunner = (command: string, args: readonly string[], options: { timeoutMs: number }) => Promise<ExecResult>;

export class NvidiaSmiSource implements GpuSource {
  readonly kind = 'nvidia-smi' as const;
  readonly label: string;
  private readonly place: NvidiaSmiPlace;
  private readonly runner: CommandRunner;
  private readonly timeoutMs: number;

  constructor(place: NvidiaSmiPlace = { kind: 'host' }, options: { runner?: CommandRunner; timeoutMs?: number } = {}) {
    this.place = place;
    this.runner = options.runner ?? run;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.label = place.kind === 'host' ? 'nvidia-smi (host)' : `nvidia-smi in container ${place.name ?? place.container}`;
  }

  async read(): Promise<GpuReadResult> {
    const [command, args] =
      this.place.kind === 'host' ? [this.place.command ?? 'nvidia-smi', [...NVIDIA_SMI_ARGS]] : ['docker', ['exec', this.place.container, 'nvidia-smi', ...NVIDIA_SMI_ARGS]];
    let result: ExecResult;
    try {
      result = await this.runner(command, args, { timeoutMs: this.timeoutMs });
    } catch (error) {
      const notFound = (error as NodeJS.ErrnoException).code === 'ENOENT';
      return { ok: false, reason: notFound ? `${command} not found on PATH` : errorMessage(error) };
    }
    const { gpus, malformed } = parseNvidiaSmiCsv(result.stdout);
    // A lost GPU makes nvidia-smi exit non-zero while it still prints the GPUs it can read.
    if (result.code !== 0 && gpus.length === 0) {
      const text = (result.stderr || result.stdout).trim().split('\n')[0] ?? '';
      const inContainer = this.place.kind === 'container' && result.code === 127 ? ' (not in this container)' : '';
      return { ok: false, reason: `exit ${result.code}${inContainer}${text ? `: ${text}` : ''}` };
    }
    return { ok: true, gpus, malformed };
  }
}
