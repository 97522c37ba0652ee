import { Document, isMap, isSeq, type Node } from 'yaml';
import { JAEGER_OTLP_GRPC_PORT, JAEGER_OTLP_HTTP_PORT, JAEGER_QUERY_PORT } from '../containers/jaeger-container.ts';
import { TOXIPROXY_API_PORT, type ProxySpec } from '../containers/toxiproxy-container.ts';
import { ADDED_SERVICES, type ComposeRewiring, type ResolvedCompose } from './compose-plan.ts';

/**
 * The override file given to compose after the team's own file (pure). It never edits the
 * team's file: it adds Toxiproxy (proxies from a JSON config at start, so they exist before
 * the backend's first connection) and Jaeger, sets the rewired variables, publishes ports on
 * 127.0.0.1 only (replacing the file's list: `!override`), labels every container, network
 * and volume for cleanup, and adds run-time settings. GPU reservations stay as written unless
 * the host has no GPU (then `!reset`, or nothing could start there).
 */

export interface OverrideInput {
  plan: ComposeRewiring;
  compose: ResolvedCompose;
  images: { toxiproxy: string; jaeger: string };
  /** Labels per container role (hsi-chaos.managed, run id, role, owner). */
  labels: (role: string) => Record<string, string>;
  /** Toxiproxy's proxies file on the host (mounted read-only). */
  toxiproxyConfigFile: string;
  /** false: the host has no GPU, reservations are reset for this run. */
  keepGpuReservations: boolean;
  /** Extra environment per service (scenario settings, defect switches). */
  extraEnvironment: Record<string, Record<string, string>>;
}

export const TOXIPROXY_CONFIG_IN_CONTAINER = '/etc/hsi-chaos/toxiproxy.json';

/** Toxiproxy's `-config` file: the proxies, created when the server starts. */
export function toxiproxyConfig(proxies: readonly ProxySpec[]): string {
  return `${JSON.stringify(proxies.map((p) => ({ name: p.name, listen: `0.0.0.0:${p.listenPort}`, upstream: p.upstream, enabled: true })), null, 2)}\n`;
}

/** Compose interpolates override files too: a literal `$` is written `$$`. */
const literal = (value: string): string => value.replaceAll('$', '$$$$');

function roleOf(plan: ComposeRewiring, service: string): string {
  for (const [role, name] of Object.entries(plan.roles)) if (name === service) return role;
  return `compose:${service}`;
}

const loopbackPorts = (ports: readonly number[]): string[] => ports.map((p) => `127.0.0.1::${p}`);

function serviceOverride(input: OverrideInput, name: string): Record<string, unknown> {
  const { plan } = input;
  const out: Record<string, unknown> = { labels: input.labels(roleOf(plan, name)) };
  const env = { ...(plan.environment[name] ?? {}), ...(input.extraEnvironment[name] ?? {}) };
  if (Object.keys(env).length > 0) out['environment'] = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, literal(v)]));
  const publish = plan.publish[name];
  if (publish !== undefined) out['ports'] = loopbackPorts(publish);
  if (plan.environment[name] !== undefined) {
    out['depends_on'] = { [ADDED_SERVICES.toxiproxy]: { condition: 'service_started' }, [ADDED_SERVICES.jaeger]: { condition: 'service_started' } };
  }
  if (!input.keepGpuReservations && plan.gpuServices.includes(name)) out['deploy'] = { resources: { reservations: { devices: [] } } };
  return out;
}

function addedServices(input: OverrideInput): Record<string, Record<string, unknown>> {
  const networks = input.plan.networks;
  return {
    [ADDED_SERVICES.toxiproxy]: {
      image: input.images.toxiproxy,
      command: ['-host=0.0.0.0', '-config', TOXIPROXY_CONFIG_IN_CONTAINER],
      volumes: [`${input.toxiproxyConfigFile}:${TOXIPROXY_CONFIG_IN_CONTAINER}:ro`],
      ports: loopbackPorts([TOXIPROXY_API_PORT]),
      // On every path and the fault timeline's clock: it must not wait for the CPU (as in the embedded stack).
      cpu_shares: 4096,
      networks,
      labels: input.labels('toxiproxy'),
    },
    [ADDED_SERVICES.jaeger]: {
      image: input.images.jaeger,
      environment: { JAEGER_LISTEN_HOST: '0.0.0.0' },
      ports: loopbackPorts([JAEGER_QUERY_PORT, JAEGER_OTLP_GRPC_PORT, JAEGER_OTLP_HTTP_PORT]),
      networks,
      labels: input.labels('jaeger'),
    },
  };
}

/** Labels for the file's own networks and volumes (external ones are not ours to label). */
function ownResources(defs: Record<string, { external?: boolean | undefined } | null> | undefined, labels: Record<string, string>): Record<string, unknown> | undefined {
  const own = Object.entries(defs ?? {}).filter(([, d]) => d?.external !== true);
  return own.length > 0 ? Object.fromEntries(own.map(([n]) => [n, { labels }])) : undefined;
}

/** Tags compose reads in override files: `ports: !override [...]`, `devices: !reset []`. */
function tagNodes(doc: Document): void {
  const services = doc.get('services', true);
  if (!isMap(services)) return;
  for (const item of services.items) {
    const svc = item.value;
    if (!isMap(svc)) continue;
    const ports = svc.get('ports', true);
    if (isSeq(ports)) (ports as Node).tag = '!override';
    const devices = doc.getIn(['services', String((item.key as { value?: unknown }).value ?? item.key), 'deploy', 'resources', 'reservations', 'devices'], true);
    if (isSeq(devices)) (devices as Node).tag = '!reset';
  }
}

export function renderOverride(input: OverrideInput): string {
  const services: Record<string, unknown> = {};
  for (const name of Object.keys(input.compose.services).sort()) services[name] = serviceOverride(input, name);
  Object.assign(services, addedServices(input));
  const top: Record<string, unknown> = { services };
  const networks = ownResources(input.compose.networks ?? undefined, input.labels('network'));
  if (networks !== undefined) top['networks'] = networks;
  const volumes = ownResources(input.compose.volumes ?? undefined, input.labels('volume'));
  if (volumes !== undefined) top['volumes'] = volumes;
  const doc = new Document(top, { aliasDuplicateObjects: false });
  tagNodes(doc);
  return `# Generated by hsi-chaos for one run: rewires the stack through Toxiproxy and Jaeger.\n${doc.toString({ lineWidth: 0 })}`;
}
