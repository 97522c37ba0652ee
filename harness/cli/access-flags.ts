import { DIALECT_CHOICES, isDialectChoice, type DialectChoice } from '../contract/dialects.ts';
import { ConfigError } from '../errors.ts';
import type { StackAccess } from '../experiment/phases.ts';

/** The environment variable holding the API key the harness sends (`X-API-Key`). */
export const API_KEY_ENV = 'HSI_CHAOS_API_KEY';

/** `--dialect reference|hsi-current|auto`; undefined when not given. */
export function dialectFlag(value: string | undefined): DialectChoice | undefined {
  if (value === undefined) return undefined;
  if (!isDialectChoice(value)) throw new ConfigError(`--dialect must be ${DIALECT_CHOICES.join(', ')} (got "${value}")`);
  return value;
}

/**
 * How a run speaks to its stack: the dialect from `--dialect`, else the stack file's, else the
 * config's (default `auto`); the API key from the environment, else the stack file.
 */
export function stackAccessOf(input: { flag?: DialectChoice | undefined; file?: StackAccess | undefined; config: DialectChoice; env: Readonly<Record<string, string | undefined>> }): StackAccess {
  const dialect = input.flag ?? input.file?.dialect ?? input.config;
  const envKey = input.env[API_KEY_ENV];
  const apiKey = envKey !== undefined && envKey !== '' ? envKey : input.file?.apiKey;
  return { dialect, ...(apiKey !== undefined ? { apiKey } : {}) };
}
