/**
 * Teardown on every exit path: normal end, SIGINT (Ctrl-C), SIGTERM, an uncaught
 * error. Registered actions run once, newest first, bounded in time so a hung
 * engine cannot keep the process alive forever.
 */
type Action = () => Promise<unknown>;

const actions = new Map<number, { name: string; action: Action }>();
let nextId = 1;
let installed = false;
let running: Promise<void> | undefined;

export function registerTeardown(name: string, action: Action): () => void {
  install();
  const id = nextId++;
  actions.set(id, { name, action });
  return () => {
    actions.delete(id);
  };
}

export function runTeardown(timeoutMs = 60_000): Promise<void> {
  running ??= (async () => {
    const pending = [...actions.entries()].reverse();
    actions.clear();
    for (const [, { name, action }] of pending) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        action().catch((error: unknown) => {
          process.stderr.write(`teardown of ${name} failed: ${(error as Error).message}\n`);
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            process.stderr.write(`teardown of ${name} timed out after ${timeoutMs} ms\n`);
            resolve();
          }, timeoutMs);
        }),
      ]);
      if (timer) clearTimeout(timer);
    }
  })();
  return running;
}

function install(): void {
  if (installed) return;
  installed = true;
  const onSignal = (signal: NodeJS.Signals, code: number) => {
    process.on(signal, () => {
      // A second Ctrl-C while tearing down means "really quit now".
      if (running) process.exit(code);
      process.stderr.write(`\n${signal}: tearing the stack down…\n`);
      void runTeardown().finally(() => process.exit(code));
    });
  };
  onSignal('SIGINT', 130);
  onSignal('SIGTERM', 143);
}

/**
 * For the CLI only (test runners report errors themselves): an uncaught error
 * still tears the stack down before the process ends.
 */
export function teardownOnUncaughtError(): void {
  const handler = (error: unknown) => {
    process.stderr.write(`unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    void runTeardown().finally(() => process.exit(1));
  };
  process.on('uncaughtException', handler);
  process.on('unhandledRejection', handler);
}
