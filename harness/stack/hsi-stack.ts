import { randomBytes } from 'node:crypto';
import { HSI_ENV } from '../contract/hsi-api.ts';
import { getContainerRuntimeClient, StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { EMULATED, type AiModes } from '../config/real-ai-config.ts';
import { STACK_PROFILE_ENV, type StackProfile } from '../contract/profiles.ts';
import type { StackConfig } from '../config/stack-config.ts';
import { ownerLabels, removeLeftovers, removeRun } from './cleanup.ts';
import { hsiLabels, MANAGED_LABEL, RUN_ID_LABEL } from './containers/container-hardening.ts';
import { JaegerContainer, JAEGER_OTLP_GRPC_PORT, type StartedJaegerContainer } from './containers/jaeger-container.ts';
import { DISPOSABLE_POSTGRES_SETTINGS, HsiPostgresContainer, type StartedPostgreSqlContainer } from './containers/postgres-container.ts';
import { HsiRedisContainer, type StartedRedisContainer } from './containers/redis-container.ts';
import {
  DetectorEmulatorContainer,
  DETECTOR_PORT,
  LLM_PORT,
  LlmEmulatorContainer,
  ReferenceBackendContainer,
  type StartedBackendContainer,
} from './containers/reference-stack-containers.ts';
import { defectEnvironment, type DefectName } from './defects.ts';
import { ToxiproxyContainer, type ProxySpec, type StartedToxiproxyContainer } from './containers/toxiproxy-container.ts';
import { LLM_ENGINE_ALIAS, LlamaServerContainer, LlmProxyContainer, OnnxDetectorContainer } from './containers/real-ai-containers.ts';
import { ROLE_LABEL } from './containers/container-hardening.ts';
import { detectGpu } from './gpu.ts';
import { checkModelsFit, modelPlans, startEngine } from './real-ai/engine-checks.ts';
import { stackImages, type StackImages } from './images/image-refs.ts';
import { registerTeardown } from './teardown.ts';
import { requireTestcontainersConfigured } from './testcontainers-env.ts';

// Ryuk and the published ports' host: set at the program's edge (testcontainers-env.ts), not here.

/** Network aliases inside the stack: what services dial. */
export const ALIASES = {
  postgres: 'postgres',
  redis: 'redis',
  jaeger: 'jaeger',
  toxiproxy: 'toxiproxy',
  backend: 'backend',
  detector: 'ai-yolo26',
  llm: 'ai-llm',
} as const;

/**
 * OTel service names of the AI slots. Real engine or emulator, a slot keeps its reference-stack
 * name, so expectations need not know the mode; spans and resources say `ai.emulated`.
 */
export const AI_SERVICE_NAMES = { detector: 'ai-yolo26-emulator', llm: 'ai-llm-emulator' } as const;

/** Where the drop folder is mounted in the backend (the real stack's /cameras). */
export const DROP_DIR_IN_CONTAINER = '/cameras';

/** Toxiproxy proxies: every backend dependency goes through one (name = chaos target). */
export const PROXIES = {
  postgres: { name: 'postgres', listenPort: 8666, upstream: `${ALIASES.postgres}:5432` },
  redis: { name: 'redis', listenPort: 8667, upstream: `${ALIASES.redis}:6379` },
  detector: { name: 'detector', listenPort: 8668, upstream: `${ALIASES.detector}:${DETECTOR_PORT}` },
  llm: { name: 'llm', listenPort: 8669, upstream: `${ALIASES.llm}:${LLM_PORT}` },
} as const satisfies Record<string, ProxySpec>;

export type ProxyTarget = keyof typeof PROXIES;

export interface StackTimings {
  /** From start() to every container ready and proxies in place. */
  totalSeconds: number;
  perService: Record<string, number>;
}

/** How long each service took to start, and the whole start (from the timer's creation). */
class StartTimer {
  private readonly started = Date.now();
  private readonly perService: Record<string, number> = {};

  async time<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    const value = await fn();
    this.perService[name] = (Date.now() - t0) / 1000;
    return value;
  }

  timings(): StackTimings {
    return { totalSeconds: (Date.now() - this.started) / 1000, perService: this.perService };
  }
}

/** What one start decided before any container: images, network, credentials, defect switches. */
interface StartPlan {
  images: StackImages;
  network: StartedNetwork;
  gpus: boolean;
  db: { user: string; password: string; database: string };
  redisPassword: string;
  defectEnv: ReturnType<typeof defectEnvironment>;
}

