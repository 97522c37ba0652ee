import { defineConfig } from 'vitest/config';
import { TESTCONTAINERS_SETTINGS } from './harness/stack/testcontainers-env.ts';

/** The nightly experiment suite: `npm run experiments`. One stack at a time. */
export default defineConfig({
  test: {
    include: ['experiments/**/*.experiment.ts'],
    globalSetup: ['test/global-setup.ts'],
    // testcontainers' settings for the test processes (no module sets them on import).
    env: { ...TESTCONTAINERS_SETTINGS },
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 600_000,
    hookTimeout: 600_000,
    reporters: ['default', 'junit'],
    outputFile: { junit: 'results/experiments-junit.xml' },
  },
});
