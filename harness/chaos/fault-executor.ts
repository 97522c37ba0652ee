import { request } from 'undici';
import { Toxiproxy, type ICreateToxicBody, type Proxy, type Toxic } from 'toxiproxy-node-client';
import type { Fault, PlannedFault } from './fault-schema.ts';

/**
 * Applies and removes one fault. Toxics go to Toxiproxy's API; `down` disables the
 * proxy; emulator faults go to the reference stack emulators' /admin/faults.
 */
export interface FaultExecutor {
  apply(fault: PlannedFault): Promise<void>;
  remove(fault: PlannedFault): Promise<void>;
  /** Everything back to normal: all toxics gone, every proxy enabled, emulators clean. */
  resetAll(): Promise<void>;
}

export interface StackFaultEndpoints {
  toxiproxyApiUrl: string;
  /** Host URLs of the emulators' admin endpoints, by target name (detector, llm). */
  emulatorUrls: Record<string, string>;
}

function toxicBody(p: PlannedFault, fault: Exclude<Fault, { type: 'down' } | { type: 'emulator' }>): ICreateToxicBody<unknown> {
  const { type, stream, toxicity, ...attributes } = fault;
  return { name: p.name, type, stream, toxicity, attributes };
}

/** "connect ECONNREFUSED …" or undici's bare "fetch failed" with its cause's code: always with the endpoint. */
export function describeCallFailure(what: string, url: string, error: unknown): string {
  const e = error as { message?: unknown; code?: unknown; cause?: { code?: unknown; message?: unknown } };
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  const message = typeof e.message === 'string' ? e.message : String(error);
  const cause = typeof e.cause?.message === 'string' && e.cause.message !== message ? `: ${e.cause.message}` : '';
  return `${what} ${url} failed: ${message}${cause}${code !== undefined && !`${message}${cause}`.includes(code) ? ` (${code})` : ''}`;
}

/** Runs one call to a fault endpoint; its failure names the endpoint (never just "fetch failed"). */
async function calling<T>(what: string, url: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof Error && error.message.includes(url)) throw error;
    throw new Error(describeCallFailure(what, url, error), { cause: error });
  }
}

async function http(method: 'PUT' | 'DELETE', url: string, body?: unknown): Promise<void> {
  const res = await calling(`emulator fault endpoint ${method}`, url, () =>
    request(url, {
      method,
      headers: body !== undefined ? { 'content-type': 'application/json' } : {},
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      headersTimeout: 5_000,
      bodyTimeout: 5_000,
    }),
  );
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
}

/**
 * Timed calls cost one round trip each: the proxies are read once when the timeline is reset
 * (before the load) and the toxics created are kept, so applying or removing a fault is a
 * single POST or DELETE. (Looking them up first tripled the calls, and the lag with them.)
 */
export class StackFaultExecutor implements FaultExecutor {
  private readonly toxiproxy: Toxiproxy;
  private readonly endpoints: StackFaultEndpoints;
  private readonly proxies = new Map<string, Proxy>();
  /** Toxics this executor created, by `${proxy}/${toxic}`. */
  private readonly toxics = new Map<string, Toxic<unknown>>();
  /**
   * `down` faults in effect per proxy: overlapping ones hold it down together, and only the
   * end of the last one enables it again (the first one's end must not revive the proxy while
   * the report says the second is still in effect).
   */
  private readonly downHolders = new Map<string, Set<string>>();

  constructor(endpoints: StackFaultEndpoints) {
    this.endpoints = endpoints;
    this.toxiproxy = new Toxiproxy(endpoints.toxiproxyApiUrl);
  }

  private emulatorUrl(target: string): string {
    const url = this.endpoints.emulatorUrls[target];
    if (url === undefined) throw new Error(`no emulator admin endpoint for target ${target}`);
    return `${url}/admin/faults`;
  }

