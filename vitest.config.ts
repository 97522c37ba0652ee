import { defineConfig } from 'vitest/config';
import { TESTCONTAINERS_SETTINGS } from './harness/stack/testcontainers-env.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // testcontainers' settings for the test processes (no module sets them on import).
    env: { ...TESTCONTAINERS_SETTINGS },
    // One stack at a time: the CI machine has 2 cores.
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 180_000,
    hookTimeout: 300_000,
    reporters: process.env['CI'] ? ['default', 'junit'] : ['default'],
    outputFile: { junit: 'results/test-junit.xml' },
  },
});
