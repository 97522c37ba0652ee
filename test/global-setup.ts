import { resolve } from 'node:path';
import { loadStackConfig } from '../harness/config/stack-config.ts';
import { removeLeftovers } from '../harness/stack/cleanup.ts';
import { ensureDockerEngine } from '../harness/stack/docker-engine.ts';
import { prepareImages } from '../harness/stack/images/prepare-images.ts';

/**
 * Integration tests need a Docker engine and the stack's images; both are made here
 * once (a cold machine installs docker.io and builds every image, a warm one skips).
 * HSI_CHAOS_UNIT_ONLY=1 skips it for a quick unit-test run.
 */
export default async function setup(): Promise<() => Promise<void>> {
  if (process.env['HSI_CHAOS_UNIT_ONLY']) return async () => {};
  const log = (line: string) => process.stdout.write(`[setup] ${line}\n`);
  const config = loadStackConfig({ projectRoot: resolve(import.meta.dirname, '..') });
  await ensureDockerEngine({ bootstrap: config.dockerBootstrap, log });
  await prepareImages(config, { log });
  await removeLeftovers();
  return async () => {
    // Tests stop their stacks themselves; this catches what a crashed test file left.
    const n = await removeLeftovers();
    if (n > 0) log(`removed ${n} leftover container(s)/network(s) after the tests`);
  };
}
