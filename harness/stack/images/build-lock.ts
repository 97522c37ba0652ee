import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * One image build at a time per cache dir and image: several checkouts (and test runs) on a
 * machine share the cache dir, whose work dirs (Go modules, docker build contexts) a second
 * concurrent build would delete under the first. A lock is a directory (mkdir is atomic)
 * holding the owner's pid and host; a lock whose owner on this host is gone is taken over.
 */
export class BuildLock {
  private readonly path: string;
  private constructor(path: string) {
    this.path = path;
  }

  static async acquire(dir: string, name: string, options: { onWait?: (owner: string) => void; pollMs?: number } = {}): Promise<BuildLock> {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${name}.lock`);
    let told = false;
    for (;;) {
      try {
        mkdirSync(path);
        writeFileSync(join(path, 'owner'), `${process.pid} ${hostname()}\n`);
        return new BuildLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = readOwner(path);
      if (owner !== undefined && owner.host === hostname() && !isAlive(owner.pid)) {
        rmSync(path, { recursive: true, force: true });
        continue;
      }
      if (!told) {
        options.onWait?.(owner === undefined ? 'another build' : `pid ${owner.pid}`);
        told = true;
      }
      await sleep(options.pollMs ?? 1000);
    }
  }

  release(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

function readOwner(path: string): { pid: number; host: string } | undefined {
  try {
    const [pid, host] = readFileSync(join(path, 'owner'), 'utf8').trim().split(' ');
    const n = Number(pid);
    return Number.isInteger(n) && n > 0 && host !== undefined ? { pid: n, host } : undefined;
  } catch {
    // Just created, owner not written yet: treat as alive.
    return undefined;
  }
}

/** Signal 0 probes a pid; only ESRCH means it is gone (EPERM: alive, someone else's). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
