import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DockerComposeEnvironment, Wait, type StartedDockerComposeEnvironment, type StartedTestContainer } from 'testcontainers';
import { HSI_READY_PATH } from '../../contract/hsi-environment.ts';
import { STACK_PROFILE_ENV, type StackProfile } from '../../contract/profiles.ts';
import type { StackConfig } from '../../config/stack-config.ts';
import { ConfigError, EnvironmentError, errorMessage } from '../../errors.ts';
import { run } from '../../util/exec.ts';
import { ownerLabels, removeLeftovers, removeRun } from '../cleanup.ts';
import { hsiLabels } from '../containers/container-hardening.ts';
import { JAEGER_QUERY_PORT } from '../containers/jaeger-container.ts';
import { TOXIPROXY_API_PORT } from '../containers/toxiproxy-container.ts';
import { detectGpu } from '../gpu.ts';
import { stackImages } from '../images/image-refs.ts';
import { registerTeardown } from '../teardown.ts';
import { requireTestcontainersConfigured } from '../testcontainers-env.ts';
import { renderOverride, toxiproxyConfig } from './compose-override.ts';
import { ADDED_SERVICES, planRewiring, ResolvedComposeSchema, type ComposeRewiring, type ParsedUrl, type ResolvedCompose } from './compose-plan.ts';
import { requireCompose } from './compose-plugin.ts';

/**
 * A team's own compose file under Testcontainers' compose support, with the harness's Jaeger
 * and Toxiproxy added and every backend hop rewired through them by a generated override
 * (compose-plan.ts, compose-override.ts). Fluent like HsiStack:
 *
 *   const stack = await new ComposeStack(config, 'compose/reference.yml').withRunId(id).start();
 *   stack.getBackendUrl(); await stack.stop();
 *
 * The override, Toxiproxy's proxies file and the resolved file go to `workDir` (the run's
 * results folder), so what ran can be read afterwards.
 */

/** A missing file is one line, exit 2, before anything starts; returns the absolute path. */
export function checkComposeFile(file: string): string {
  const path = resolve(file);
  if (!existsSync(path) || !statSync(path).isFile()) throw new ConfigError(`--compose ${file}: no such file; give the path of a compose file (e.g. compose/reference.yml)`);
  return path;
}

/** Compose project names: lower-case letters, digits, `-` and `_`. */
export function composeProjectName(runId: string): string {
  return `hsi-chaos-${runId.toLowerCase().replace(/[^a-z0-9_-]/g, '-')}`;
}

/** Per-service environment the run adds, by role (backend, detector, llm) before the roles are known. */
export interface RoleEnvironment {
  backend?: Record<string, string>;
  detector?: Record<string, string>;
  llm?: Record<string, string>;
}

/** The reference-stack profile for the services playing backend, detector and LLM (HSI_PROFILE). */
export function profileEnvironment(profile: StackProfile): RoleEnvironment {
  const env = { [STACK_PROFILE_ENV]: profile };
  return { backend: env, detector: env, llm: env };
}

export class ComposeStack {
  private readonly config: StackConfig;
  private readonly file: string;
  private runId = `compose-${randomBytes(3).toString('hex')}`;
  private workDir: string | undefined;
  private log: (line: string) => void = () => {};
  private detached = false;
  private roleEnv: RoleEnvironment = {};

  constructor(config: StackConfig, file: string) {
    this.config = config;
    this.file = resolve(file);
  }
  withRunId(runId: string): this {
    this.runId = runId;
    return this;
  }
  /** Where the generated files go (default: results/<run-id>/compose). */
  withWorkDir(dir: string): this {
    this.workDir = resolve(dir);
    return this;
  }
  withLog(log: (line: string) => void): this {
    this.log = log;
    return this;
  }
  withDetached(detached: boolean): this {
    this.detached = detached;
    return this;
  }
  /** Scenario settings and defect switches, per role. */
  withRoleEnvironment(env: RoleEnvironment): this {
    this.roleEnv = { ...env };
    return this;
  }

  /**
   * Reads and plans the file without starting anything (`docker compose config`): a file compose
   * refuses, or one without a backend hsi-chaos recognises, is one line, exit 2.
   */
  async validate(): Promise<{ compose: ResolvedCompose; plan: ComposeRewiring; env: Record<string, string> }> {
    checkComposeFile(this.file);
    await requireCompose();
    const env = { ...this.composeVariables(), ...this.secrets() };
    const compose = await resolveComposeFile(this.file, composeProjectName(this.runId), env);
    return { compose, plan: planRewiring(this.file, compose, { otelBatchDelayMs: this.config.otelBatchDelayMs }), env };
  }

