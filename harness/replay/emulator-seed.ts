import { createRng } from '../../reference-stack/detector-emulator/emulation.ts';

/**
 * Which calls of a partial error window fail, reproduced: the reference emulators decide each
 * faulted request with a seeded Bernoulli draw in arrival order (`reference-stack/common/
 * fault-knobs.ts`: the error stream of seed S is `createRng("S:error")`, a request fails when
 * its draw is below `error_rate`). At a rate of 0.43 over seven LLM calls, a seed left to
 * chance fails 0 to 7 of them (and any of them), so two replays of one incident differ by more
 * than the ±10 % error tolerance and their symptom windows by seconds. The incident's traces
 * say which calls failed, in order: a seed whose first draws give exactly that pattern at the
 * written rate makes the replay fail the same calls (by position in the window), as long as
 * its calls reach the hop in the same order. A few more draws after the pattern are required
 * to pass, so a call the replay makes beyond the incident's (a late retry inside the window)
 * does not add a failure.
 */

/** Draws after the incident's pattern that must pass (calls the replay may add at the window's end). */
export const TRAILING_PASSES = 2;
/**
 * Seeds tried before giving up (~1 s on this machine, 10–15 µs a seed): a 7-call pattern with 3
 * failures at 0.43 needs ~400, 20 calls with 5 failures at 0.25 ~140 000 on average.
 */
export const MAX_SEED_TRIES = 100_000;

/** Whether seed `seed` at `errorRate` fails exactly the calls `failed` marks, then passes `trailing` more. */
export function seedReproduces(seed: number, errorRate: number, failed: readonly boolean[], trailing = TRAILING_PASSES): boolean {
  const draw = createRng(`${seed}:error`);
  for (const f of failed) if (draw() < errorRate !== f) return false;
  for (let i = 0; i < trailing; i++) if (draw() < errorRate) return false;
  return true;
}

/** How many seeds a search tries on average before one reproduces the pattern: 1 / P(pattern). */
export function expectedTries(failed: readonly boolean[], errorRate: number, trailing = TRAILING_PASSES): number {
  const failures = failed.filter(Boolean).length;
  return 1 / (errorRate ** failures * (1 - errorRate) ** (failed.length - failures + trailing));
}

/**
 * The smallest seed (1, 2, …) reproducing the pattern at that rate, or undefined: at once when
 * a search would take more than a fifth of `maxTries` on average (a long pattern, whose failure
 * count varies less from replay to replay anyway), else after `maxTries` seeds (e^-5 of the time).
 */
export function seedForPattern(failed: readonly boolean[], errorRate: number, maxTries = MAX_SEED_TRIES): number | undefined {
  const failures = failed.filter(Boolean).length;
  if (failures === 0 || errorRate <= 0 || errorRate >= 1) return undefined;
  if (expectedTries(failed, errorRate) > maxTries / 5) return undefined;
  for (let seed = 1; seed <= maxTries; seed++) if (seedReproduces(seed, errorRate, failed)) return seed;
  return undefined;
}
