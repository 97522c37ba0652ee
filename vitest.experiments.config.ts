import { defineConfig } from 'vitest/config';

/** The nightly experiment suite: `npm run experiments`. One stack at a time. */
export default defineConfig({
  test: {
    include: ['experiments/**/*.experiment.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 600_000,
    hookTimeout: 600_000,
    reporters: ['default', 'junit'],
    outputFile: { junit: 'results/experiments-junit.xml' },
  },
});