  async apply(p: PlannedFault): Promise<void> {
    const f = p.fault;
    if (f.type === 'emulator') {
      const { type: _type, ...settings } = f;
      await http('PUT', this.emulatorUrl(p.target), settings);
      return;
    }
    const proxy = await this.proxy(p.target);
    if (f.type === 'down') {
      const holders = this.downHolders.get(p.target) ?? new Set<string>();
      holders.add(p.name);
      this.downHolders.set(p.target, holders);
      if (holders.size === 1) await this.toxiproxyCall(`disable proxy ${p.target}`, () => proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream }));
      return;
    }
    this.toxics.set(`${p.target}/${p.name}`, await this.toxiproxyCall(`add toxic ${p.name} to ${p.target}`, () => proxy.addToxic(toxicBody(p, f))));
  }

  async remove(p: PlannedFault): Promise<void> {
    const f = p.fault;
    if (f.type === 'emulator') {
      await http('DELETE', this.emulatorUrl(p.target));
      return;
    }
    const proxy = await this.proxy(p.target);
    if (f.type === 'down') {
      const holders = this.downHolders.get(p.target);
      holders?.delete(p.name);
      if (holders && holders.size > 0) return; // another down fault still holds this proxy down
      this.downHolders.delete(p.target);
      await this.toxiproxyCall(`enable proxy ${p.target}`, () => proxy.update({ enabled: true, listen: proxy.listen, upstream: proxy.upstream }));
      return;
    }
    const key = `${p.target}/${p.name}`;
    const toxic = this.toxics.get(key) ?? (await this.toxiproxyCall(`read toxic ${p.name} of ${p.target}`, () => proxy.getToxic(p.name)));
    await this.toxiproxyCall(`remove toxic ${p.name} from ${p.target}`, () => toxic.remove());
    this.toxics.delete(key);
  }

  /** Down faults holding each proxy down right now (for the report and the tests). */
  downFaultsInEffect(): Record<string, string[]> {
    return Object.fromEntries([...this.downHolders].map(([proxy, names]) => [proxy, [...names]]));
  }

  private toxiproxyCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return calling(`Toxiproxy (${what})`, this.endpoints.toxiproxyApiUrl, fn);
  }

  private async proxy(name: string): Promise<Proxy> {
    const known = this.proxies.get(name);
    if (known) return known;
    const proxy = await this.toxiproxyCall(`read proxy ${name}`, () => this.toxiproxy.get(name));
    this.proxies.set(name, proxy);
    return proxy;
  }

  /** Whether this executor knows a Toxiproxy (an external stack may only have emulator endpoints). */
  get hasToxiproxy(): boolean {
    return this.endpoints.toxiproxyApiUrl !== '';
  }

  async resetAll(): Promise<void> {
    this.toxics.clear();
    this.downHolders.clear();
    await Promise.all(Object.keys(this.endpoints.emulatorUrls).map((t) => http('DELETE', this.emulatorUrl(t))));
    if (!this.hasToxiproxy) return;
    // POST /reset re-enables every proxy and removes every toxic in one call.
    await this.toxiproxyCall('reset', () => this.toxiproxy.reset());
    for (const [name, proxy] of Object.entries(await this.toxiproxyCall('list proxies', () => this.toxiproxy.getAll()))) this.proxies.set(name, proxy);
  }

  /** What is still in effect: for the "nothing left behind" checks. */
  async residue(): Promise<{ toxics: string[]; disabledProxies: string[] }> {
    const proxies = await this.toxiproxyCall('list proxies', () => this.toxiproxy.getAll());
    const toxics: string[] = [];
    const disabledProxies: string[] = [];
    for (const [name, proxy] of Object.entries(proxies)) {
      const json = proxy.toJson();
      if (!json.enabled) disabledProxies.push(name);
      for (const t of json.toxics) toxics.push(`${name}/${t.name}`);
    }
    return { toxics, disabledProxies };
  }
}
