import { z } from 'zod';
import {
  HSI_ENRICHMENT_URL_VARIABLES,
  HSI_OTEL_ENABLED_VARIABLE,
  HSI_OTLP_VARIABLES,
  HSI_REDIS_PASSWORD_VARIABLE,
  HSI_SERVICE_PORTS,
  HSI_URL_VARIABLES,
  OTEL_BATCH_DELAY_VARIABLE,
  type HsiDependency,
} from '../../contract/hsi-environment.ts';
import { HSI_ENV } from '../../contract/hsi-api.ts';
import { ConfigError } from '../../errors.ts';
import type { ProxySpec } from '../containers/toxiproxy-container.ts';

/**
 * How a team's compose file is rewired (pure; the file as `docker compose config --format
 * json` resolved it): every URL variable of the contract (hsi-environment.ts) whose host is a
 * service of the file goes through a Toxiproxy proxy named after its chaos target, every OTLP
 * endpoint to the harness's Jaeger. The result says what the override must change and where
 * the harness finds each part.
 */

/** The services the harness adds to the file. */
export const ADDED_SERVICES = { toxiproxy: 'hsi-chaos-toxiproxy', jaeger: 'hsi-chaos-jaeger' } as const;

/** Toxiproxy's listen ports per chaos target: the embedded stack's (hsi-stack.ts PROXIES). */
export const PROXY_LISTEN_PORTS: Readonly<Record<HsiDependency, number>> = Object.freeze({ postgres: 8666, redis: 8667, detector: 8668, llm: 8669 });

const ServiceSchema = z
  .object({
    image: z.string().optional(),
    // `config` writes a literal `$` as `$$` (its output is a compose file again): read the value.
    environment: z.record(z.string(), z.string().transform((v) => v.replaceAll('$$', '$')).nullable()).optional(),
    ports: z.array(z.object({ target: z.number().int(), published: z.string().optional(), host_ip: z.string().optional(), protocol: z.string().optional() }).loose()).optional(),
    networks: z.record(z.string(), z.unknown()).optional(),
    network_mode: z.string().optional(),
    deploy: z.object({ resources: z.object({ reservations: z.object({ devices: z.array(z.unknown()).optional() }).loose().optional() }).loose().optional() }).loose().nullable().optional(),
  })
  .loose();

export const ResolvedComposeSchema = z
  .object({
    name: z.string().optional(),
    services: z.record(z.string(), ServiceSchema),
    networks: z.record(z.string(), z.object({ external: z.boolean().optional(), name: z.string().optional() }).loose().nullable()).optional(),
    volumes: z.record(z.string(), z.object({ external: z.boolean().optional(), name: z.string().optional() }).loose().nullable()).optional(),
  })
  .loose();
export type ResolvedCompose = z.infer<typeof ResolvedComposeSchema>;

export interface ParsedUrl {
  protocol: string;
  username: string;
  password: string;
  host: string;
  port: number;
  /** Path, query and fragment as written. */
  rest: string;
}

/** A URL with an authority (`scheme://[user[:pass]@]host[:port][/…]`), any scheme (postgresql+asyncpg included). */
export function parseServiceUrl(value: string, defaultPort: number): ParsedUrl | undefined {
  const m = /^([a-z][a-z0-9+.-]*:)\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([A-Za-z0-9_.-]+)(?::(\d+))?(.*)$/i.exec(value.trim());
  if (!m) return undefined;
  return { protocol: m[1]!, username: m[2] ?? '', password: m[3] ?? '', host: m[4]!, port: m[5] !== undefined ? Number(m[5]) : defaultPort, rest: m[6] ?? '' };
}

export function formatServiceUrl(u: ParsedUrl): string {
  const auth = u.username !== '' || u.password !== '' ? `${u.username}${u.password !== '' ? `:${u.password}` : ''}@` : '';
  return `${u.protocol}//${auth}${u.host}:${u.port}${u.rest}`;
}

