import { createHash } from 'node:crypto';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvironmentError, HarnessError } from '../../errors.ts';
import { commandExists, run, runChecked } from '../../util/exec.ts';
import { debianMirror } from './apt-mirror.ts';
import { BuildLock } from './build-lock.ts';
import { DEFAULT_IMAGE_PREFIX, localImages, PINNED, type LocalImages } from './image-refs.ts';
import { SLIM_CONFIG_FILE, slimInputs, writeSlimModule } from './jaeger-slim.ts';

/**
 * Builds every image of the stack offline (no registry is reachable on our machines):
 * a Debian base from debootstrap (the mirror from the machine's apt sources), PostgreSQL and
 * Redis from Debian packages, Jaeger (a slim distribution, jaeger-slim.ts) and Toxiproxy
 * compiled from source through the Go module proxy, Node 24 from the npm package `node`, and
 * the reference stack bundled by esbuild. The Go builds start at once, beside debootstrap;
 * their build and module caches live in the cache dir, so a rebuild compiles only what changed.
 * Each image carries a label with the hash of its inputs; a matching label skips the build.
 */
export const INPUTS_LABEL = 'hsi-chaos.inputs-hash';
/** Bump to force every local image to rebuild when the recipes change in a way hashes miss. */
const RECIPE_VERSION = '1';
const HERE = dirname(fileURLToPath(import.meta.url));

export interface BuildImagesOptions {
  cacheDir: string;
  force?: boolean;
  log?: (line: string) => void;
  /** Name prefix of the emulated stack's images (default hsi-chaos): another prefix builds an independent set. */
  imagePrefix?: string;
  /** Debian archive for debootstrap; default: HSI_CHAOS_DEBIAN_MIRROR, else the machine's apt sources. */
  debianMirror?: string;
}

export interface ImageBuildReport {
  image: string;
  action: 'built' | 'up-to-date';
  seconds: number;
  logFile?: string;
}

type Key = keyof LocalImages;
/** An image this build makes: a key of the emulated stack's images, or a subclass's own image by its reference. */
export type ImageTarget = Key | { ref: string; name: string };

function targetName(target: ImageTarget): string {
  return typeof target === 'string' ? target : target.name;
}

function sha256(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(p);
    h.update('\0');
  }
  return h.digest('hex').slice(0, 32);
}

async function imageInputsHash(ref: string): Promise<string | undefined> {
  const res = await run('docker', ['image', 'inspect', '--format', `{{ index .Config.Labels "${INPUTS_LABEL}" }}`, ref]);
  if (res.code !== 0) return undefined;
  const value = res.stdout.trim();
  return value === '' || value === '<no value>' ? undefined : value;
}

export class LocalImageBuild {
  protected readonly reports: ImageBuildReport[] = [];
  protected readonly opts: BuildImagesOptions;
  protected readonly log: (line: string) => void;
  protected readonly images: LocalImages;

  constructor(opts: BuildImagesOptions) {
    this.opts = opts;
    this.log = opts.log ?? (() => {});
    this.images = localImages(opts.imagePrefix ?? DEFAULT_IMAGE_PREFIX);
    mkdirSync(this.dir('logs'), { recursive: true });
  }

  private targetRef(target: ImageTarget): string {
    return typeof target === 'string' ? this.images[target] : target.ref;
  }

  /** The Debian archive: the configured one, else HSI_CHAOS_DEBIAN_MIRROR, else the machine's apt sources. */
  protected debianMirror(): string {
    if (this.opts.debianMirror !== undefined) return this.opts.debianMirror;
    try {
      return debianMirror();
    } catch (error) {
      throw new HarnessError(`${(error as Error).message}, or "debianMirror" in hsi-chaos.config.json`);
    }
  }

  protected hashFor(target: ImageTarget, inputs: string): string {
    return sha256(RECIPE_VERSION, targetName(target), inputs);
  }

  dir(...parts: string[]): string {
    return join(this.opts.cacheDir, ...parts);
  }

  /**
   * Runs `make` only when the image is missing or its inputs changed, holding the image's
   * build lock (build-lock.ts): a build that waited finds the image made by the other one.
   */
  protected async ensure(target: ImageTarget, inputs: string, make: (hash: string, logFile: string) => Promise<void>): Promise<string> {
    const ref = this.targetRef(target);
    const hash = this.hashFor(target, inputs);
    if (!this.opts.force && (await imageInputsHash(ref)) === hash) {
      this.reports.push({ image: ref, action: 'up-to-date', seconds: 0 });
      return hash;
    }
    const lock = await BuildLock.acquire(this.dir('locks'), targetName(target), { onWait: (owner) => this.log(`image ${ref}: waiting for ${owner}, which is building it`) });
    try {
      if (!this.opts.force && (await imageInputsHash(ref)) === hash) {
        this.reports.push({ image: ref, action: 'up-to-date', seconds: 0 });
        return hash;
      }
      await this.make(ref, hash, make, this.dir('logs', `${targetName(target)}.log`));
    } finally {
      lock.release();
    }
    return hash;
  }

