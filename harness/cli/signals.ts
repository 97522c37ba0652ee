import { ExitCode, HarnessError } from '../errors.ts';
import { processTeardown, type TeardownRegistry } from '../stack/teardown.ts';

/** The real process.exit, kept before withExitGuard replaces it for the length of a command. */
const realExit: (code?: number) => never = process.exit.bind(process);

/**
 * The CLI's edge (also used by the bench scripts): signals, uncaught errors and a stray
 * `process.exit` become a teardown and one exit code, from one table (README "Exit codes"):
 * SIGINT 130, SIGTERM 143. The first signal tears down (the run's summary records the same
 * code); a second one quits at once and says what is left and how to remove it.
 */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
export type HandledSignal = keyof typeof SIGNAL_EXIT_CODES;

export interface ProcessEdge {
  on(event: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
  exit(code: number): never;
}

export interface SignalHandlerOptions {
  registry?: TeardownRegistry;
  write?: (line: string) => void;
  edge?: ProcessEdge;
}

/** What a second signal prints: what is left and the command that removes it. */
export function leftoverMessage(signal: string, pending: readonly string[]): string {
  const left = pending.length > 0 ? `left behind: ${pending.join(', ')}` : 'nothing was left to tear down';
  return `${signal} again: quitting without finishing the teardown; ${left}. Remove leftovers with: hsi-chaos cleanup`;
}

export class CliSignalHandler {
  private readonly registry: TeardownRegistry;
  private readonly write: (line: string) => void;
  private readonly edge: ProcessEdge;
  private received: HandledSignal | undefined;

  constructor(options: SignalHandlerOptions = {}) {
    this.registry = options.registry ?? processTeardown;
    this.write = options.write ?? ((line) => process.stderr.write(`${line}\n`));
    this.edge = options.edge ?? { on: (event, listener) => process.on(event, listener), exit: realExit };
  }

  install(): this {
    for (const signal of Object.keys(SIGNAL_EXIT_CODES) as HandledSignal[]) this.edge.on(signal, () => this.onSignal(signal));
    return this;
  }

  /** The signal that started the teardown, if any. */
  get signal(): HandledSignal | undefined {
    return this.received;
  }

  onSignal(signal: HandledSignal): void {
    const exitCode = SIGNAL_EXIT_CODES[signal];
    if (this.received !== undefined) {
      this.write(leftoverMessage(signal, this.registry.pending()));
      this.edge.exit(SIGNAL_EXIT_CODES[this.received]);
      return;
    }
    this.received = signal;
    this.write(`\n${signal}: tearing the stack down… (again to quit at once)`);
    void this.registry.run({ signal, exitCode }).finally(() => this.edge.exit(exitCode));
  }
}

let installed: CliSignalHandler | undefined;

/** Once per process, from the CLI's main or a bench script. */
export function installCliSignalHandlers(options: SignalHandlerOptions = {}): CliSignalHandler {
  installed ??= new CliSignalHandler(options).install();
  return installed;
}

/** An uncaught error still tears the stack down before the process ends (exit 70: a bug). */
export function teardownOnUncaughtError(exitCode: number, registry: TeardownRegistry = processTeardown): void {
  const handler = (error: unknown) => {
    process.stderr.write(`hsi-chaos: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    void registry.run({ exitCode }).finally(() => realExit(exitCode));
  };
  process.on('uncaughtException', handler);
  process.on('unhandledRejection', handler);
}

/** What a stray process.exit becomes while a command runs: an error, so the run still tears down and says why. */
export class UnexpectedExitError extends HarnessError {
  constructor(code: number | string | null | undefined) {
    super(`process.exit(${code ?? ''}) was called while hsi-chaos was running (by a scenario file or a dependency); stopped instead of ending silently`, ExitCode.usage);
    this.name = 'UnexpectedExitError';
  }
}

/**
 * Runs one CLI command with process.exit replaced by a throw: a scenario file that calls
 * `process.exit(0)` on import fails to load (exit 2, one line) instead of ending the run with
 * exit 0 and no output. Restored afterwards; the signal handlers keep the real one.
 */
export async function withExitGuard<T>(command: () => Promise<T>): Promise<T> {
  const original = process.exit;
  process.exit = ((code?: number | string | null) => {
    throw new UnexpectedExitError(code);
  }) as typeof process.exit;
  try {
    return await command();
  } finally {
    process.exit = original;
  }
}