export interface ComposeRewiring {
  /** Toxiproxy proxies, one per chaos target the file uses. */
  proxies: ProxySpec[];
  /** The service that plays each part (the backend: the one with the database URL). */
  roles: { backend: string } & Partial<Record<HsiDependency, string>>;
  /** Variables the override sets, per service. */
  environment: Record<string, Record<string, string>>;
  /** Container ports to publish on 127.0.0.1, per service (what the file published, plus what the harness reads). */
  publish: Record<string, number[]>;
  /** Services with GPU device reservations (deploy.resources.reservations.devices). */
  gpuServices: string[];
  /** Networks of the rewired services and their upstreams: the added services join them. */
  networks: string[];
  /** How the harness logs in: from the backend's own URLs. */
  credentials: { postgres?: ParsedUrl; redis?: ParsedUrl };
  /** Ports the backend's dependencies listen on inside the stack. */
  ports: { backend: number } & Partial<Record<HsiDependency, number>>;
  /** One line each: what was left as it is and why. */
  notes: string[];
}

export interface RewiringOptions {
  /** OTEL_BSP_SCHEDULE_DELAY for every service that exports spans. */
  otelBatchDelayMs: number;
}

const envOf = (svc: ResolvedCompose['services'][string]): Record<string, string> =>
  Object.fromEntries(Object.entries(svc.environment ?? {}).filter((e): e is [string, string] => e[1] !== null));

class RewiringBuilder {
  readonly out: ComposeRewiring = { proxies: [], roles: { backend: '' }, environment: {}, publish: {}, gpuServices: [], networks: [], credentials: {}, ports: { backend: HSI_SERVICE_PORTS.backend }, notes: [] };
  private readonly networks = new Set<string>();
  private readonly file: string;
  private readonly compose: ResolvedCompose;
  private readonly options: RewiringOptions;
  constructor(file: string, compose: ResolvedCompose, options: RewiringOptions) {
    this.file = file;
    this.compose = compose;
    this.options = options;
  }

  set(service: string, name: string, value: string): void {
    (this.out.environment[service] ??= {})[name] = value;
  }

  joinNetworksOf(service: string): void {
    const svc = this.compose.services[service];
    if (svc?.network_mode !== undefined) throw new ConfigError(`${this.file}: service ${service} uses network_mode "${svc.network_mode}"; hsi-chaos can only put Toxiproxy between services on compose networks`);
    for (const n of Object.keys(svc?.networks ?? { default: null })) this.networks.add(n);
  }

  /** One variable: through the target's proxy when its host is a service of this file. */
  rewireUrl(service: string, name: string, value: string, dependency: HsiDependency, defaultPort: number): void {
    const url = parseServiceUrl(value, defaultPort);
    if (url === undefined) throw new ConfigError(`${this.file}: service ${service}: ${name} is not a URL with a host (${dependency}); fix the value`);
    if (this.compose.services[url.host] === undefined) {
      this.out.notes.push(`${service} ${name}: host ${url.host} is not a service of this file, left as it is (no Toxiproxy on that hop)`);
      return;
    }
    const upstream = `${url.host}:${url.port}`;
    const existing = this.out.proxies.find((p) => p.name === dependency);
    if (existing !== undefined && existing.upstream !== upstream) {
      this.out.notes.push(`${service} ${name}: ${upstream} differs from ${existing.upstream}, the ${dependency} proxy's upstream; left as it is`);
      return;
    }
    if (existing === undefined) this.out.proxies.push({ name: dependency, listenPort: PROXY_LISTEN_PORTS[dependency], upstream });
    this.out.roles[dependency] ??= url.host;
    this.out.ports[dependency] ??= url.port;
    this.joinNetworksOf(url.host);
    this.joinNetworksOf(service);
    // The real backend keeps Redis's password in REDIS_PASSWORD; a client that reads only the URL needs it there.
    const password = dependency === 'redis' && url.password === '' ? (envOf(this.compose.services[service]!)[HSI_REDIS_PASSWORD_VARIABLE] ?? '') : url.password;
    this.set(service, name, formatServiceUrl({ ...url, password, host: ADDED_SERVICES.toxiproxy, port: PROXY_LISTEN_PORTS[dependency] }));
  }

