import { describe, expect, it } from 'vitest';
import { isUsableCompose, parseComposeVersion, pluginDir, privateAptOptions } from '../../../harness/stack/compose/compose-plugin.ts';

describe('compose plugin', () => {
  it('reads the versions compose prints (upstream and Debian builds) and wants 2.24+ for the override tags', () => {
    expect(parseComposeVersion('Docker Compose version v2.40.3')).toEqual([2, 40, 3]);
    expect(parseComposeVersion('Docker Compose version 2.40.3-3\n')).toEqual([2, 40, 3]);
    expect(parseComposeVersion('docker-compose version 1.29.2, build unknown')).toEqual([1, 29, 2]);
    expect(parseComposeVersion('docker: unknown command: docker compose')).toBeUndefined();
    expect(isUsableCompose([2, 40, 3])).toBe(true);
    expect(isUsableCompose([2, 24, 0])).toBe(true);
    expect(isUsableCompose([2, 23, 9])).toBe(false);
    expect(isUsableCompose([1, 29, 2])).toBe(false);
    expect(isUsableCompose(undefined)).toBe(false);
  });

  it('installs system-wide as root, else in the user\'s (or DOCKER_CONFIG\'s) plugin folder', () => {
    expect(pluginDir({}, true)).toBe('/usr/local/lib/docker/cli-plugins');
    expect(pluginDir({ DOCKER_CONFIG: '/home/u/.dc' }, false)).toBe('/home/u/.dc/cli-plugins');
    expect(pluginDir({}, false)).toMatch(/\.docker\/cli-plugins$/);
  });

  it('keeps every apt file of the download in its own folder (the host\'s lists and sources untouched)', () => {
    const opts = privateAptOptions('/c/compose-apt');
    const values = opts.filter((_, i) => i % 2 === 1);
    for (const key of ['Dir::Etc::SourceList', 'Dir::Etc::SourceParts', 'Dir::State::Lists', 'Dir::Cache', 'Dir::State::status']) {
      const v = values.find((x) => x.startsWith(`${key}=`));
      expect(v, key).toBeDefined();
      expect(v!.slice(key.length + 1).startsWith('/c/compose-apt/')).toBe(true);
    }
  });
});
