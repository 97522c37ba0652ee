/** How often a rate-limited backend answered the harness with 429, over a run (pure: reports import it). */

export interface RateLimitStats {
  /** 429 answers seen. */
  responses429: number;
  /** Requests sent again after a 429. */
  retries: number;
  /** Requests that still got a 429 after the last retry (their caller saw the 429). */
  gaveUp: number;
  /** Time spent waiting before retries, ms. */
  waitedMs: number;
  /** 429s by request path (no query). */
  byPath: Record<string, number>;
}

/** Counts 429s over a run, across every client that shares it. */
export class RateLimitLedger {
  private readonly stats: RateLimitStats = { responses429: 0, retries: 0, gaveUp: 0, waitedMs: 0, byPath: {} };

  record429(path: string): void {
    this.stats.responses429 += 1;
    this.stats.byPath[path] = (this.stats.byPath[path] ?? 0) + 1;
  }

  recordRetry(waitedMs: number): void {
    this.stats.retries += 1;
    this.stats.waitedMs += waitedMs;
  }

  recordGaveUp(): void {
    this.stats.gaveUp += 1;
  }

  snapshot(): RateLimitStats {
    return { ...this.stats, byPath: { ...this.stats.byPath } };
  }
}

/** One line for logs and the report: "rate limited: 12 × 429 (…), waited 8.4 s, 0 gave up". */
export function rateLimitLine(stats: RateLimitStats): string {
  if (stats.responses429 === 0) return 'rate limited: never (no 429 from the backend)';
  const paths = Object.entries(stats.byPath)
    .sort((a, b) => b[1] - a[1])
    .map(([p, n]) => `${p} ${n}`)
    .join(', ');
  return `rate limited: ${stats.responses429} × 429 (${paths}), ${stats.retries} retried after ${(stats.waitedMs / 1000).toFixed(1)} s of waiting, ${stats.gaveUp} gave up`;
}
