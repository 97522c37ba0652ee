import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../../harness/config/stack-config.ts';
import { localImages, stackImages } from '../../../harness/stack/images/image-refs.ts';
import { SLIM_PATCHES, slimInputs } from '../../../harness/stack/images/jaeger-slim.ts';

describe('Debian mirror setting', () => {
  it('the config overrides the mirror (file or HSI_CHAOS_DEBIAN_MIRROR) and names a bad value', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsi-chaos-root-'));
    expect(loadStackConfig({ projectRoot: dir, env: {} }).debianMirror).toBeUndefined();
    expect(loadStackConfig({ projectRoot: dir, env: { HSI_CHAOS_DEBIAN_MIRROR: 'http://local.test/debian' } }).debianMirror).toBe('http://local.test/debian');
    writeFileSync(join(dir, 'hsi-chaos.config.json'), JSON.stringify({ debianMirror: 'bookworm' }));
    expect(() => loadStackConfig({ projectRoot: dir, env: {} })).toThrowError(/hsi-chaos\.config\.json: debianMirror:/);
  });
});

describe('local image names', () => {
  it('a prefix names an independent set; the default is hsi-chaos and Jaeger is the slim build', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsi-chaos-root-'));
    expect(stackImages(loadStackConfig({ projectRoot: dir, env: {} })).jaeger).toBe('hsi-chaos/jaeger:2.13.0-slim');
    writeFileSync(join(dir, 'hsi-chaos.config.json'), JSON.stringify({ localImagePrefix: 'hsi-chaos-cold' }));
    const images = stackImages(loadStackConfig({ projectRoot: dir, env: {} }));
    for (const ref of [images.postgres, images.redis, images.jaeger, images.toxiproxy, images.referenceStack]) expect(ref).toMatch(/^hsi-chaos-cold\//);
    expect(localImages('x').base).toBe('x/debian:bookworm');
    writeFileSync(join(dir, 'hsi-chaos.config.json'), JSON.stringify({ localImagePrefix: 'Bad Prefix' }));
    expect(() => loadStackConfig({ projectRoot: dir, env: {} })).toThrowError(/localImagePrefix/);
  });

  it('the slim Jaeger patch files exist and are part of the image inputs', () => {
    const inputs = slimInputs();
    expect(inputs).toHaveLength(SLIM_PATCHES.length + 1);
    expect(inputs.join('\n')).toContain('only the memory backend');
    expect(inputs.at(-1)).toContain('jaeger_storage_exporter');
  });
});
