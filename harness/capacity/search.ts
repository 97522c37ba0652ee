import { ConfigError } from '../errors.ts';

/**
 * The knee search: coarse steps up (×factor from min, capped at max) until a step fails,
 * then bisection between the highest load that held and the lowest that did not, until
 * they are within `resolution` of each other. Pure: the caller measures each load and
 * records the verdict; `next()` says what to measure next, or undefined when done.
 */
export interface SearchBounds {
  /** Lowest load measured (uploads/s). */
  min: number;
  /** Highest load measured (uploads/s). */
  max: number;
  /** Coarse growth factor (> 1). */
  factor: number;
  /** Stop when (fail − pass) / pass ≤ this. */
  resolution: number;
}

export function validateBounds(b: SearchBounds): void {
  if (!(b.min > 0)) throw new ConfigError(`--min must be above 0 uploads/s (got ${b.min})`);
  if (!(b.max >= b.min)) throw new ConfigError(`--max (${b.max}) is below --min (${b.min}): the bounds are upside down`);
  if (!(b.factor > 1)) throw new ConfigError(`--step-factor must be above 1 (got ${b.factor})`);
  if (!(b.resolution > 0 && b.resolution < 1)) throw new ConfigError(`--resolution must be between 0 and 1 (got ${b.resolution})`);
}

export type SearchOutcome =
  /** The knee lies between `sustained` (held) and `failed` (did not). */
  | { kind: 'knee'; sustained: number; failed: number }
  /** Even the lowest load failed. */
  | { kind: 'below-min'; failed: number }
  /** The highest load held: the knee is above the bounds. */
  | { kind: 'above-max'; sustained: number };

export class KneeSearch {
  private readonly bounds: SearchBounds;
  private pass: number | undefined;
  private fail: number | undefined;
  private pending: number | undefined;
  private phase: 'coarse' | 'bisect' = 'coarse';

  constructor(bounds: SearchBounds) {
    validateBounds(bounds);
    this.bounds = bounds;
    this.pending = bounds.min;
  }

  get currentPhase(): 'coarse' | 'bisect' {
    return this.phase;
  }

  /** The next load to measure, or undefined when the search is over. */
  next(): number | undefined {
    return this.pending;
  }

  record(load: number, sustained: boolean): void {
    if (load !== this.pending) throw new Error(`search: recorded ${load}, expected ${this.pending}`);
    if (sustained) this.pass = Math.max(this.pass ?? 0, load);
    else this.fail = Math.min(this.fail ?? Infinity, load);
    this.pending = this.plan();
  }

  outcome(): SearchOutcome {
    if (this.pass === undefined) return { kind: 'below-min', failed: this.fail ?? this.bounds.min };
    if (this.fail === undefined) return { kind: 'above-max', sustained: this.pass };
    return { kind: 'knee', sustained: this.pass, failed: this.fail };
  }

  private plan(): number | undefined {
    const { max, factor, resolution } = this.bounds;
    if (this.pass === undefined) return undefined; // the lowest load failed
    if (this.fail === undefined) {
      if (this.pass >= max) return undefined;
      return Math.min(max, this.pass * factor);
    }
    this.phase = 'bisect';
    if ((this.fail - this.pass) / this.pass <= resolution) return undefined;
    return (this.pass + this.fail) / 2;
  }
}