  private async make(ref: string, hash: string, make: (hash: string, logFile: string) => Promise<void>, logFile: string): Promise<void> {
    const started = Date.now();
    rmSync(logFile, { force: true });
    this.log(`image ${ref}: building (log: ${logFile})`);
    try {
      await make(hash, logFile);
    } catch (error) {
      // A failed image this one waited for (the base) has already said so.
      if (error instanceof HarnessError) throw error;
      throw new EnvironmentError(`building image ${ref} failed: ${(error as Error).message.split('\n')[0]}; see ${logFile}`);
    }
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    this.log(`image ${ref}: built in ${seconds} s`);
    this.reports.push({ image: ref, action: 'built', seconds, logFile });
  }

  protected async logged(logFile: string, command: string, args: string[], cwd?: string, env?: NodeJS.ProcessEnv): Promise<void> {
    const stream = createWriteStream(logFile, { flags: 'a' });
    stream.write(`$ ${command} ${args.join(' ')}\n`);
    try {
      await runChecked(command, args, { cwd, env: env ?? process.env, onOutput: (c) => stream.write(c) });
    } finally {
      await new Promise((r) => stream.end(r));
    }
  }

  /** docker build of a context directory holding a Dockerfile and its files. */
  protected async dockerBuild(
    target: ImageTarget,
    hash: string,
    logFile: string,
    dockerfile: string,
    files: Record<string, string | Buffer> = {},
    copies: Record<string, string> = {},
    prepare?: (context: string) => void,
  ): Promise<void> {
    const context = this.dir('build', targetName(target));
    rmSync(context, { recursive: true, force: true });
    mkdirSync(context, { recursive: true });
    writeFileSync(join(context, 'Dockerfile'), dockerfile);
    for (const [name, content] of Object.entries(files)) writeFileSync(join(context, name), content);
    for (const [name, source] of Object.entries(copies)) copyFileSync(source, join(context, name));
    prepare?.(context);
    await this.logged(
      logFile,
      'docker',
      ['build', '--label', `${INPUTS_LABEL}=${hash}`, '--label', 'hsi-chaos.image=true', '-t', this.targetRef(target), context],
      context,
      // The classic builder needs no buildx plugin, which Debian's docker.io lacks.
      { ...process.env, DOCKER_BUILDKIT: '0' },
    );
  }

  static baseInputs(mirror: string): string {
    return `debootstrap minbase ${PINNED.debianSuite} ${mirror} ca-certificates`;
  }

  async base(mirror: string): Promise<string> {
    return this.ensure('base', LocalImageBuild.baseInputs(mirror), async (hash, logFile) => {
      await this.ensureDebootstrap(logFile);
      const rootfs = this.dir('rootfs', PINNED.debianSuite);
      rmSync(rootfs, { recursive: true, force: true });
      mkdirSync(dirname(rootfs), { recursive: true });
      await this.logged(logFile, 'debootstrap', ['--variant=minbase', '--include=ca-certificates', PINNED.debianSuite, rootfs, mirror]);
      await this.importRootfs(logFile, rootfs, hash, this.images.base);
    });
  }