interface StartedServices {
  postgres: StartedPostgreSqlContainer;
  redis: StartedRedisContainer;
  jaeger: StartedJaegerContainer;
  toxiproxy: StartedToxiproxyContainer;
  detector: AiServiceContainer;
  llm: AiServiceContainer;
}

function secret(): string {
  return randomBytes(12).toString('hex');
}

export function newRunId(prefix = 'run'): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${prefix}-${stamp}-${randomBytes(3).toString('hex')}`;
}

/**
 * The embedded HSI stack on one Docker network, started by Testcontainers:
 * PostgreSQL, Redis, Jaeger, Toxiproxy, the reference backend and the detector
 * emulator. Fluent like testcontainers' own builders:
 *
 *   const stack = await new HsiStack(config).withRunId('run-1').start();
 *   stack.getBackendUrl(); await stack.stop();
 */
export class HsiStack {
  private readonly config: StackConfig;
  private runId = newRunId();
  private log: (line: string) => void = () => {};
  private backendEnv: Record<string, string> = {};
  private detectorEnv: Record<string, string> = {};
  private llmEnv: Record<string, string> = {};
  private defects: DefectName[] = [];
  private dropFolder: string | undefined;
  private detached = false;
  private extraLabels: Record<string, string> = {};
  private ai: AiModes = { ...EMULATED };
  private profile: StackProfile;
  /** The llama.cpp server behind the LLM's tracing proxy (ai.llm real). */
  private llmEngine: StartedTestContainer | undefined;

  constructor(config: StackConfig) {
    this.config = config;
    this.profile = config.profile;
  }
  /** Which HSI the reference stack imitates (HSI_PROFILE in every reference-stack container); default: the config's `profile`. */
  withProfile(profile: StackProfile): this {
    this.profile = profile;
    return this;
  }
  withRunId(runId: string): this {
    this.runId = runId;
    return this;
  }
  withLog(log: (line: string) => void): this {
    this.log = log;
    return this;
  }
  /** Extra environment for the backend (settings, defect switches). */
  withBackendEnvironment(env: Record<string, string>): this {
    this.backendEnv = { ...this.backendEnv, ...env };
    return this;
  }
  withDetectorEnvironment(env: Record<string, string>): this {
    this.detectorEnv = { ...this.detectorEnv, ...env };
    return this;
  }
  withLlmEnvironment(env: Record<string, string>): this {
    this.llmEnv = { ...this.llmEnv, ...env };
    return this;
  }
  /** Turn on defect switches of the reference stack (see defects.ts). */
  withDefects(defects: readonly DefectName[]): this {
    this.defects = [...defects];
    return this;
  }
  /** Mount a host folder as the backend's camera drop folder (the real stack's FTP path). */
  withDropFolder(hostDir: string): this {
    this.dropFolder = hostDir;
    return this;
  }
  /** A detached stack outlives this process (`stack up`); only `stack down` removes it. */
  withDetached(detached: boolean): this {
    this.detached = detached;
    return this;
  }
  withLabels(labels: Record<string, string>): this {
    this.extraLabels = { ...this.extraLabels, ...labels };
    return this;
  }
  /** Emulators (default) or real inference engines, per AI service. */
  withAi(modes: AiModes): this {
    this.ai = { ...modes };
    return this;
  }

  async start(): Promise<StartedHsiStack> {
    const timer = new StartTimer();
    requireTestcontainersConfigured();
    const leftovers = await removeLeftovers();
    if (leftovers > 0) this.log(`removed ${leftovers} leftover container(s)/network(s) of crashed runs`);

    const images = stackImages(this.config, this.ai);
    // Until stop() is wired, a Ctrl-C in the middle of start must still remove what exists.
    const unregister = this.detached ? () => {} : registerTeardown(`stack ${this.runId}`, () => removeRun(this.runId));
    try {
      const gpus = await detectGpu(this.config.gpu);
      // Model files and sizes are checked before anything starts (one line, exit 2).
      checkModelsFit(modelPlans(this.config.realAi, this.ai), this.config.realAi, gpus);
      const network = await this.createNetwork(this.roleLabels('network'));
      const plan: StartPlan = {
        images,
        network,
        gpus,
        db: { user: `hsi_${secret().slice(0, 8)}`, password: secret(), database: 'hsi' },
        redisPassword: secret(),
        defectEnv: defectEnvironment(this.defects),
      };
      const services = await this.startServices(plan, timer);
      await timer.time('proxies', () => services.toxiproxy.createProxies(Object.values(PROXIES)));
      const backend = await timer.time('backend', () => this.startBackend(plan));
      const timings = timer.timings();
      unregister();
      return new StartedHsiStack({
        runId: this.runId,
        network,
        images,
        ...services,
        redisPassword: plan.redisPassword,
        backend,
        timings,
        defects: this.defects,
        detached: this.detached,
        gpus,
        ai: this.ai,
        profile: this.profile,
        ...(this.llmEngine !== undefined ? { llmEngine: this.llmEngine } : {}),
      });
    } catch (error) {
      this.log(`stack start failed, removing what was started of run ${this.runId}`);
      await removeRun(this.runId);
      unregister();
      throw error;
    }
  }

  private roleLabels(role: string): Record<string, string> {
    return { ...hsiLabels(this.runId, role), ...ownerLabels(this.detached), ...this.extraLabels };
  }

  /** Every service but the backend, at once, each timed. */
  private async startServices(plan: StartPlan, timer: StartTimer): Promise<StartedServices> {
    const { images, network, db } = plan;
    const labels = (role: string) => this.roleLabels(role);
    const [postgres, redis, jaeger, toxiproxy, detector, llm] = await Promise.all([
      timer.time('postgres', () =>
        new HsiPostgresContainer(images.postgres)
          .withNetwork(network)
          .withNetworkAliases(ALIASES.postgres)
          .withUsername(db.user)
          .withPassword(db.password)
          .withDatabase(db.database)
          // A disposable test database: no fsync, no waiting for the WAL at COMMIT (docs in reference-stack/README.md).
          .withCommand(['postgres', ...DISPOSABLE_POSTGRES_SETTINGS.flatMap((s) => ['-c', s])])
          .withLabels(labels('postgres'))
          .start(),
      ),
      timer.time('redis', () =>
        new HsiRedisContainer(images.redis)
          .withNetwork(network)
          .withNetworkAliases(ALIASES.redis)
          .withPassword(plan.redisPassword)
          // The contract's Redis: 450 MB allkeys-lru, no persistence.
          .withCommand(['redis-server', '--maxmemory', '450mb', '--maxmemory-policy', 'allkeys-lru', '--save', '', '--appendonly', 'no'])
          .withLabels(labels('redis'))
          .start(),
      ),
      timer.time('jaeger', () => new JaegerContainer(images.jaeger).withNetwork(network).withNetworkAliases(ALIASES.jaeger).withLabels(labels('jaeger')).start()),
      timer.time('toxiproxy', () => new ToxiproxyContainer(images.toxiproxy).withNetwork(network).withNetworkAliases(ALIASES.toxiproxy).withLabels(labels('toxiproxy')).start()),
      timer.time('detector', () => this.startDetector(images, network, plan.gpus, labels('detector'), plan.defectEnv.detector)),
      timer.time('llm', () => this.startLlm(images, network, plan.gpus, labels('llm'), plan.defectEnv.llm)),
    ]);
    return { postgres, redis, jaeger, toxiproxy, detector, llm };
  }

  /** The reference backend, every hop through its Toxiproxy proxy. */
  private startBackend({ images, network, db, redisPassword, defectEnv }: StartPlan): Promise<StartedBackendContainer> {
    const via = (p: ProxySpec) => `${ALIASES.toxiproxy}:${p.listenPort}`;
    const backendContainer = new ReferenceBackendContainer(images.referenceStack);
    if (this.dropFolder !== undefined) {
      backendContainer.withBindMounts([{ source: this.dropFolder, target: DROP_DIR_IN_CONTAINER, mode: 'ro' }]);
    }
    return backendContainer
      .withNetwork(network)
      .withNetworkAliases(ALIASES.backend)
      .withEnvironment({
        ...this.otelEnv('nemotron-backend'),
        [HSI_ENV.databaseUrl]: `postgresql://${db.user}:${db.password}@${via(PROXIES.postgres)}/${db.database}`,
        [HSI_ENV.redisUrl]: `redis://:${redisPassword}@${via(PROXIES.redis)}/0`,
        [HSI_ENV.detectorUrl]: `http://${via(PROXIES.detector)}`,
        [HSI_ENV.llmUrl]: `http://${via(PROXIES.llm)}`,
        ...(this.dropFolder !== undefined ? { CAMERA_DROP_DIR: DROP_DIR_IN_CONTAINER } : {}),
        ...this.profileEnv(),
        ...defectEnv.backend,
        ...this.backendEnv,
      })
      .withLabels(this.roleLabels('backend'))
      .start();
  }

  private startDetector(images: StackImages, network: StartedNetwork, gpus: boolean, labels: Record<string, string>, defectEnv: Record<string, string>): Promise<AiServiceContainer> {
    const env = { ...this.otelEnv(AI_SERVICE_NAMES.detector), ...this.profileEnv(), ...defectEnv, ...this.detectorEnv };
    if (this.ai.detector === 'emulated') {
      return new DetectorEmulatorContainer(images.referenceStack).withNetwork(network).withNetworkAliases(ALIASES.detector).withGpus(gpus).withEnvironment(env).withLabels(labels).start();
    }
    const cfg = this.config.realAi;
    const container = new OnnxDetectorContainer(images.detectorReal, cfg, { modelDir: cfg.modelDir, modelFile: cfg.detectorModelFile });
    container.withNetwork(network).withNetworkAliases(ALIASES.detector).withGpus(gpus).withEnvironment(env).withLabels(labels);
    return startEngine('the real detector (ONNX Runtime)', this.runId, 'detector', cfg.healthTimeoutSeconds, () => container.start());
  }

  private async startLlm(images: StackImages, network: StartedNetwork, gpus: boolean, labels: Record<string, string>, defectEnv: Record<string, string>): Promise<AiServiceContainer> {
    if (this.ai.llm === 'emulated') {
      const env = { ...this.otelEnv(AI_SERVICE_NAMES.llm), ...this.profileEnv(), ...defectEnv, ...this.llmEnv };
      return new LlmEmulatorContainer(images.referenceStack).withNetwork(network).withNetworkAliases(ALIASES.llm).withGpus(gpus).withEnvironment(env).withLabels(labels).start();
    }
    // llama.cpp's server behind its tracing proxy (llama.cpp emits no spans): the proxy holds the
    // slot's alias. llama-server reads LLAMA_ARG_* from its environment; emulator knobs it ignores.
    const cfg = this.config.realAi;
    const engine = new LlamaServerContainer(images.llmReal, cfg, { modelDir: cfg.modelDir, modelFile: cfg.llmModelFile }, gpus);
    engine.withNetwork(network).withNetworkAliases(LLM_ENGINE_ALIAS).withGpus(gpus).withEnvironment(this.llmEnv).withLabels({ ...labels, [ROLE_LABEL]: 'llm-engine' });
    const proxy = new LlmProxyContainer(images.referenceStack, cfg.healthTimeoutSeconds);
    proxy.withNetwork(network).withNetworkAliases(ALIASES.llm).withEnvironment(this.otelEnv(AI_SERVICE_NAMES.llm)).withLabels(labels);
    this.llmEngine = await startEngine('the real LLM (llama.cpp server)', this.runId, 'llm-engine', cfg.healthTimeoutSeconds, () => engine.start());
    return startEngine('the real LLM\'s tracing proxy', this.runId, 'llm', cfg.healthTimeoutSeconds, () => proxy.start());
  }

  private profileEnv(): Record<string, string> {
    return { [STACK_PROFILE_ENV]: this.profile };
  }

  private otelEnv(serviceName: string): Record<string, string> {
    return {
      [HSI_ENV.serviceName]: serviceName,
      [HSI_ENV.otlpEndpoint]: `http://${ALIASES.jaeger}:${JAEGER_OTLP_GRPC_PORT}`,
      OTEL_BSP_SCHEDULE_DELAY: String(this.config.otelBatchDelayMs),
    };
  }

  private async createNetwork(labels: Record<string, string>): Promise<StartedNetwork> {
    // testcontainers' Network cannot carry our labels; create it through its client instead.
    const client = await getContainerRuntimeClient();
    const name = `hsi-chaos-${this.runId}`;
    const network = await client.network.create({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: labels });
    return new StartedNetwork(client, name, network);
  }
}

