import { seededRandom } from '../util/random.ts';
import type { FaultEntryInput } from './fault-schema.ts';

/**
 * A seeded random fault schedule: the same seed gives the same schedule, so a chaos
 * run that found something can be replayed exactly. Faults on one target never overlap.
 */
export interface RandomScheduleOptions {
  seed: string | number;
  runDurationMs: number;
  /** Candidate faults: one is drawn per slot, with its target. */
  candidates: readonly Pick<FaultEntryInput, 'target' | 'fault'>[];
  count: number;
  minDurationMs: number;
  maxDurationMs: number;
  /** Quiet time at the start and end of the run (baseline and recovery). */
  marginMs?: number;
}

export function randomFaultSchedule(options: RandomScheduleOptions): FaultEntryInput[] {
  const rnd = seededRandom(options.seed);
  const margin = options.marginMs ?? Math.min(10_000, options.runDurationMs / 6);
  const busy = new Map<string, { start: number; end: number }[]>();
  const entries: FaultEntryInput[] = [];
  const latestEnd = options.runDurationMs - margin;
  for (let attempt = 0; entries.length < options.count && attempt < options.count * 50; attempt++) {
    const candidate = options.candidates[Math.floor(rnd() * options.candidates.length)];
    if (!candidate) break;
    const duration = Math.round(options.minDurationMs + rnd() * (options.maxDurationMs - options.minDurationMs));
    const room = latestEnd - margin - duration;
    if (room < 0) continue;
    const start = Math.round(margin + rnd() * room);
    const windows = busy.get(candidate.target) ?? [];
    if (windows.some((w) => start < w.end && w.start < start + duration)) continue;
    windows.push({ start, end: start + duration });
    busy.set(candidate.target, windows);
    entries.push({ name: `random-${entries.length}`, at: start, duration, target: candidate.target, fault: candidate.fault });
  }
  return entries.sort((a, b) => Number(a.at) - Number(b.at));
}
