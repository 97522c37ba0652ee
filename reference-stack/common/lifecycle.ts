import type { Logger } from './log.ts';

/**
 * An emulator's stop on SIGTERM/SIGINT: stop taking requests (2.5 s for those in flight), flush
 * the spans (1.5 s), exit 0; exit 1 if anything hangs past 5 s, well inside Docker's 10 s stop
 * timeout, so a test's teardown never waits for a SIGKILL.
 */
export function stopOnSignals(log: Logger, server: { close(graceMs: number): Promise<void> }, tracing: { shutdown(timeoutMs?: number): Promise<void> }): void {
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    setTimeout(() => process.exit(1), 5000).unref();
    await server.close(2500);
    await tracing.shutdown(1500);
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