  async start(): Promise<StartedComposeStack> {
    const started = Date.now();
    requireTestcontainersConfigured();
    const { compose, plan, env } = await this.validate();
    const project = composeProjectName(this.runId);
    for (const note of plan.notes) this.log(`compose: ${note}`);
    const gpus = await detectGpu(this.config.gpu);
    if (!gpus && plan.gpuServices.length > 0) this.log(`compose: no GPU here (gpu: ${this.config.gpu}): GPU reservations of ${plan.gpuServices.join(', ')} are reset for this run (kept as written on a GPU host)`);
    const files = this.writeFiles(plan, compose, gpus);
    const leftovers = await removeLeftovers();
    if (leftovers > 0) this.log(`removed ${leftovers} leftover container(s)/network(s) of crashed runs`);
    const unregister = this.detached ? () => {} : registerTeardown(`stack ${this.runId}`, () => downProject(this.file, files.override, project, env, this.runId));
    try {
      this.log(`compose: starting ${basename(this.file)} as project ${project} (override: ${files.override})…`);
      const environment = await this.composeEnvironment(files.override, project, env, plan).up();
      unregister();
      const totalSeconds = (Date.now() - started) / 1000;
      return new StartedComposeStack({ runId: this.runId, project, file: this.file, override: files.override, environment, plan, totalSeconds, detached: this.detached, gpus, emulatorImage: stackImages(this.config).referenceStack, compose });
    } catch (error) {
      this.log(`compose stack start failed, removing what was started of run ${this.runId}`);
      await downProject(this.file, files.override, project, env, this.runId).catch(() => undefined);
      unregister();
      throw error instanceof ConfigError || error instanceof EnvironmentError ? error : new EnvironmentError(`compose stack ${basename(this.file)} did not start: ${errorMessage(error).split('\n')[0]}`);
    }
  }

  /** The images hsi-chaos built or pulls, for files that name them (the shipped ones do). */
  private composeVariables(): Record<string, string> {
    const images = stackImages(this.config);
    return { HSI_CHAOS_POSTGRES_IMAGE: images.postgres, HSI_CHAOS_REDIS_IMAGE: images.redis, HSI_CHAOS_REFERENCE_IMAGE: images.referenceStack };
  }

  /** Random passwords per run, unless the caller set its own. */
  private secrets(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of ['POSTGRES_PASSWORD', 'REDIS_PASSWORD']) {
      if (process.env[name] === undefined) out[name] = randomBytes(12).toString('hex');
    }
    return out;
  }

  private writeFiles(plan: ComposeRewiring, compose: ResolvedCompose, gpus: boolean): { override: string } {
    const dir = this.workDir ?? join(resolve(this.config.resultsDir), this.runId, 'compose');
    mkdirSync(dir, { recursive: true });
    const toxiproxyConfigFile = join(dir, 'toxiproxy.json');
    writeFileSync(toxiproxyConfigFile, toxiproxyConfig(plan.proxies));
    const images = stackImages(this.config);
    const extra: Record<string, Record<string, string>> = {};
    for (const role of ['backend', 'detector', 'llm'] as const) {
      const service = plan.roles[role];
      if (service !== undefined && this.roleEnv[role] !== undefined) extra[service] = { ...(extra[service] ?? {}), ...this.roleEnv[role] };
    }
    const labels = (role: string) => ({ ...hsiLabels(this.runId, role), ...ownerLabels(this.detached) });
    const override = join(dir, 'override.yml');
    writeFileSync(override, renderOverride({ plan, compose, images, labels, toxiproxyConfigFile, keepGpuReservations: gpus, extraEnvironment: extra }));
    return { override };
  }

  private composeEnvironment(override: string, project: string, env: Record<string, string>, plan: ComposeRewiring): DockerComposeEnvironment {
    const e = new DockerComposeEnvironment(dirname(this.file), [basename(this.file), override])
      .withProjectName(project)
      .withEnvironment(env)
      .withAutoCleanup(false)
      .withStartupTimeout(120_000)
      .withWaitStrategy(`${plan.roles.backend}-1`, Wait.forHttp(HSI_READY_PATH, plan.ports.backend).forStatusCode(200))
      .withWaitStrategy(`${ADDED_SERVICES.toxiproxy}-1`, Wait.forHttp('/version', TOXIPROXY_API_PORT).forStatusCode(200))
      .withWaitStrategy(`${ADDED_SERVICES.jaeger}-1`, Wait.forHttp('/api/v3/services', JAEGER_QUERY_PORT).forStatusCode(200));
    return e;
  }
}

