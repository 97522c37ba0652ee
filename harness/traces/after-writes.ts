/**
 * CPU work that waits until the requests issued meanwhile are on the wire: the bulk trace reads
 * hand each answer here and issue their next request at once, so Jaeger works on the next
 * requests while this process parses and checks the answers it has (a Go server left idle
 * between requests spends CPU waking up). The trace bench (`--paths peer,harness,single`, load
 * average 7-10, paired slices) measured this read at 112, 121 and 115 % of the parse-first read
 * in three runs and 90 % in a fourth, with Jaeger at 352-376 µs of CPU per trace against
 * 401-414 µs; a quiet run decides.
 *
 * Two immediates, not one: undici may put a request's write off to an immediate of the turn it
 * was issued in, which work queued behind one immediate could still precede. Items run in the
 * order they were added; the first one that throws is kept, and `drained()` rejects with it once
 * nothing is left to run (the rest still run, so no answer is dropped unseen).
 */
export class AfterWrites {
  private readonly items: (() => void)[] = [];
  private scheduled = false;
  private failure: { error: unknown } | undefined;
  private waiter: { resolve: () => void; reject: (error: unknown) => void } | undefined;

  add(work: () => void): void {
    this.items.push(work);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => setImmediate(() => this.run()));
  }

  /** Resolves once every item added so far (and any added while waiting) has run. */
  drained(): Promise<void> {
    if (!this.scheduled && this.items.length === 0) return this.failure ? Promise.reject(this.failure.error) : Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private run(): void {
    this.scheduled = false;
    // items added while these run go to the next batch (after the writes they cause)
    const batch = this.items.splice(0, this.items.length);
    for (const work of batch) {
      try {
        work();
      } catch (error) {
        this.failure ??= { error };
      }
    }
    if (this.scheduled || this.items.length > 0 || !this.waiter) return;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (this.failure) waiter.reject(this.failure.error);
    else waiter.resolve();
  }
}
