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

async function http(method: 'PUT' | 'DELETE', url: string, body?: unknown): Promise<void> {
  const res = await request(url, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/json' } : {},
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    headersTimeout: 5_000,
    bodyTimeout: 5_000,
  });
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
      await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
      return;
    }
    this.toxics.set(`${p.target}/${p.name}`, await proxy.addToxic(toxicBody(p, f)));
  }

  async remove(p: PlannedFault): Promise<void> {
    const f = p.fault;
    if (f.type === 'emulator') {
      await http('DELETE', this.emulatorUrl(p.target));
      return;
    }
    const proxy = await this.proxy(p.target);
    if (f.type === 'down') {
      await proxy.update({ enabled: true, listen: proxy.listen, upstream: proxy.upstream });
      return;
    }
    const key = `${p.target}/${p.name}`;
    const toxic = this.toxics.get(key) ?? (await proxy.getToxic(p.name));
    await toxic.remove();
    this.toxics.delete(key);
  }

  private async proxy(name: string): Promise<Proxy> {
    const known = this.proxies.get(name);
    if (known) return known;
    const proxy = await this.toxiproxy.get(name);
    this.proxies.set(name, proxy);
    return proxy;
  }

  async resetAll(): Promise<void> {
    // POST /reset re-enables every proxy and removes every toxic in one call.
    await this.toxiproxy.reset();
    this.toxics.clear();
    await Promise.all(Object.keys(this.endpoints.emulatorUrls).map((t) => http('DELETE', this.emulatorUrl(t))));
    for (const [name, proxy] of Object.entries(await this.toxiproxy.getAll())) this.proxies.set(name, proxy);
  }

  /** What is still in effect: for the "nothing left behind" checks. */
  async residue(): Promise<{ toxics: string[]; disabledProxies: string[] }> {
    const proxies = await this.toxiproxy.getAll();
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
