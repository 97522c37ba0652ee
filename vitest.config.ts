import { defineConfig } from 'vitest/config';
import { TESTCONTAINERS_SETTINGS } from './harness/stack/testcontainers-env.ts';

/**
 * Projects run one group after the other (sequence.groupOrder): the unit and browser tests
 * first, two files at a time (pure logic, no stack); then the unit files that measure timer
 * lag, alone; then the integration tests one file at a time (each starts stacks; the CI machine
 * has 2 cores). `vitest run test/unit/...` still picks files by path across the projects.
 */
const TIMING_UNIT_FILES = ['test/unit/load/driver.test.ts', 'test/unit/chaos/fault-timeline.test.ts'];

export default defineConfig({
  test: {
    // testcontainers' settings for the test processes (no module sets them on import).
    env: { ...TESTCONTAINERS_SETTINGS },
    pool: 'forks',
    testTimeout: 180_000,
    hookTimeout: 300_000,
    reporters: process.env['CI'] ? ['default', 'junit'] : ['default'],
    outputFile: { junit: 'results/test-junit.xml' },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/browser/**/*.test.ts'],
          exclude: TIMING_UNIT_FILES,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'unit-timing',
          include: TIMING_UNIT_FILES,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          // One stack at a time.
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
