import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../harness/config/stack-config.ts';
import { ConfigError } from '../../harness/errors.ts';
import { stackImages } from '../../harness/stack/images/image-refs.ts';

const root = () => mkdtempSync(join(tmpdir(), 'hsi-chaos-root-'));

describe('stack config', () => {
  it('defaults to local images and resolves paths against the project root', () => {
    const dir = root();
    const cfg = loadStackConfig({ projectRoot: dir, env: {} });
    expect(cfg.imageMode).toBe('local');
    expect(cfg.fixturesDir).toBe(join(dir, 'fixtures/images'));
    expect(stackImages(cfg).jaeger).toBe('hsi-chaos/jaeger:2.13.0-slim');
  });

  it('maps registry mode to upstream images, overridable per image', () => {
    const dir = root();
    writeFileSync(join(dir, 'hsi-chaos.config.json'), JSON.stringify({ imageMode: 'registry', registryImages: { redis: 'mirror.local/redis:7.4-alpine', toxiproxy: 'team/toxiproxy:2.12.0', referenceStack: 'team/hsi-ref:1' } }));
    const images = stackImages(loadStackConfig({ projectRoot: dir, env: {} }));
    expect(images.postgres).toBe('postgres:16-alpine');
    expect(images.redis).toBe('mirror.local/redis:7.4-alpine');
  });

  it('names the file and field of a bad value', () => {
    const dir = root();
    writeFileSync(join(dir, 'hsi-chaos.config.json'), JSON.stringify({ gpu: 'maybe' }));
    expect(() => loadStackConfig({ projectRoot: dir, env: {} })).toThrowError(ConfigError);
    expect(() => loadStackConfig({ projectRoot: dir, env: {} })).toThrowError(/hsi-chaos\.config\.json: gpu:/);
  });

  it('rejects unknown fields (typos must not be silently ignored)', () => {
    const dir = root();
    writeFileSync(join(dir, 'hsi-chaos.config.json'), JSON.stringify({ imageMod: 'local' }));
    expect(() => loadStackConfig({ projectRoot: dir, env: {} })).toThrowError(/imageMod/);
  });

  it('takes the image mode from HSI_CHAOS_IMAGE_MODE', () => {
    expect(loadStackConfig({ projectRoot: root(), env: { HSI_CHAOS_IMAGE_MODE: 'registry' } }).imageMode).toBe('registry');
  });
});