  /** A debootstrapped root file system becomes an image (apt usable inside docker build), then goes. */
  protected async importRootfs(logFile: string, rootfs: string, hash: string, ref: string): Promise<void> {
    rmSync(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
    mkdirSync(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
    const tar = `${rootfs}.tar`;
    await this.logged(logFile, 'tar', ['-C', rootfs, '-cf', tar, '.']);
    await this.logged(logFile, 'docker', [
      'import',
      '--change', `LABEL ${INPUTS_LABEL}=${hash}`,
      '--change', 'LABEL hsi-chaos.image=true',
      '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      '--change', 'CMD ["bash"]',
      tar,
      ref,
    ]);
    rmSync(rootfs, { recursive: true, force: true });
    rmSync(tar, { force: true });
  }

  protected async ensureDebootstrap(logFile: string): Promise<void> {
    if (await commandExists('debootstrap')) return;
    if (typeof process.getuid === 'function' && process.getuid() === 0 && existsSync('/etc/debian_version')) {
      await this.logged(logFile, 'apt-get', ['install', '-y', '-qq', 'debootstrap'], undefined, { ...process.env, DEBIAN_FRONTEND: 'noninteractive' });
    } else {
      throw new Error('debootstrap is not installed (apt-get install debootstrap), or use imageMode "registry"');
    }
  }

  /** PostgreSQL from Debian's packages: only the build stage of postgresInitialized (no entry point of its own). */
  async postgres(baseHash: string): Promise<string> {
    const dockerfile = `FROM ${this.images.base}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PGDATA=/var/lib/postgresql/data
`;
    return this.ensure('postgres', sha256(baseHash, dockerfile), (hash, logFile) => this.dockerBuild('postgres', hash, logFile, dockerfile));
  }

  /** FROM the package image: the cluster initialised at build (initdb --no-sync), a login made at start. */
  async postgresInitialized(postgresHash: string): Promise<void> {
    const entrypoint = readFileSync(join(HERE, 'postgres-initialized-entrypoint.sh'));
    const dockerfile = `FROM ${this.images.postgres}
COPY postgres-initialized-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh \\
 && mkdir -p "$PGDATA" /var/run/postgresql && chown -R postgres:postgres "$PGDATA" /var/run/postgresql && chmod 700 "$PGDATA" \\
 && runuser -u postgres -- initdb -D "$PGDATA" --username=postgres --auth=trust --encoding=UTF8 --locale=C --no-sync >/dev/null \\
 && printf 'local all all trust\\nhost all all all scram-sha-256\\n' > "$PGDATA/pg_hba.conf" \\
 && echo "password_encryption = 'scram-sha-256'" >> "$PGDATA/postgresql.conf"
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
`;
    await this.ensure('postgresInitialized', sha256(postgresHash, dockerfile, entrypoint), (hash, logFile) =>
      this.dockerBuild('postgresInitialized', hash, logFile, dockerfile, { 'postgres-initialized-entrypoint.sh': entrypoint }),
    );
  }

  async redis(baseHash: string): Promise<void> {
    const dockerfile = `FROM ${this.images.base}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
`;
    await this.ensure('redis', sha256(baseHash, dockerfile), (hash, logFile) => this.dockerBuild('redis', hash, logFile, dockerfile));
  }

  /**
   * Static Go binaries, built on the host. The build and module caches live in the cache dir
   * (GOCACHE, GOMODCACHE; modules kept writable so the dir can be deleted), so a rebuild after
   * a recipe change compiles only what changed.
   */
  private async goBinary(name: string, build: (out: string, env: NodeJS.ProcessEnv) => Promise<void>): Promise<string> {
    if (!(await commandExists('go'))) {
      throw new Error('the Go toolchain (go >= 1.24) is needed to build Jaeger and Toxiproxy from source; install it, or use imageMode "registry"');
    }
    const out = this.dir('bin', name);
    mkdirSync(dirname(out), { recursive: true });
    const env = {
      ...process.env,
      CGO_ENABLED: '0',
      GOCACHE: this.dir('go', 'build-cache'),
      GOMODCACHE: this.dir('go', 'mod'),
      GOFLAGS: '-buildvcs=false -modcacherw',
    };
    await build(out, env);
    return out;
  }

  async jaeger(baseHash: string, baseReady: Promise<unknown>): Promise<void> {
    const dockerfile = `FROM ${this.images.base}
COPY jaeger /usr/local/bin/jaeger
COPY config.yaml /etc/jaeger/config.yaml
# The v2 binary binds localhost unless told otherwise; nothing could reach it in a container.
ENV JAEGER_LISTEN_HOST=0.0.0.0
EXPOSE 4317 4318 16686 5778
ENTRYPOINT ["/usr/local/bin/jaeger"]
CMD ["--config", "/etc/jaeger/config.yaml"]
`;
    const inputs = sha256(baseHash, dockerfile, PINNED.jaegerModuleVersion, ...slimInputs());
    await this.ensure('jaeger', inputs, async (hash, logFile) => {
      const binary = await this.goBinary(`jaeger-slim-${PINNED.jaegerVersion}`, async (out, env) => {
        const module = `github.com/jaegertracing/jaeger@${PINNED.jaegerModuleVersion}`;
        const empty = this.dir('go', 'empty');
        mkdirSync(empty, { recursive: true });
        const download = await runChecked('go', ['mod', 'download', '-json', module], { cwd: empty, env });
        const info = JSON.parse(download.stdout) as { Dir?: unknown };
        if (typeof info.Dir !== 'string') throw new Error(`go mod download gave no module directory for ${module}`);
        const mod = this.dir('go', 'jaeger-slim');
        writeSlimModule(mod, info.Dir, PINNED.jaegerModuleVersion);
        await this.logged(logFile, 'go', ['build', '-mod=mod', '-trimpath', '-ldflags=-s -w', '-o', out, 'github.com/jaegertracing/jaeger/cmd/jaeger'], mod, env);
      });
      await baseReady;
      await this.dockerBuild('jaeger', hash, logFile, dockerfile, { 'config.yaml': readFileSync(SLIM_CONFIG_FILE) }, { jaeger: binary });
    });
  }

  async toxiproxy(baseHash: string, baseReady: Promise<unknown>): Promise<void> {
    const dockerfile = `FROM ${this.images.base}
COPY toxiproxy-server /usr/local/bin/toxiproxy-server
EXPOSE 8474
ENTRYPOINT ["/usr/local/bin/toxiproxy-server"]
CMD ["-host=0.0.0.0"]
`;
    await this.ensure('toxiproxy', sha256(baseHash, dockerfile, PINNED.toxiproxyVersion), async (hash, logFile) => {
      const binary = await this.goBinary(`toxiproxy-${PINNED.toxiproxyVersion}`, async (out, env) => {
        const gobin = this.dir('go', 'toxiproxy-bin');
        mkdirSync(gobin, { recursive: true });
        await this.logged(logFile, 'go', ['install', '-trimpath', `-ldflags=-s -w -X github.com/Shopify/toxiproxy/v2.Version=${PINNED.toxiproxyVersion.slice(1)}`, `github.com/Shopify/toxiproxy/v2/cmd/server@${PINNED.toxiproxyVersion}`], gobin, { ...env, GOBIN: gobin });
        copyFileSync(join(gobin, 'server'), out);
      });
      await baseReady;
      await this.dockerBuild('toxiproxy', hash, logFile, dockerfile, {}, { 'toxiproxy-server': binary });
    });
  }

  async node(baseHash: string): Promise<string> {
    const require = createRequire(import.meta.url);
    const nodePkg = require.resolve('node/package.json');
    const version = (JSON.parse(readFileSync(nodePkg, 'utf8')) as { version: string }).version;
    const binary = join(dirname(nodePkg), 'bin', 'node');
    if (!existsSync(binary)) throw new Error(`Node ${version} binary missing at ${binary}; run npm install`);
    const dockerfile = `FROM ${this.images.base}
COPY node /usr/local/bin/node
RUN chmod 755 /usr/local/bin/node && node --version
CMD ["node"]
`;
    return this.ensure('node', sha256(baseHash, dockerfile, version), (hash, logFile) => this.dockerBuild('node', hash, logFile, dockerfile, {}, { node: binary }));
  }

  async referenceStack(nodeHash: string): Promise<void> {
    // This build's own bundle folder: the bundle is made before the image's build lock is taken
    // (its hash decides whether to build), and in one shared folder a checkout bundling at the
    // same time replaced it between this bundle and this build's copy: an image tagged for this
    // checkout, labelled with its sources' hash, held the other checkout's code (seen: one run
    // of a replay nightly on the previous backend while the runs before and after had the new one).
    mkdirSync(this.dir('build'), { recursive: true });
    const out = mkdtempSync(this.dir('build', 'reference-stack-bundle-'));
    try {
      await this.buildReferenceStack(nodeHash, out);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }

  private async buildReferenceStack(nodeHash: string, out: string): Promise<void> {
    // Loaded lazily: only local builds need esbuild and the reference stack's sources.
    const { bundleReferenceStack } = await import('../../../reference-stack/build.ts');
    const bundle = await bundleReferenceStack(out);
    const dockerfile = `FROM ${this.images.node}
LABEL hsi-chaos.emulated=true
WORKDIR /app
COPY *.mjs /app/
RUN mkdir -p /data/uploads
ENV NODE_ENV=production
EXPOSE 8000 8095 8091
CMD ["node", "/app/backend.mjs"]
`;
    const copies: Record<string, string> = {};
    for (const file of bundle.files) copies[file.split('/').pop() ?? file] = file;
    await this.ensure('referenceStack', sha256(nodeHash, dockerfile, bundle.contentHash), (hash, logFile) =>
      this.dockerBuild('referenceStack', hash, logFile, dockerfile, {}, copies),
    );
  }

  /**
   * The base image first for everything built FROM it; the Go compiles (CPU-bound, the longest
   * part of a cold build) start at once beside debootstrap and only their final `docker build`
   * waits for the base. The two Go builds run one after the other: each uses every core.
   */
  async all(): Promise<ImageBuildReport[]> {
    const mirror = this.debianMirror();
    const baseHash = this.hashFor('base', LocalImageBuild.baseInputs(mirror));
    const baseReady = this.base(mirror);
    await Promise.all([
      baseReady.then(() => Promise.all([this.postgres(baseHash).then((h) => this.postgresInitialized(h)), this.redis(baseHash)])),
      this.jaeger(baseHash, baseReady).then(() => this.toxiproxy(baseHash, baseReady)),
      baseReady
        .then(() => this.node(baseHash))
        .then((nodeHash) => (process.env['HSI_CHAOS_SKIP_REFERENCE_IMAGE'] ? undefined : this.referenceStack(nodeHash))),
    ]);
    return this.reports;
  }
}

export async function buildLocalImages(opts: BuildImagesOptions): Promise<ImageBuildReport[]> {
  return new LocalImageBuild(opts).all();
}
