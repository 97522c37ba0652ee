import { getContainerRuntimeClient, type WaitStrategy } from 'testcontainers';

export type WaitArgs = Parameters<WaitStrategy['waitUntilReady']>;

/**
 * A testcontainers wait strategy that polls its own probe from the host (testcontainers' own
 * base class is not exported): the startup timeout's bookkeeping, the runtime's host and the
 * probe loop live here, what "ready" means in the subclass.
 */
export abstract class PollingWait implements WaitStrategy {
  private startupTimeoutMs: number;
  private startupTimeoutSet = false;

  protected constructor(defaultStartupTimeoutMs: number) {
    this.startupTimeoutMs = defaultStartupTimeoutMs;
  }

  abstract waitUntilReady(container: WaitArgs[0], boundPorts: WaitArgs[1]): Promise<void>;

  /** The host the published ports answer on. */
  protected async runtimeHost(): Promise<string> {
    return (await getContainerRuntimeClient()).info.containerRuntime.host;
  }

  /** ms since the epoch when the startup timeout, counted from now, runs out. */
  protected deadline(): number {
    return Date.now() + this.startupTimeoutMs;
  }

  /** Probes every `intervalMs` until `probe` says ready; past `deadline`, throws `failure()`'s message. */
  protected async pollUntil(deadline: number, intervalMs: number, probe: () => Promise<boolean>, failure: () => string): Promise<void> {
    await this.pollFor(deadline, intervalMs, async () => ((await probe()) ? true : undefined), failure);
  }

  /** Probes every `intervalMs` until `probe` gives a value, and returns it; past `deadline`, throws `failure()`'s message. */
  protected async pollFor<T>(deadline: number, intervalMs: number, probe: () => Promise<T | undefined>, failure: () => string): Promise<T> {
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() >= deadline) throw new Error(failure());
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  withStartupTimeout(startupTimeoutMs: number): this {
    this.startupTimeoutMs = startupTimeoutMs;
    this.startupTimeoutSet = true;
    return this;
  }

  isStartupTimeoutSet(): boolean {
    return this.startupTimeoutSet;
  }

  getStartupTimeout(): number {
    return this.startupTimeoutMs;
  }
}
