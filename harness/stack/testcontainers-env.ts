import { ExitCode, HarnessError } from '../errors.ts';

/**
 * testcontainers reads two settings from the environment only: Ryuk (its reaper needs an
 * image from a registry our machines cannot reach; cleanup.ts does that job) and the host
 * its URLs name (published ports bind to 127.0.0.1 only, and "localhost" may resolve to ::1
 * first). Nothing sets them on import: the CLI (main), the vitest configs and the bench
 * scripts call `configureTestcontainers()` at their edge; HsiStack.start() refuses to run
 * without them instead of quietly starting a reaper.
 */
export const TESTCONTAINERS_SETTINGS = {
  TESTCONTAINERS_RYUK_DISABLED: 'true',
  TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1',
} as const;

/** Sets the settings a caller has not set itself (a caller's own host override wins). */
export function configureTestcontainers(env: NodeJS.ProcessEnv = process.env): void {
  for (const [key, value] of Object.entries(TESTCONTAINERS_SETTINGS)) env[key] ??= value;
}

/** Throws when the edge forgot configureTestcontainers(): a reaper would be pulled from a registry. */
export function requireTestcontainersConfigured(env: NodeJS.ProcessEnv = process.env): void {
  if (env['TESTCONTAINERS_RYUK_DISABLED'] !== 'true') {
    throw new HarnessError('TESTCONTAINERS_RYUK_DISABLED is not "true": call configureTestcontainers() (harness/stack/testcontainers-env.ts) at the program\'s edge before starting a stack (the CLI and the test setup do)', ExitCode.internal);
  }
}
