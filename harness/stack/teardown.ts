/**
 * What must be undone however the program ends (stacks to remove, faults to roll back, a
 * summary to mark interrupted). Registered actions run once, newest first, each bounded in
 * time so a hung engine cannot keep the process alive forever.
 *
 * This module only keeps the list: it installs no signal handler and never ends the
 * process. The program's edge decides when to run it (harness/cli/signals.ts for the CLI
 * and the bench scripts; tests stop their stacks themselves).
 */
export interface TeardownReason {
  /** Why the program is ending early, e.g. SIGINT or SIGTERM; absent for a normal end. */
  signal?: NodeJS.Signals;
  /** The process's exit code for that reason (130 for SIGINT, 143 for SIGTERM). */
  exitCode?: number;
}

export type TeardownAction = (reason: TeardownReason) => Promise<unknown>;

export class TeardownRegistry {
  private readonly actions = new Map<number, { name: string; action: TeardownAction }>();
  private nextId = 1;
  private running: Promise<void> | undefined;
  /** Names not finished yet, while run() is under way (newest first). */
  private unfinished: string[] = [];

  register(name: string, action: TeardownAction): () => void {
    const id = this.nextId++;
    this.actions.set(id, { name, action });
    return () => {
      this.actions.delete(id);
    };
  }

  /** What is still to be undone: registered actions and those of a run under way not yet finished. */
  pending(): string[] {
    return [...this.unfinished, ...[...this.actions.values()].reverse().map((a) => a.name)];
  }

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  run(reason: TeardownReason = {}, timeoutMs = 60_000, warn: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<void> {
    this.running ??= this.runAll(reason, timeoutMs, warn).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async runAll(reason: TeardownReason, timeoutMs: number, warn: (line: string) => void): Promise<void> {
    const pending = [...this.actions.values()].reverse();
    this.actions.clear();
    this.unfinished = pending.map((p) => p.name);
    for (const { name, action } of pending) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        action(reason).catch((error: unknown) => warn(`teardown of ${name} failed: ${error instanceof Error ? error.message : String(error)}`)),
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            warn(`teardown of ${name} timed out after ${timeoutMs} ms`);
            resolve();
          }, timeoutMs);
        }),
      ]);
      if (timer) clearTimeout(timer);
      this.unfinished.shift();
    }
  }
}

/** The program's registry: the harness registers here, the edge runs it. */
export const processTeardown = new TeardownRegistry();

export function registerTeardown(name: string, action: TeardownAction): () => void {
  return processTeardown.register(name, action);
}

export function runTeardown(reason: TeardownReason = {}, timeoutMs = 60_000): Promise<void> {
  return processTeardown.run(reason, timeoutMs);
}
