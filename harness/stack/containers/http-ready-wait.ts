import { request } from 'undici';
import { PollingWait, type WaitArgs } from './polling-wait.ts';

export interface HttpReadyOptions {
  /** The status that means ready; `'any'`: any HTTP answer (the port listens and speaks HTTP). */
  status: number | 'any';
  /** Pause between two probes. */
  intervalMs: number;
  /** How long one probe may take before it counts as "not yet". */
  requestTimeoutMs: number;
}

const DEFAULTS: HttpReadyOptions = { status: 200, intervalMs: 100, requestTimeoutMs: 5_000 };

/**
 * Ready when GET `path` on the container's published `port` answers (200 by default), probed
 * every 100 ms. testcontainers' `Wait.forHttp` probes once per read timeout (1 s), so each
 * container of a stack was seen ready up to a second late, twice on a stack start's critical
 * path (the parallel group, then the backend); shortening its read timeout would also cut
 * each probe short under load. `Wait.forListeningPorts` runs three `docker exec`s per port
 * every 100 ms, which costs the CPU the starting containers need: an HTTP answer on a port
 * proves it listens without either.
 */
export class HttpReadyWait extends PollingWait {
  private readonly probes: readonly { path: string; port: number; status: number | 'any' }[];
  private readonly options: HttpReadyOptions;

  constructor(probes: readonly { path: string; port: number; status?: number | 'any' }[], options: Partial<HttpReadyOptions> = {}) {
    super(60_000);
    this.options = { ...DEFAULTS, ...options };
    this.probes = probes.map((p) => ({ path: p.path, port: p.port, status: p.status ?? this.options.status }));
  }

  /** One probe: GET `path` on `port`, ready on `status` (200 unless given). */
  static forHttp(path: string, port: number, options: Partial<HttpReadyOptions> = {}): HttpReadyWait {
    return new HttpReadyWait([{ path, port }], options);
  }

  async waitUntilReady(_container: WaitArgs[0], boundPorts: WaitArgs[1]): Promise<void> {
    const host = await this.runtimeHost();
    const deadline = this.deadline();
    for (const probe of this.probes) {
      const url = new URL(probe.path, `http://${host}:${boundPorts.getBinding(probe.port)}`);
      await this.pollUntil(
        deadline,
        this.options.intervalMs,
        () => answersHttp(url, probe.status, this.options.requestTimeoutMs),
        () => `${url.href} did not answer ${probe.status === 'any' ? 'HTTP' : probe.status} within ${this.getStartupTimeout()} ms`,
      );
    }
  }
}

/** Whether GET `url` answers `status` (`'any'`: any HTTP answer) within `timeoutMs`; a failed request is "not yet". */
export async function answersHttp(url: URL, status: number | 'any', timeoutMs: number): Promise<boolean> {
  try {
    const res = await request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    await res.body.dump();
    return status === 'any' || res.statusCode === status;
  } catch {
    return false;
  }
}