  rewireOtlp(service: string, name: string, value: string): void {
    const url = parseServiceUrl(value, 4317);
    if (url === undefined) throw new ConfigError(`${this.file}: service ${service}: ${name} is not a URL (an OTLP endpoint like http://jaeger:4317); fix the value`);
    const port = url.port === 4318 ? 4318 : 4317;
    this.set(service, name, formatServiceUrl({ ...url, host: ADDED_SERVICES.jaeger, port }));
    this.set(service, HSI_OTEL_ENABLED_VARIABLE, 'true');
    this.set(service, OTEL_BATCH_DELAY_VARIABLE, String(this.options.otelBatchDelayMs));
    this.joinNetworksOf(service);
  }

  service(name: string): void {
    const svc = this.compose.services[name]!;
    const env = envOf(svc);
    for (const v of HSI_URL_VARIABLES) if (env[v.name] !== undefined && env[v.name] !== '') this.rewireUrl(name, v.name, env[v.name]!, v.dependency, v.defaultPort);
    for (const v of HSI_OTLP_VARIABLES) if (env[v] !== undefined && env[v] !== '') this.rewireOtlp(name, v, env[v]!);
    for (const v of HSI_ENRICHMENT_URL_VARIABLES) if (env[v] !== undefined && env[v] !== '') this.out.notes.push(`${name} ${v}: enrichment is not a chaos target, left as it is`);
    if ((svc.deploy?.resources?.reservations?.devices ?? []).length > 0) this.out.gpuServices.push(name);
    const published = (svc.ports ?? []).map((p) => p.target);
    if (published.length > 0) this.out.publish[name] = [...new Set(published)];
  }

  finish(): ComposeRewiring {
    this.out.networks = [...this.networks].sort();
    return this.out;
  }
}

/** The plan for one resolved compose file; a file with no backend the contract recognises is one line, exit 2. */
export function planRewiring(file: string, compose: ResolvedCompose, options: RewiringOptions): ComposeRewiring {
  for (const added of Object.values(ADDED_SERVICES)) {
    if (compose.services[added] !== undefined) throw new ConfigError(`${file}: service name ${added} is reserved for hsi-chaos; rename that service`);
  }
  const b = new RewiringBuilder(file, compose, options);
  for (const name of Object.keys(compose.services).sort()) b.service(name);
  const plan = b.finish();
  const backend = Object.keys(compose.services)
    .sort()
    .find((s) => plan.environment[s]?.[HSI_ENV.databaseUrl] !== undefined);
  if (backend === undefined) {
    const names = HSI_URL_VARIABLES.filter((v) => v.dependency === 'postgres').map((v) => v.name).join(', ');
    throw new ConfigError(`${file}: no service has a ${names} pointing at a database service of this file, so hsi-chaos cannot tell the backend; the names it rewires: ${HSI_URL_VARIABLES.map((v) => v.name).join(', ')}`);
  }
  plan.roles.backend = backend;
  const backendEnv = envOf(compose.services[backend]!);
  const db = parseServiceUrl(backendEnv[HSI_ENV.databaseUrl]!, HSI_SERVICE_PORTS.postgres);
  if (db !== undefined) plan.credentials.postgres = db;
  const redisValue = backendEnv[HSI_ENV.redisUrl];
  const redis = redisValue !== undefined ? parseServiceUrl(redisValue, HSI_SERVICE_PORTS.redis) : undefined;
  if (redis !== undefined) plan.credentials.redis = { ...redis, password: redis.password !== '' ? redis.password : (backendEnv[HSI_REDIS_PASSWORD_VARIABLE] ?? '') };
  // The harness reads these directly (rows, queues, the API, emulator admin routes): publish them.
  const wanted: [string | undefined, number | undefined][] = [
    [backend, plan.ports.backend],
    [plan.roles.postgres, plan.ports.postgres],
    [plan.roles.redis, plan.ports.redis],
    [plan.roles.detector, plan.ports.detector],
    [plan.roles.llm, plan.ports.llm],
  ];
  for (const [service, port] of wanted) {
    if (service === undefined || port === undefined) continue;
    const list = (plan.publish[service] ??= []);
    if (!list.includes(port)) list.push(port);
  }
  return plan;
}