/** `docker compose config`: the file as compose reads it (interpolated, merged, normalised); its complaint is one line, exit 2. */
export async function resolveComposeFile(file: string, project: string, env: Record<string, string>): Promise<ResolvedCompose> {
  const res = await run('docker', ['compose', '-p', project, '-f', basename(file), 'config', '--format', 'json'], { cwd: dirname(file), env: { ...process.env, ...env } });
  if (res.code !== 0) {
    const reason = res.stderr.trim().split('\n').filter((l) => l.trim() !== '').pop() ?? `exit ${res.code}`;
    throw new ConfigError(`${file}: compose cannot read it: ${reason}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(res.stdout);
  } catch (error) {
    throw new EnvironmentError(`docker compose config gave no JSON for ${file}: ${errorMessage(error)}`);
  }
  const parsed = ResolvedComposeSchema.safeParse(value);
  if (!parsed.success) throw new ConfigError(`${file}: unexpected compose structure at ${parsed.error.issues[0]?.path.join('.') ?? '?'}: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}

/** `compose down -v` for the project, then whatever still carries the run's labels. */
async function downProject(file: string, override: string, project: string, env: Record<string, string>, runId: string): Promise<void> {
  await run('docker', ['compose', '-p', project, '-f', basename(file), '-f', override, 'down', '-v', '-t', '5', '--remove-orphans'], { cwd: dirname(file), env: { ...process.env, ...env }, timeoutMs: 60_000 }).catch(() => undefined);
  await removeRun(runId);
}

interface StartedComposeParts {
  runId: string;
  project: string;
  file: string;
  override: string;
  environment: StartedDockerComposeEnvironment;
  plan: ComposeRewiring;
  totalSeconds: number;
  detached: boolean;
  gpus: boolean;
  emulatorImage: string;
  compose: ResolvedCompose;
}

const hostUrl = (c: StartedTestContainer, port: number): string => new URL(`http://${c.getHost()}:${c.getMappedPort(port)}`).href.replace(/\/$/, '');

export class StartedComposeStack {
  readonly runId: string;
  readonly project: string;
  readonly plan: ComposeRewiring;
  readonly timings: { totalSeconds: number; perService: Record<string, number> };
  private readonly parts: StartedComposeParts;
  private readonly unregister: () => void;
  private stopped: Promise<void> | undefined;

  constructor(parts: StartedComposeParts) {
    this.parts = parts;
    this.runId = parts.runId;
    this.project = parts.project;
    this.plan = parts.plan;
    this.timings = { totalSeconds: parts.totalSeconds, perService: {} };
    this.unregister = parts.detached ? () => {} : registerTeardown(`stack ${parts.runId}`, () => this.stop());
  }

  container(service: string): StartedTestContainer {
    return this.parts.environment.getContainer(`${service}-1`);
  }
  getBackendUrl(): string {
    return hostUrl(this.container(this.plan.roles.backend), this.plan.ports.backend);
  }
  getJaegerQueryUrl(): string {
    return hostUrl(this.container(ADDED_SERVICES.jaeger), JAEGER_QUERY_PORT);
  }
  getToxiproxyApiUrl(): string {
    return hostUrl(this.container(ADDED_SERVICES.toxiproxy), TOXIPROXY_API_PORT);
  }
  /** PostgreSQL as the harness reaches it: the backend's credentials, the published port (not through Toxiproxy). */
  getPostgresConnectionUri(): string | undefined {
    return this.directUrl('postgres', 'postgres:', this.plan.credentials.postgres);
  }
  getRedisUrl(): string | undefined {
    return this.directUrl('redis', 'redis:', this.plan.credentials.redis);
  }
  private directUrl(role: 'postgres' | 'redis', protocol: string, cred: ParsedUrl | undefined): string | undefined {
    const service = this.plan.roles[role];
    const port = this.plan.ports[role];
    if (service === undefined || port === undefined || cred === undefined) return undefined;
    const c = this.container(service);
    const auth = cred.username !== '' || cred.password !== '' ? `${encodeURIComponent(cred.username)}${cred.password !== '' ? `:${encodeURIComponent(cred.password)}` : ''}@` : '';
    const path = role === 'redis' ? (/^\/\d+/.exec(cred.rest)?.[0] ?? '/0') : cred.rest;
    return `${protocol}//${auth}${c.getHost()}:${c.getMappedPort(port)}${path}`;
  }
  /** The detector's and the LLM's URLs on the host (their /health), whatever runs them; undefined when the file has none. */
  getDetectorUrl(): string | undefined {
    return this.aiUrl('detector');
  }
  getLlmUrl(): string | undefined {
    return this.aiUrl('llm');
  }
  private aiUrl(role: 'detector' | 'llm'): string | undefined {
    const service = this.plan.roles[role];
    const port = this.plan.ports[role];
    return service === undefined || port === undefined ? undefined : hostUrl(this.container(service), port);
  }
  /** Admin URLs of the AI services that are the reference stack's emulators (their /admin/faults). */
  emulatorUrls(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const role of ['detector', 'llm'] as const) {
      const service = this.plan.roles[role];
      const url = this.aiUrl(role);
      if (service !== undefined && url !== undefined && this.parts.compose.services[service]?.image === this.parts.emulatorImage) out[role] = url;
    }
    return out;
  }

  /** The containers whose GPU reservations were kept (a GPU host). */
  gpuContainers(): { id: string; name: string }[] {
    if (!this.parts.gpus) return [];
    return this.plan.gpuServices.map((s) => ({ id: this.container(s).getId(), name: roleName(this.plan, s) }));
  }

  /** compose down -v (backend first: compose stops dependents first), then anything left with the run's labels. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.unregister();
      await this.parts.environment.down({ removeVolumes: true, timeout: 5_000 }).catch(() => undefined);
      await removeRun(this.runId);
    })();
    return this.stopped;
  }
}

/** The role a service plays (detector, llm, …), else its name. */
function roleName(plan: ComposeRewiring, service: string): string {
  return Object.entries(plan.roles).find(([, s]) => s === service)?.[0] ?? service;
}
