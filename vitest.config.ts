import { defineConfig } from 'vitest/config';
import { TESTCONTAINERS_SETTINGS } from './harness/stack/testcontainers-env.ts';

/**
 * Projects run one group after the other (sequence.groupOrder): the unit and browser tests
 * first, two files at a time (pure logic, no stack); then the unit files that measure timer
 * lag, alone; then the integration tests in two lanes (the CI machine has 2 cores):
 *
 * - `integration-functional`, two files at a time: files whose assertions do not depend on
 *   latency, capacity or fault timing (contract shapes, span trees, CLI exit codes, waits with
 *   generous timeouts), or whose latency bounds hold with margin on a loaded machine. Much of
 *   their time is waiting (stack starts, traces arriving), so two of them side by side take
 *   little more wall time than one.
 * - `integration`, one file at a time and nothing else running: every file that measures
 *   (fault lag < 50 ms, p95 bands, capacity knees, healthy runs compared, latency budgets and
 *   thresholds, the real engines' CPU load). A file belongs here unless it is known not to.
 *
 * `vitest run test/unit/...` still picks files by path across the projects.
 */
const TIMING_UNIT_FILES = ['test/unit/load/driver.test.ts', 'test/unit/chaos/fault-timeline.test.ts'];
/**
 * Integration files with no timing-dependent assertion, or whose bounds are far from what a
 * neighbour can move: they may run beside each other. mixed-load (thresholds p95 < 2 s,
 * ws_connecting p95 < 1 s) and compose (detect-stage SLO p95 < 2 s, no error span) passed alone
 * at load 25 on the 2-core machine with ws_connecting p95 392 ms and detect p95 786 ms (Dec 2).
 */
const FUNCTIONAL_INTEGRATION_FILES = [
  'test/integration/foundation.test.ts',
  'test/integration/reference-stack.test.ts',
  'test/integration/main-job.test.ts',
  'test/integration/ws-conform.test.ts',
  'test/integration/hsi-current-profile.test.ts',
  'test/integration/dialect-adapters.test.ts',
  'test/integration/queue-worker.test.ts',
  'test/integration/mixed-load.test.ts',
  'test/integration/compose.test.ts',
];

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
          name: 'integration-functional',
          include: FUNCTIONAL_INTEGRATION_FILES,
          globalSetup: ['test/global-setup.ts'],
          // Two stacks at a time.
          maxWorkers: 2,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: FUNCTIONAL_INTEGRATION_FILES,
          globalSetup: ['test/global-setup.ts'],
          // One stack at a time, alone on the machine.
          fileParallelism: false,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
