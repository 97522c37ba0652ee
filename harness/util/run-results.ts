import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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

  /** A JSON file of this run, or undefined when it does not exist or is not JSON (a half-written file is never seen: writeJson renames). */
  readJsonIfExists<T = unknown>(name: string): T | undefined {
    const file = this.path(name);
    if (!existsSync(file)) return undefined;
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  appendNdjson(name: string, value: unknown): void {
    appendFileSync(this.path(name), `${JSON.stringify(value)}\n`);
  }

  /** Every line of an NDJSON file of this run (none when the file does not exist). */
  readNdjson<T = unknown>(name: string): T[] {
    const file = this.path(name);
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as T);
  }

  /**
   * A buffered NDJSON appender for high-rate streams (one line per request): lines are
   * appended in batches, at least every `flushEveryMs` and whenever `maxBufferedBytes`
   * is reached, so a killed run loses at most the last batch.
   */
  ndjsonWriter(name: string, options: { flushEveryMs?: number; maxBufferedBytes?: number } = {}): NdjsonWriter {
    const file = this.path(name);
    const maxBytes = options.maxBufferedBytes ?? 256 * 1024;
    let buffer: string[] = [];
    let bytes = 0;
    let closed = false;
    const flush = () => {
      if (buffer.length === 0) return;
      appendFileSync(file, buffer.join(''));
      buffer = [];
      bytes = 0;
    };
    const timer = setInterval(flush, options.flushEveryMs ?? 250);
    timer.unref();
    return {
      path: file,
      write(value: unknown) {
        if (closed) throw new Error(`${file}: writer is closed`);
        const line = `${JSON.stringify(value)}\n`;
        buffer.push(line);
        bytes += line.length;
        if (bytes >= maxBytes) flush();
      },
      flush,
      close() {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        flush();
      },
    };
  }

  writeText(name: string, text: string): string {
    const target = this.path(name);
    writeFileSync(target, text);
    return target;
  }

  /** writeText, write-then-rename: for reports a CI step may pick up while the run still writes. */
  writeTextAtomic(name: string, text: string): string {
    const target = this.path(name);
    const tmp = `${target}.tmp-${process.pid}`;
    writeFileSync(tmp, text);
    renameSync(tmp, target);
    return target;
  }
}

export interface NdjsonWriter {
  readonly path: string;
  write(value: unknown): void;
  flush(): void;
  close(): void;
}
