import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { describeIssue } from '../config/validation.ts';
import { formatDurationMs, parseDurationMs } from '../util/duration.ts';

/**
 * The fault timeline of a scenario: entries `{ at, duration, target, fault }`.
 * A fault is a Toxiproxy toxic (per connection, L4), `down` (proxy disabled), or an
 * emulator fault (per request: error rate, status code, delay) for the reference
 * stack's AI emulators, which Toxiproxy cannot make.
 */
const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDurationMs(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(value)} (use e.g. "500ms", "30s", "1m30s")` });
    return z.NEVER;
  }
  return ms;
});

const nonNegative = z.number().finite().min(0);
const common = {
  stream: z.enum(['upstream', 'downstream']).default('downstream'),
  toxicity: z.number().min(0).max(1).default(1),
};

export const ToxicFaultSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('latency'), latency: nonNegative, jitter: nonNegative.default(0), ...common }).strict(),
  z.object({ type: z.literal('bandwidth'), rate: nonNegative, ...common }).strict(),
  z.object({ type: z.literal('slow_close'), delay: nonNegative, ...common }).strict(),
  z.object({ type: z.literal('timeout'), timeout: nonNegative, ...common }).strict(),
  z.object({ type: z.literal('reset_peer'), timeout: nonNegative.default(0), ...common }).strict(),
  z.object({ type: z.literal('slicer'), average_size: z.number().int().positive(), size_variation: nonNegative.default(0), delay: nonNegative.default(0), ...common }).strict(),
  z.object({ type: z.literal('limit_data'), bytes: z.number().int().min(0), ...common }).strict(),
]);

export const FaultSchema = z.union([
  ToxicFaultSchema,
  z.object({ type: z.literal('down') }).strict(),
  z
    .object({
      type: z.literal('emulator'),
      error_rate: z.number().min(0).max(1).default(0),
      status_code: z.number().int().min(400).max(599).default(503),
      delay_ms: nonNegative.default(0),
      delay_jitter_ms: nonNegative.default(0),
      seed: z.union([z.string(), z.number()]).optional(),
    })
    .strict(),
], { error: () => 'unknown fault: type must be latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, down or emulator' });

export const FaultEntrySchema = z
  .object({
    name: z.string().regex(/^[a-z0-9_.-]{1,64}$/i).optional(),
    at: duration,
    duration,
    target: z.string().min(1),
    fault: FaultSchema,
  })
  .strict();

export type ToxicFault = z.infer<typeof ToxicFaultSchema>;
export type Fault = z.infer<typeof FaultSchema>;
/** An entry as written in a scenario (durations as text or ms). */
export type FaultEntryInput = z.input<typeof FaultEntrySchema>;

/** A validated entry: times in ms from the load's start, a unique toxic name. */
export interface PlannedFault {
  index: number;
  name: string;
  target: string;
  atMs: number;
  durationMs: number;
  fault: Fault;
}

export const EMULATOR_TARGETS = ['detector', 'llm'] as const;

export interface TimelineContext {
  /** Proxies that exist (Toxiproxy proxy names = chaos targets). */
  targets: readonly string[];
  /** Length of the load; a fault must end inside it. */
  runDurationMs?: number;
  source?: string;
}

function describe(entry: PlannedFault): string {
  return `faults[${entry.index}] (${entry.name} on ${entry.target} at ${formatDurationMs(entry.atMs)})`;
}

/**
 * Validates a timeline before anything starts: unknown toxic or target, a fault outside
 * the run, overlapping toxics of the same name on one proxy, overlapping emulator faults
 * on one emulator (their admin endpoint holds a single setting). One line per problem.
 */
export function planFaultTimeline(entries: readonly unknown[], ctx: TimelineContext): PlannedFault[] {
  const source = ctx.source ?? 'scenario';
  const planned: PlannedFault[] = entries.map((raw, index) => {
    const parsed = FaultEntrySchema.safeParse(raw);
    if (!parsed.success) {
      throw new ConfigError(describeIssue(`${source}: faults[${index}]`, parsed.error).replace(`faults[${index}]: `, `faults[${index}].`));
    }
    const e = parsed.data;
    return { index, name: e.name ?? `${e.fault.type}-${e.target}-${index}`, target: e.target, atMs: e.at, durationMs: e.duration, fault: e.fault };
  });
  for (const p of planned) {
    if (p.fault.type === 'emulator') {
      if (!(EMULATOR_TARGETS as readonly string[]).includes(p.target)) {
        throw new ConfigError(`${source}: ${describe(p)}: target "${p.target}" has no emulator fault endpoint; use one of ${EMULATOR_TARGETS.join(', ')}`);
      }
    } else if (!ctx.targets.includes(p.target)) {
      throw new ConfigError(`${source}: ${describe(p)}: unknown target "${p.target}"; known: ${ctx.targets.join(', ')}`);
    }
    if (p.durationMs <= 0) throw new ConfigError(`${source}: ${describe(p)}: duration must be above 0`);
    if (ctx.runDurationMs !== undefined && p.atMs + p.durationMs > ctx.runDurationMs) {
      throw new ConfigError(
        `${source}: ${describe(p)}: ends at ${formatDurationMs(p.atMs + p.durationMs)}, after the load ends (${formatDurationMs(ctx.runDurationMs)}); shorten it or start it earlier`,
      );
    }
  }
  for (let i = 0; i < planned.length; i++) {
    for (let j = i + 1; j < planned.length; j++) {
      const a = planned[i]!;
      const b = planned[j]!;
      if (a.target !== b.target) continue;
      const overlap = a.atMs < b.atMs + b.durationMs && b.atMs < a.atMs + a.durationMs;
      if (!overlap) continue;
      const bothEmulator = a.fault.type === 'emulator' && b.fault.type === 'emulator';
      if (a.name === b.name || bothEmulator) {
        throw new ConfigError(`${source}: ${describe(b)} overlaps ${describe(a)}${bothEmulator ? ' (one emulator fault at a time per service)' : ' with the same toxic name'}; rename or move one`);
      }
    }
  }
  return planned;
}
