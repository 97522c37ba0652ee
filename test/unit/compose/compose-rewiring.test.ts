import { describe, expect, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { ConfigError } from '../../../harness/errors.ts';
import { renderOverride, toxiproxyConfig, type OverrideInput } from '../../../harness/stack/compose/compose-override.ts';
import { ADDED_SERVICES, formatServiceUrl, parseServiceUrl, planRewiring, ResolvedComposeSchema, type ResolvedCompose } from '../../../harness/stack/compose/compose-plan.ts';
import { composeProjectName } from '../../../harness/stack/compose/compose-stack.ts';

const gpu = { resources: { reservations: { devices: [{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }] } } };
const net = { 'security-net': null };

/** `docker compose config --format json` of a file laid out like the real project's (compose/hsi-prod-layout.yml). */
function prodLayout(): ResolvedCompose {
  return ResolvedComposeSchema.parse({
    name: 'p',
    services: {
      postgres: { image: 'pg', ports: [{ target: 5432, published: '5432' }], environment: { POSTGRES_PASSWORD: 'p$$w' }, networks: net },
      redis: { image: 'redis', ports: [{ target: 6379, published: '6379' }], environment: { REDIS_PASSWORD: 'r3d' }, networks: net },
      'ai-yolo26': { image: 'ref', ports: [{ target: 8095, published: '8095' }], environment: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://alloy:4317' }, networks: net, deploy: gpu },
      'ai-llm': { image: 'ref', ports: [{ target: 8091, published: '8091' }], environment: {}, networks: net, deploy: gpu },
      backend: {
        image: 'ref',
        ports: [{ target: 8000, published: '8000' }],
        networks: net,
        deploy: gpu,
        environment: {
          DATABASE_URL: 'postgresql+asyncpg://security:p$$w@postgres:5432/security',
          REDIS_URL: 'redis://redis:6379',
          REDIS_PASSWORD: 'r3d',
          YOLO26_URL: 'http://ai-yolo26:8095',
          NEMOTRON_URL: 'http://ai-llm:8091',
          FLORENCE_URL: 'http://ai-florence:8092',
          OTEL_ENABLED: 'false',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://alloy:4317',
        },
      },
    },
    networks: { 'security-net': { name: 'p_security-net', driver: 'bridge' } },
    volumes: { postgres_data: { name: 'p_postgres_data' }, shared: { external: true, name: 'shared' } },
  });
}

describe('service URLs', () => {
  it('parses any scheme with an authority, fills the default port, and writes the same URL back', () => {
    expect(parseServiceUrl('postgresql+asyncpg://u:p@postgres:5432/db', 5432)).toEqual({ protocol: 'postgresql+asyncpg:', username: 'u', password: 'p', host: 'postgres', port: 5432, rest: '/db' });
    expect(parseServiceUrl('redis://redis', 6379)).toMatchObject({ host: 'redis', port: 6379, username: '', password: '' });
    expect(formatServiceUrl(parseServiceUrl('http://ai-llm:8091/v1?x=1', 80)!)).toBe('http://ai-llm:8091/v1?x=1');
    expect(parseServiceUrl('not a url', 80)).toBeUndefined();
  });

  it('names compose projects in compose\'s alphabet', () => {
    expect(composeProjectName('Steady.Run-20261201T1Z')).toBe('hsi-chaos-steady-run-20261201t1z');
  });
});

describe('planRewiring', () => {
  it('puts every backend hop of the real layout through a proxy named after its chaos target, and OTLP to our Jaeger', () => {
    const plan = planRewiring('f.yml', prodLayout(), { otelBatchDelayMs: 500 });
    expect(plan.roles).toEqual({ backend: 'backend', postgres: 'postgres', redis: 'redis', detector: 'ai-yolo26', llm: 'ai-llm' });
    expect(plan.proxies).toEqual([
      { name: 'postgres', listenPort: 8666, upstream: 'postgres:5432' },
      { name: 'redis', listenPort: 8667, upstream: 'redis:6379' },
      { name: 'detector', listenPort: 8668, upstream: 'ai-yolo26:8095' },
      { name: 'llm', listenPort: 8669, upstream: 'ai-llm:8091' },
    ]);
    const tp = ADDED_SERVICES.toxiproxy;
    expect(plan.environment['backend']).toEqual({
      // `config` writes `$` as `$$`: the plan holds the value itself.
      DATABASE_URL: `postgresql+asyncpg://security:p$w@${tp}:8666/security`,
      // The real backend keeps the password apart; a URL-only client gets it in the URL.
      REDIS_URL: `redis://:r3d@${tp}:8667`,
      YOLO26_URL: `http://${tp}:8668`,
      NEMOTRON_URL: `http://${tp}:8669`,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://${ADDED_SERVICES.jaeger}:4317`,
      OTEL_ENABLED: 'true',
      OTEL_BSP_SCHEDULE_DELAY: '500',
    });
    expect(plan.environment['ai-yolo26']).toMatchObject({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://${ADDED_SERVICES.jaeger}:4317` });
    expect(plan.environment['ai-llm']).toBeUndefined();
    expect(plan.gpuServices.sort()).toEqual(['ai-llm', 'ai-yolo26', 'backend']);
    expect(plan.networks).toEqual(['security-net']);
    expect(plan.publish).toMatchObject({ backend: [8000], postgres: [5432], redis: [6379], 'ai-yolo26': [8095], 'ai-llm': [8091] });
    expect(plan.credentials.postgres).toMatchObject({ username: 'security', password: 'p$w', host: 'postgres', rest: '/security' });
    expect(plan.credentials.redis).toMatchObject({ password: 'r3d' });
    expect(plan.notes).toEqual(['backend FLORENCE_URL: enrichment is not a chaos target, left as it is']);
  });

  it('leaves a URL whose host is not a service of the file alone, and says so', () => {
    const compose = prodLayout();
    compose.services['backend']!.environment!['NEMOTRON_URL'] = 'http://llm.example.internal:8091';
    const plan = planRewiring('f.yml', compose, { otelBatchDelayMs: 500 });
    expect(plan.environment['backend']?.['NEMOTRON_URL']).toBeUndefined();
    expect(plan.proxies.map((p) => p.name)).not.toContain('llm');
    expect(plan.notes).toContain('backend NEMOTRON_URL: host llm.example.internal is not a service of this file, left as it is (no Toxiproxy on that hop)');
  });

  it('refuses a file without a backend it can recognise, and a service named like ours (one line each)', () => {
    const noBackend = prodLayout();
    delete noBackend.services['backend']!.environment!['DATABASE_URL'];
    expect(() => planRewiring('f.yml', noBackend, { otelBatchDelayMs: 500 })).toThrow(ConfigError);
    expect(() => planRewiring('f.yml', noBackend, { otelBatchDelayMs: 500 })).toThrow(/f\.yml: no service has a DATABASE_URL/);
    const clash = prodLayout();
    clash.services[ADDED_SERVICES.jaeger] = { image: 'x' };
    expect(() => planRewiring('f.yml', clash, { otelBatchDelayMs: 500 })).toThrow(/reserved for hsi-chaos/);
  });
});

describe('renderOverride', () => {
  const input = (keepGpuReservations: boolean): OverrideInput => {
    const compose = prodLayout();
    return {
      plan: planRewiring('f.yml', compose, { otelBatchDelayMs: 500 }),
      compose,
      images: { toxiproxy: 'tp:1', jaeger: 'j:1' },
      labels: (role) => ({ 'hsi-chaos.managed': 'true', 'hsi-chaos.role': role }),
      toxiproxyConfigFile: '/r/compose/toxiproxy.json',
      keepGpuReservations,
      extraEnvironment: { backend: { BATCH_IDLE_TIMEOUT_SECONDS: '2', SECRET: 'a$b' } },
    };
  };

  it('replaces published ports by loopback ones, labels everything ours, escapes $ and adds Toxiproxy and Jaeger', () => {
    const text = renderOverride(input(true));
    const doc = parseDocument(text);
    expect(doc.getIn(['services', 'backend', 'ports'], true)).toMatchObject({ tag: '!override' });
    const o = parse(text, { customTags: [{ tag: '!override', collection: 'seq', resolve: (v: unknown) => v }] }) as { services: Record<string, Record<string, unknown>>; networks: Record<string, unknown>; volumes: Record<string, unknown> };
    expect(o.services['backend']?.['ports']).toEqual(['127.0.0.1::8000']);
    expect(o.services['postgres']?.['ports']).toEqual(['127.0.0.1::5432']);
    expect(o.services['backend']?.['environment']).toMatchObject({ DATABASE_URL: 'postgresql+asyncpg://security:p$$w@hsi-chaos-toxiproxy:8666/security', BATCH_IDLE_TIMEOUT_SECONDS: '2', SECRET: 'a$$b' });
    expect(o.services['backend']?.['labels']).toEqual({ 'hsi-chaos.managed': 'true', 'hsi-chaos.role': 'backend' });
    expect(o.services['redis']?.['labels']).toMatchObject({ 'hsi-chaos.role': 'redis' });
    expect(o.services['backend']?.['depends_on']).toEqual({ 'hsi-chaos-toxiproxy': { condition: 'service_started' }, 'hsi-chaos-jaeger': { condition: 'service_started' } });
    expect(o.services[ADDED_SERVICES.toxiproxy]).toMatchObject({ image: 'tp:1', networks: ['security-net'], volumes: ['/r/compose/toxiproxy.json:/etc/hsi-chaos/toxiproxy.json:ro'], ports: ['127.0.0.1::8474'] });
    expect(o.services[ADDED_SERVICES.jaeger]).toMatchObject({ image: 'j:1', networks: ['security-net'], ports: ['127.0.0.1::16686', '127.0.0.1::4317', '127.0.0.1::4318'] });
    // Our labels on the file's own network and volume; an external volume is not ours.
    expect(o.networks).toEqual({ 'security-net': { labels: { 'hsi-chaos.managed': 'true', 'hsi-chaos.role': 'network' } } });
    expect(Object.keys(o.volumes)).toEqual(['postgres_data']);
  });

  it('keeps GPU reservations as written on a GPU host and resets them only without one', () => {
    expect(renderOverride(input(true))).not.toMatch(/deploy|!reset/);
    const noGpu = parseDocument(renderOverride(input(false)));
    for (const s of ['backend', 'ai-yolo26', 'ai-llm']) expect(noGpu.getIn(['services', s, 'deploy', 'resources', 'reservations', 'devices'], true)).toMatchObject({ tag: '!reset' });
    expect(noGpu.getIn(['services', 'postgres', 'deploy'])).toBeUndefined();
  });

  it('writes the proxies for Toxiproxy\'s -config', () => {
    expect(JSON.parse(toxiproxyConfig([{ name: 'redis', listenPort: 8667, upstream: 'redis:6379' }]))).toEqual([{ name: 'redis', listen: '0.0.0.0:8667', upstream: 'redis:6379', enabled: true }]);
  });
});
