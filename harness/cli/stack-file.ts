import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { z } from 'zod';
import { HSI_ROUTES } from '../contract/hsi-api.ts';
import { STACK_PROFILES } from '../contract/profiles.ts';
import { parseOrThrow } from '../config/validation.ts';
import { ConfigError, EnvironmentError, errorMessage } from '../errors.ts';
import type { ExperimentTarget } from '../experiment/experiment-runner.ts';

/**
 * `stack up` writes results/<run-id>/stack.json; `run --external` reads it (a file, its folder
 * or the run id); `stack down` removes it with the stack, so no run loads a removed stack.
 */
export const STACK_FILE = 'stack.json';

const url = z.string().url();
const ExternalStackSchema = z
  .object({
    endpoints: z.object({ backendUrl: url, jaegerUrl: url, postgresUrl: z.string().min(1).optional(), redisUrl: z.string().min(1).optional() }).strict(),
    toxiproxyUrl: url.optional(),
    emulatorUrls: z.record(z.string(), url).optional(),
    /** The HSI dialect the stack speaks; default `auto` (detected when attached). */
    dialect: z.enum(['reference', 'hsi-current', 'auto']).optional(),
    /** Sent as X-API-Key on every harness request (prefer the HSI_CHAOS_API_KEY environment variable). */
    apiKey: z.string().min(1).optional(),
    /** The reference stack's profile (`stack up` writes it); results name it. */
    profile: z.enum(STACK_PROFILES).optional(),
    /** How often its services export spans, ms (`stack up` writes it): the trace wait's interval follows it. */
    spanExportDelayMs: z.number().int().positive().optional(),
  })
  .strict();

export type ExternalStack = Omit<Extract<ExperimentTarget, { kind: 'external' }>, 'kind'>;

export function findStackFile(arg: string, resultsRoot: string): string | undefined {
  const candidates = [arg, join(arg, STACK_FILE), join(resultsRoot, arg, STACK_FILE)];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile());
}

/** One line naming the file for anything wrong with it. */
export function readStackFile(arg: string, resultsRoot: string): ExternalStack & { file: string } {
  const file = findStackFile(arg, resultsRoot);
  if (!file) throw new ConfigError(`--external ${arg}: no stack file (expected a ${STACK_FILE} written by "hsi-chaos stack up", its folder or its run id; "stack down" removes it with the stack)`);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${file}: not valid JSON (${errorMessage(error).split('\n')[0]}); write it again with "hsi-chaos stack up" or fix it by hand`);
  }
  return { ...parseOrThrow(ExternalStackSchema, value, file), file };
}

/** stack.json of a run removed by `stack down`; true when there was one. */
export function removeStackFile(resultsRoot: string, runId: string): boolean {
  const file = join(resultsRoot, runId, STACK_FILE);
  if (!existsSync(file)) return false;
  rmSync(file, { force: true });
  return true;
}

/**
 * Before any load: does the external stack's backend answer? A removed stack is one clear
 * line (exit 3) naming the file and the endpoint, not a run that fails every request.
 */
export async function probeExternalStack(stack: ExternalStack & { file: string }, timeoutMs = 5_000): Promise<void> {
  const health = new URL(HSI_ROUTES.systemHealth, stack.endpoints.backendUrl);
  try {
    const res = await request(health, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    await res.body.dump();
  } catch (error) {
    const code = (error as { code?: unknown; cause?: { code?: unknown } }).code ?? (error as { cause?: { code?: unknown } }).cause?.code;
    throw new EnvironmentError(`${stack.file}: the backend at ${health.href} does not answer (${typeof code === 'string' ? code : errorMessage(error)}); is that stack still up? (hsi-chaos stack status)`);
  }
}
