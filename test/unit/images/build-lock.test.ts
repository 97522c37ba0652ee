import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildLock } from '../../../harness/stack/images/build-lock.ts';

describe('image build lock', () => {
  it('a second holder waits until the first releases', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsi-lock-'));
    const first = await BuildLock.acquire(dir, 'jaeger');
    const waits: string[] = [];
    let secondHeld = false;
    const second = BuildLock.acquire(dir, 'jaeger', { pollMs: 10, onWait: (owner) => waits.push(owner) }).then((lock) => {
      secondHeld = true;
      return lock;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(secondHeld).toBe(false);
    expect(waits).toEqual([`pid ${process.pid}`]);
    // Other images are not held up.
    (await BuildLock.acquire(dir, 'redis')).release();
    first.release();
    (await second).release();
    expect(secondHeld).toBe(true);
    expect(existsSync(join(dir, 'jaeger.lock'))).toBe(false);
  });

  it('takes over a lock whose owner on this host is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsi-lock-'));
    const gone = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
    mkdirSync(join(dir, 'base.lock'));
    writeFileSync(join(dir, 'base.lock', 'owner'), `${gone} ${hostname()}\n`);
    const lock = await BuildLock.acquire(dir, 'base', { pollMs: 10 });
    lock.release();
  });
});