interface StartedParts {
  runId: string;
  network: StartedNetwork;
  images: StackImages;
  postgres: StartedPostgreSqlContainer;
  redis: StartedRedisContainer;
  redisPassword: string;
  jaeger: StartedJaegerContainer;
  toxiproxy: StartedToxiproxyContainer;
  detector: AiServiceContainer;
  llm: AiServiceContainer;
  backend: StartedBackendContainer;
  timings: StackTimings;
  defects: DefectName[];
  detached: boolean;
  gpus: boolean;
  ai: AiModes;
  profile: StackProfile;
  llmEngine?: StartedTestContainer;
}

/** An AI service's container, emulator or real engine: the contract's URL either way. */
export type AiServiceContainer = StartedTestContainer & { getUrl(): string };

export class StartedHsiStack {
  readonly runId: string;
  readonly timings: StackTimings;
  readonly images: StackImages;
  readonly gpus: boolean;
  readonly postgres: StartedPostgreSqlContainer;
  readonly redis: StartedRedisContainer;
  readonly jaeger: StartedJaegerContainer;
  readonly toxiproxy: StartedToxiproxyContainer;
  readonly detector: AiServiceContainer;
  readonly llm: AiServiceContainer;
  readonly backend: StartedBackendContainer;
  readonly defects: readonly DefectName[];
  /** Which AI services are emulators and which real engines. */
  readonly ai: Readonly<AiModes>;
  /** Which HSI the reference stack imitates. */
  readonly profile: StackProfile;
  private readonly parts: StartedParts;
  private readonly unregister: () => void;
  private stopped: Promise<void> | undefined;

