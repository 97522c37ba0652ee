import { answersHttp } from './http-ready-wait.ts';
import { lastWordsOf } from './container-last-words.ts';
import { PollingWait, type WaitArgs } from './polling-wait.ts';

/** How an engine's health wait ended without the engine becoming healthy. */
export type EngineWaitEnd = 'exited' | 'timeout';

/**
 * The wait's failure with the engine's last words, read before testcontainers removes the
 * container (it stops and removes a container whose wait failed, so its logs are gone by the
 * time the error reaches the caller).
 */
export class EngineWaitError extends Error {
  readonly end: EngineWaitEnd;
  readonly lastWords: string;
  constructor(end: EngineWaitEnd, lastWords: string, probe: string) {
    super(end === 'exited' ? `the container exited during its health wait (${probe}): ${lastWords}` : `${probe}: ${lastWords}`);
    this.name = 'EngineWaitError';
    this.end = end;
    this.lastWords = lastWords;
  }
}

export interface EngineHealthWaitOptions {
  /** Pause between two rounds (state, then health). */
  intervalMs: number;
  /** How long one health request may take before it counts as "not yet". */
  requestTimeoutMs: number;
  /** Reads a container's last words (state and telling log line) by id. */
  lastWords: (containerId: string) => Promise<string>;
}

const DEFAULTS: EngineHealthWaitOptions = { intervalMs: 250, requestTimeoutMs: 1_000, lastWords: lastWordsOf };

type Probe = 'healthy' | 'exited';

/**
 * Ready when GET `path` answers 200; an engine that exits meanwhile (llama-server on a model it
 * cannot load exits within a second) ends the wait at once instead of after the startup timeout.
 * One loop checks the container's state, then its health, each bounded in time, so the wait's
 * promise always settles and leaves no timer behind (testcontainers' own `abortOnContainerExit`
 * awaits the end of an unref'd log stream: when it never ends, nothing keeps Node alive and a
 * CLI run ended with "unsettled top-level await", exit 13).
 */
export class EngineHealthWait extends PollingWait {
  private readonly path: string;
  private readonly port: number;
  private readonly options: EngineHealthWaitOptions;

  constructor(path: string, port: number, options: Partial<EngineHealthWaitOptions> = {}) {
    super(60_000);
    this.path = path;
    this.port = port;
    this.options = { ...DEFAULTS, ...options };
  }

  async waitUntilReady(container: WaitArgs[0], boundPorts: WaitArgs[1]): Promise<void> {
    const url = new URL(this.path, `http://${await this.runtimeHost()}:${boundPorts.getBinding(this.port)}`);
    const probe = `${url.href} did not answer 200 within ${this.getStartupTimeout()} ms`;
    const end = await this.pollFor<Probe>(this.deadline(), this.options.intervalMs, () => this.probeOnce(container, url), () => probe).catch(() => 'timeout' as const);
    if (end === 'healthy') return;
    throw new EngineWaitError(end, await this.options.lastWords(container.id), probe);
  }

  private async probeOnce(container: WaitArgs[0], url: URL): Promise<Probe | undefined> {
    if (await hasExited(container)) return 'exited';
    return (await answersHttp(url, 200, this.options.requestTimeoutMs)) ? 'healthy' : undefined;
  }
}

/** Whether the container has stopped (a failed inspect counts as "not known to have stopped"). */
async function hasExited(container: WaitArgs[0]): Promise<boolean> {
  try {
    const status = (await container.inspect()).State.Status;
    return status === 'exited' || status === 'dead';
  } catch {
    return false;
  }
}
