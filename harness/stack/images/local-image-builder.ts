import { createHash } from 'node:crypto';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError } from '../../errors.ts';
import { commandExists, run, runChecked } from '../../util/exec.ts';
import { LOCAL_IMAGES, PINNED } from './image-refs.ts';

/**
 * Builds every image of the stack offline (no registry is reachable on our machines):
 * a Debian base from debootstrap, PostgreSQL and Redis from Debian packages, Jaeger and
 * Toxiproxy compiled from source through the Go module proxy, Node 24 from the npm
 * package `node`, and the reference stack bundled by esbuild.
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
}

export interface ImageBuildReport {
  image: string;
  action: 'built' | 'up-to-date';
  seconds: number;
  logFile?: string;
}

type Key = keyof typeof LOCAL_IMAGES;
/** An image this build makes: a LOCAL_IMAGES key, or a subclass's own image by its reference. */
export type ImageTarget = Key | { ref: string; name: string };

function targetRef(target: ImageTarget): string {
  return typeof target === 'string' ? LOCAL_IMAGES[target] : target.ref;
}

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
  private readonly hashes = new Map<string, string>();
  protected readonly opts: BuildImagesOptions;
  protected readonly log: (line: string) => void;

  constructor(opts: BuildImagesOptions) {
    this.opts = opts;
    this.log = opts.log ?? (() => {});
    mkdirSync(this.dir('logs'), { recursive: true });
  }

  dir(...parts: string[]): string {
    return join(this.opts.cacheDir, ...parts);
  }

  /** Runs `make` only when the image is missing or its inputs changed. */
  protected async ensure(target: ImageTarget, inputs: string, make: (hash: string, logFile: string) => Promise<void>): Promise<string> {
    const ref = targetRef(target);
    const key = targetName(target);
    const hash = sha256(RECIPE_VERSION, key, inputs);
    this.hashes.set(key, hash);
    const started = Date.now();
    if (!this.opts.force && (await imageInputsHash(ref)) === hash) {
      this.reports.push({ image: ref, action: 'up-to-date', seconds: 0 });
      return hash;
    }
    const logFile = this.dir('logs', `${key}.log`);
    rmSync(logFile, { force: true });
    this.log(`image ${ref}: building (log: ${logFile})`);
    try {
      await make(hash, logFile);
    } catch (error) {
      throw new HarnessError(`building image ${ref} failed: ${(error as Error).message.split('\n')[0]}; see ${logFile}`, 1);
    }
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    this.log(`image ${ref}: built in ${seconds} s`);
    this.reports.push({ image: ref, action: 'built', seconds, logFile });
    return hash;
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
      ['build', '--label', `${INPUTS_LABEL}=${hash}`, '--label', 'hsi-chaos.image=true', '-t', targetRef(target), context],
      context,
      // The classic builder needs no buildx plugin, which Debian's docker.io lacks.
      { ...process.env, DOCKER_BUILDKIT: '0' },
    );
  }

  async base(): Promise<string> {
    const mirror = process.env['HSI_CHAOS_DEBIAN_MIRROR'] ?? PINNED.debianMirror;
    const inputs = `debootstrap minbase ${PINNED.debianSuite} ${mirror} ca-certificates`;
    return this.ensure('base', inputs, async (hash, logFile) => {
      if (!(await commandExists('debootstrap'))) {
        if (typeof process.getuid === 'function' && process.getuid() === 0 && existsSync('/etc/debian_version')) {
          await this.logged(logFile, 'apt-get', ['install', '-y', '-qq', 'debootstrap'], undefined, { ...process.env, DEBIAN_FRONTEND: 'noninteractive' });
        } else {
          throw new Error('debootstrap is not installed (apt-get install debootstrap), or use imageMode "registry"');
        }
      }
      const rootfs = this.dir('rootfs', PINNED.debianSuite);
      rmSync(rootfs, { recursive: true, force: true });
      mkdirSync(dirname(rootfs), { recursive: true });
      await this.logged(logFile, 'debootstrap', ['--variant=minbase', '--include=ca-certificates', PINNED.debianSuite, rootfs, mirror]);
      // Keep images small and apt usable inside docker build.
      rmSync(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
      mkdirSync(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
      const tar = this.dir('rootfs', `${PINNED.debianSuite}.tar`);
      await this.logged(logFile, 'tar', ['-C', rootfs, '-cf', tar, '.']);
      await this.logged(logFile, 'docker', [
        'import',
        '--change', `LABEL ${INPUTS_LABEL}=${hash}`,
        '--change', 'LABEL hsi-chaos.image=true',
        '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        '--change', 'CMD ["bash"]',
        tar,
        LOCAL_IMAGES.base,
      ]);
      rmSync(rootfs, { recursive: true, force: true });
      rmSync(tar, { force: true });
    });
  }

  async postgres(baseHash: string): Promise<void> {
    const entrypoint = readFileSync(join(HERE, 'postgres-entrypoint.sh'));
    const dockerfile = `FROM ${LOCAL_IMAGES.base}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
`;
    await this.ensure('postgres', sha256(baseHash, dockerfile, entrypoint), (hash, logFile) =>
      this.dockerBuild('postgres', hash, logFile, dockerfile, { 'postgres-entrypoint.sh': entrypoint }),
    );
  }

  async redis(baseHash: string): Promise<void> {
    const dockerfile = `FROM ${LOCAL_IMAGES.base}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
`;
    await this.ensure('redis', sha256(baseHash, dockerfile), (hash, logFile) => this.dockerBuild('redis', hash, logFile, dockerfile));
  }

  /** Static Go binaries, built on the host so the Go build cache serves later builds. */
  private async goBinary(name: string, logFile: string, build: (out: string, env: NodeJS.ProcessEnv) => Promise<void>): Promise<string> {
    if (!(await commandExists('go'))) {
      throw new Error('the Go toolchain (go >= 1.24) is needed to build Jaeger and Toxiproxy from source; install it, or use imageMode "registry"');
    }
    const out = this.dir('bin', name);
    mkdirSync(dirname(out), { recursive: true });
    const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false -mod=mod' };
    await build(out, env);
    return out;
  }

  async jaeger(baseHash: string): Promise<void> {
    const dockerfile = `FROM ${LOCAL_IMAGES.base}
COPY jaeger /usr/local/bin/jaeger
# The v2 binary binds localhost unless told otherwise; nothing could reach it in a container.
ENV JAEGER_LISTEN_HOST=0.0.0.0
EXPOSE 4317 4318 16686 5778 13133
ENTRYPOINT ["/usr/local/bin/jaeger"]
`;
    await this.ensure('jaeger', sha256(baseHash, dockerfile, PINNED.jaegerModuleVersion), async (hash, logFile) => {
      const binary = await this.goBinary(`jaeger-${PINNED.jaegerVersion}`, logFile, async (out, env) => {
        // Jaeger's go.mod has a replace directive, which `go install pkg@version` refuses:
        // build inside a small local module carrying the same replace and Jaeger's own go.sum.
        const mod = this.dir('go', 'jaeger-build');
        rmSync(mod, { recursive: true, force: true });
        mkdirSync(mod, { recursive: true });
        const download = await runChecked('go', ['mod', 'download', '-json', `github.com/jaegertracing/jaeger@${PINNED.jaegerModuleVersion}`], { cwd: mod, env: { ...env, GOFLAGS: '-buildvcs=false' } });
        const info = JSON.parse(download.stdout) as { Dir?: string };
        if (info.Dir === undefined) throw new Error('go mod download gave no module directory for Jaeger');
        const upstreamMod = readFileSync(join(info.Dir, 'go.mod'), 'utf8');
        const replaces = upstreamMod.split('\n').filter((line) => line.startsWith('replace ')).join('\n');
        const goLine = upstreamMod.split('\n').find((line) => line.startsWith('go ')) ?? 'go 1.24';
        writeFileSync(join(mod, 'go.mod'), `module hsichaos.local/jaegerbuild\n\n${goLine}\n\nrequire github.com/jaegertracing/jaeger ${PINNED.jaegerModuleVersion}\n\n${replaces}\n`);
        copyFileSync(join(info.Dir, 'go.sum'), join(mod, 'go.sum'));
        chmodSync(join(mod, 'go.sum'), 0o644);
        await this.logged(logFile, 'go', ['get', `github.com/jaegertracing/jaeger/cmd/jaeger@${PINNED.jaegerModuleVersion}`], mod, env);
        await this.logged(logFile, 'go', ['build', '-trimpath', '-ldflags=-s -w', '-o', out, 'github.com/jaegertracing/jaeger/cmd/jaeger'], mod, env);
      });
      await this.dockerBuild('jaeger', hash, logFile, dockerfile, {}, { jaeger: binary });
    });
  }

  async toxiproxy(baseHash: string): Promise<void> {
    const dockerfile = `FROM ${LOCAL_IMAGES.base}
COPY toxiproxy-server /usr/local/bin/toxiproxy-server
EXPOSE 8474
ENTRYPOINT ["/usr/local/bin/toxiproxy-server"]
CMD ["-host=0.0.0.0"]
`;
    await this.ensure('toxiproxy', sha256(baseHash, dockerfile, PINNED.toxiproxyVersion), async (hash, logFile) => {
      const binary = await this.goBinary(`toxiproxy-${PINNED.toxiproxyVersion}`, logFile, async (out, env) => {
        const gobin = this.dir('go', 'toxiproxy-bin');
        mkdirSync(gobin, { recursive: true });
        await this.logged(logFile, 'go', ['install', `-ldflags=-s -w -X github.com/Shopify/toxiproxy/v2.Version=${PINNED.toxiproxyVersion.slice(1)}`, `github.com/Shopify/toxiproxy/v2/cmd/server@${PINNED.toxiproxyVersion}`], gobin, { ...env, GOBIN: gobin, GOFLAGS: '-buildvcs=false' });
        copyFileSync(join(gobin, 'server'), out);
      });
      await this.dockerBuild('toxiproxy', hash, logFile, dockerfile, {}, { 'toxiproxy-server': binary });
    });
  }

  async node(baseHash: string): Promise<string> {
    const require = createRequire(import.meta.url);
    const nodePkg = require.resolve('node/package.json');
    const version = (JSON.parse(readFileSync(nodePkg, 'utf8')) as { version: string }).version;
    const binary = join(dirname(nodePkg), 'bin', 'node');
    if (!existsSync(binary)) throw new Error(`Node ${version} binary missing at ${binary}; run npm install`);
    const dockerfile = `FROM ${LOCAL_IMAGES.base}
COPY node /usr/local/bin/node
RUN chmod 755 /usr/local/bin/node && node --version
CMD ["node"]
`;
    return this.ensure('node', sha256(baseHash, dockerfile, version), (hash, logFile) => this.dockerBuild('node', hash, logFile, dockerfile, {}, { node: binary }));
  }

  async referenceStack(nodeHash: string): Promise<void> {
    const out = this.dir('build', 'reference-stack-bundle');
    rmSync(out, { recursive: true, force: true });
    // Loaded lazily: only local builds need esbuild and the reference stack's sources.
    const { bundleReferenceStack } = await import('../../../reference-stack/build.ts');
    const bundle = await bundleReferenceStack(out);
    const dockerfile = `FROM ${LOCAL_IMAGES.node}
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

  async all(): Promise<ImageBuildReport[]> {
    const baseHash = await this.base();
    await Promise.all([
      this.postgres(baseHash),
      this.redis(baseHash),
      // Go builds are CPU-bound: one after the other keeps the apt builds responsive.
      this.toxiproxy(baseHash).then(() => this.jaeger(baseHash)),
      this.node(baseHash).then((nodeHash) => (process.env['HSI_CHAOS_SKIP_REFERENCE_IMAGE'] ? undefined : this.referenceStack(nodeHash))),
    ]);
    return this.reports;
  }
}

export async function buildLocalImages(opts: BuildImagesOptions): Promise<ImageBuildReport[]> {
  return new LocalImageBuild(opts).all();
}