  constructor(parts: StartedParts) {
    this.parts = parts;
    this.runId = parts.runId;
    this.timings = parts.timings;
    this.images = parts.images;
    this.gpus = parts.gpus;
    this.postgres = parts.postgres;
    this.redis = parts.redis;
    this.jaeger = parts.jaeger;
    this.toxiproxy = parts.toxiproxy;
    this.detector = parts.detector;
    this.llm = parts.llm;
    this.backend = parts.backend;
    this.defects = parts.defects;
    this.ai = parts.ai;
    this.profile = parts.profile;
    this.unregister = parts.detached ? () => {} : registerTeardown(`stack ${parts.runId}`, () => this.stop());
  }

  getBackendUrl(): string {
    return this.backend.getUrl();
  }
  getJaegerQueryUrl(): string {
    return this.jaeger.getQueryUrl();
  }
  getToxiproxyApiUrl(): string {
    return this.toxiproxy.getApiUrl();
  }
  getDetectorUrl(): string {
    return this.detector.getUrl();
  }
  getLlmUrl(): string {
    return this.llm.getUrl();
  }
  /** PostgreSQL as the harness reaches it: direct mapped port, not through Toxiproxy. */
  getPostgresConnectionUri(): string {
    return this.postgres.getConnectionUri();
  }
  getRedisUrl(): string {
    return `redis://:${this.parts.redisPassword}@${this.redis.getHost()}:${this.redis.getPort()}/0`;
  }
  getNetworkName(): string {
    return this.parts.network.getName();
  }
  /** The AI containers that got GPUs (none without one). */
  gpuContainers(): { id: string; name: string }[] {
    return this.gpus ? [{ id: this.detector.getId(), name: 'detector' }, { id: this.llm.getId(), name: 'llm' }] : [];
  }
  containers(): Record<string, StartedTestContainer> {
    const { postgres, redis, jaeger, toxiproxy, detector, llm, backend } = this.parts;
    return { postgres, redis, jaeger, toxiproxy, detector, llm, backend, ...(this.parts.llmEngine ? { llmEngine: this.parts.llmEngine } : {}) };
  }

  /**
   * Stops every container (backend first, so it flushes its spans) and removes the network.
   * PostgreSQL, Redis, Jaeger and Toxiproxy hold nothing worth a graceful stop (their data goes
   * with the container): they are killed at once (docker stop -t 0). A graceful stop made every
   * teardown wait 2–4 s for PostgreSQL's shutdown checkpoint.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.unregister();
      const { backend, detector, llm, postgres, redis, jaeger, toxiproxy, network } = this.parts;
      await Promise.allSettled([backend.stop({ timeout: 5_000 }), detector.stop({ timeout: 5_000 }), llm.stop({ timeout: 5_000 }), ...(this.parts.llmEngine ? [this.parts.llmEngine.stop({ timeout: 5_000 })] : [])]);
      await Promise.allSettled([postgres, redis, jaeger, toxiproxy].map((c) => c.stop({ timeout: 0 })));
      await network.stop().catch(() => undefined);
      // Belt and braces: anything of this run that survived (e.g. a failed stop) goes too.
      await removeRun(this.runId);
    })();
    return this.stopped;
  }
}

export { MANAGED_LABEL, RUN_ID_LABEL };
