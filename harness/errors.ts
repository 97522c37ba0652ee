/**
 * Errors the harness shows to a person: one line, what is wrong and what to do.
 * Anything else that escapes is a bug and is reported as such by the CLI.
 *
 * The one table of exit codes (README "Exit codes"); a run's summary.json `exitCode` is
 * always the process's:
 *   0   passed
 *   1   an expectation failed or the steady state was not met (compare: a regression with --fail-on-regression)
 *   2   usage or configuration error, found before anything started (one line naming the field or file)
 *   3   environment error: Docker unavailable, an image build failed, the stack did not start or a
 *       part of it stopped answering mid-run (the line names the endpoint)
 *   70  internal error (a bug; HSI_CHAOS_DEBUG=1 prints the stack trace)
 *   99  only thresholds failed (as k6)
 *   130 interrupted by SIGINT (Ctrl-C); 143 terminated by SIGTERM
 */
export const ExitCode = {
  pass: 0,
  expectationFailed: 1,
  usage: 2,
  environment: 3,
  internal: 70,
  thresholdsFailed: 99,
  interrupted: 130,
  terminated: 143,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class HarnessError extends Error {
  readonly exitCode: ExitCodeValue;
  constructor(message: string, exitCode: ExitCodeValue = ExitCode.usage) {
    super(message);
    this.name = 'HarnessError';
    this.exitCode = exitCode;
  }
}

/** Bad configuration or input: names the file/field and says what to do. Exit code 2. */
export class ConfigError extends HarnessError {
  constructor(message: string) {
    super(message, ExitCode.usage);
    this.name = 'ConfigError';
  }
}

/** The machine or a part of the stack failed (not the input, not the system under test's verdict). Exit code 3. */
export class EnvironmentError extends HarnessError {
  constructor(message: string) {
    super(message, ExitCode.environment);
    this.name = 'EnvironmentError';
  }
}

/** The exit code an error ends the process with: its own for a HarnessError, else 70 (a bug). */
export function exitCodeOf(error: unknown): ExitCodeValue {
  return error instanceof HarnessError ? error.exitCode : ExitCode.internal;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
