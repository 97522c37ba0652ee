/**
 * Errors the harness shows to a person: one line, what is wrong and what to do.
 * Anything else that escapes is a bug and is reported as such by the CLI.
 */
export const ExitCode = {
  pass: 0,
  expectationFailed: 1,
  usage: 2,
  thresholdsFailed: 99,
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

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
