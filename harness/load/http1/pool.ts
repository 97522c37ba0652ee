import { Http1Connection, type Http1ConnectionOptions } from './connection.ts';

/**
 * The load driver's connections: one Http1Connection per VU and k6 scenario, created on the
 * VU's first request (k6 gives each VU its own connections), all to one origin.
 */
export class Http1Pool {
  /** the Host header every request carries (`127.0.0.1:8000`) */
  readonly host: string;
  private readonly hostname: string;
  private readonly port: number;
  private readonly options: Http1ConnectionOptions;
  private readonly byScenario = new Map<string, Http1Connection[]>();
  private readonly all: Http1Connection[] = [];

  /** `origin`: `http://host:port` or `https://...` (HTTP/1.1 either way) */
  constructor(origin: string, options: Http1ConnectionOptions = {}) {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`the load driver speaks http or https, not ${url.protocol} (${origin})`);
    const tls = url.protocol === 'https:';
    this.host = url.host;
    this.hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = url.port === '' ? (tls ? 443 : 80) : Number(url.port);
    this.options = { tls, ...options };
  }

  /** The VU's connection (created on its first request). */
  connection(scenario: string, vu: number): Http1Connection {
    let connections = this.byScenario.get(scenario);
    if (!connections) {
      connections = [];
      this.byScenario.set(scenario, connections);
    }
    let connection = connections[vu];
    if (!connection) {
      connection = new Http1Connection(this.hostname, this.port, this.options);
      connections[vu] = connection;
      this.all.push(connection);
    }
    return connection;
  }

  /** connections opened so far */
  get size(): number {
    return this.all.length;
  }

  /** Lets what is in flight end, then closes every connection. */
  async close(): Promise<void> {
    await Promise.all(this.all.map((c) => c.close()));
  }
}
