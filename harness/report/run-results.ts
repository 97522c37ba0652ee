import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * results/<run-id>/: written as the run goes (atomic JSON rewrites, appended NDJSON),
 * so a run that is killed keeps everything it had collected.
 */
export class RunResults {
  readonly dir: string;
  readonly runId: string;

  constructor(resultsRoot: string, runId: string) {
    this.runId = runId;
    this.dir = join(resultsRoot, runId);
    mkdirSync(this.dir, { recursive: true });
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Write-then-rename, so a reader never sees half a file. */
  writeJson(name: string, value: unknown): string {
    const target = this.path(name);
    const tmp = `${target}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
    renameSync(tmp, target);
    return target;
  }

  appendNdjson(name: string, value: unknown): void {
    appendFileSync(this.path(name), `${JSON.stringify(value)}\n`);
  }

  writeText(name: string, text: string): string {
    const target = this.path(name);
    writeFileSync(target, text);
    return target;
  }
}
