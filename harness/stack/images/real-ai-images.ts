import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LLM_PRESETS, type AiModes, type LlmPresetName } from '../../config/real-ai-config.ts';
import { DEFAULT_IMAGE_PREFIX, llamaServerImage, PINNED, realAiImages } from './image-refs.ts';
import { INPUTS_LABEL, LocalImageBuild, type BuildImagesOptions, type ImageBuildReport } from './local-image-builder.ts';

/**
 * The real inference engines' images, offline like the rest: a Debian testing (forky) base from
 * debootstrap (its `sid` script; apt told not to check the Release file's Valid-Until), a
 * model-tools image (python3-gguf, python3-onnx) that writes the synthetic models at build,
 * llama.cpp's server from Debian's llama.cpp-tools with the GGUF baked in, and the ONNX Runtime
 * detector: Node 24 + onnxruntime-node (installed by npm on the host, CPU binaries only) + the
 * bundled detector + the ONNX model.
 */

const HERE = dirname(fileURLToPath(import.meta.url));
const SCRIPTS = join(HERE, 'real-ai');

const APT_INSTALL = 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends';

export interface RealAiBuildOptions extends BuildImagesOptions {
  modes: AiModes;
  llmPreset: LlmPresetName;
}

export class RealAiImageBuild extends LocalImageBuild {
  private readonly real: RealAiBuildOptions;
  private readonly realImages: ReturnType<typeof realAiImages>;

  constructor(opts: RealAiBuildOptions) {
    super(opts);
    this.real = opts;
    this.realImages = realAiImages(opts.imagePrefix ?? DEFAULT_IMAGE_PREFIX);
  }

  async forkyBase(): Promise<string> {
    const mirror = this.debianMirror();
    const suite = PINNED.realAiSuite;
    return this.ensure({ name: 'forky-base', ref: this.realImages.forkyBase }, `debootstrap minbase ${suite} (sid script) ${mirror} ca-certificates valid-until-off`, async (hash, logFile) => {
      const rootfs = this.dir('rootfs', suite);
      rmSync(rootfs, { recursive: true, force: true });
      mkdirSync(dirname(rootfs), { recursive: true });
      // debootstrap has no script named after testing's codename: sid's fits every testing release.
      await this.logged(logFile, 'debootstrap', ['--variant=minbase', '--include=ca-certificates', suite, rootfs, mirror, '/usr/share/debootstrap/scripts/sid']);
      // Mirrors may serve a testing Release file past its Valid-Until; apt would refuse it.
      writeFileSync(join(rootfs, 'etc/apt/apt.conf.d/99hsi-chaos-valid-until'), 'Acquire::Check-Valid-Until "false";\n');
      await this.importRootfs(logFile, rootfs, hash, this.realImages.forkyBase);
    });
  }

  async modelTools(forkyHash: string): Promise<string> {
    const dockerfile = `FROM ${this.realImages.forkyBase}
RUN ${APT_INSTALL} python3-gguf python3-numpy python3-onnx && rm -rf /var/lib/apt/lists/*
`;
    return this.ensure({ name: 'model-tools', ref: this.realImages.modelTools }, `${forkyHash}\n${dockerfile}`, (hash, logFile) =>
      this.dockerBuild({ name: 'model-tools', ref: this.realImages.modelTools }, hash, logFile, dockerfile),
    );
  }

  async llamaServer(toolsHash: string): Promise<void> {
    const preset = this.real.llmPreset;
    const script = readFileSync(join(SCRIPTS, 'write-gguf.py'));
    const dims = JSON.stringify(LLM_PRESETS[preset]);
    const dockerfile = `FROM ${this.realImages.modelTools} AS model
COPY write-gguf.py /usr/local/bin/write-gguf.py
RUN mkdir /models && python3 /usr/local/bin/write-gguf.py ${preset} '${dims}' /models/model.gguf
FROM ${this.realImages.forkyBase}
LABEL hsi-chaos.real-ai=true hsi-chaos.llm-preset=${preset} hsi-chaos.weights=synthetic
RUN ${APT_INSTALL} llama.cpp-tools && rm -rf /var/lib/apt/lists/* && llama-server --version
COPY --from=model /models /models
EXPOSE 8091
ENTRYPOINT ["llama-server"]
`;
    const target = { name: `llama-server-${preset}`, ref: llamaServerImage(preset, this.opts.imagePrefix ?? DEFAULT_IMAGE_PREFIX) };
    await this.ensure(target, `${toolsHash}\n${dockerfile}\n${script.toString('utf8')}`, (hash, logFile) =>
      this.dockerBuild(target, hash, logFile, dockerfile, { 'write-gguf.py': script }),
    );
  }

  /** onnxruntime-node with its CPU binaries for linux-x64 only, installed once by npm on the host. */
  private async onnxRuntimeModules(logFile: string): Promise<string> {
    const dir = this.dir('npm', `onnxruntime-node-${PINNED.onnxruntimeNodeVersion}`);
    const pkg = join(dir, 'node_modules', 'onnxruntime-node', 'package.json');
    if (!existsSync(pkg)) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'package.json'), '{"private": true}\n');
      // --ignore-scripts: its postinstall would download CUDA binaries from outside the registries.
      await this.logged(logFile, 'npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--no-save', `onnxruntime-node@${PINNED.onnxruntimeNodeVersion}`], dir, {
        ...process.env,
        ONNXRUNTIME_NODE_INSTALL_CUDA: 'skip',
      });
    }
    return join(dir, 'node_modules');
  }

  async detector(nodeHash: string, toolsHash: string): Promise<void> {
    const out = this.dir('build', 'detector-onnx-bundle');
    rmSync(out, { recursive: true, force: true });
    const { bundleReferenceStack, REAL_DETECTOR_ENTRY_POINTS, REAL_DETECTOR_EXTERNALS } = await import('../../../reference-stack/build.ts');
    const bundle = await bundleReferenceStack(out, { entries: REAL_DETECTOR_ENTRY_POINTS, external: REAL_DETECTOR_EXTERNALS });
    const script = readFileSync(join(SCRIPTS, 'write-yolo-onnx.py'));
    const dockerfile = `FROM ${this.realImages.modelTools} AS model
COPY write-yolo-onnx.py /usr/local/bin/write-yolo-onnx.py
RUN mkdir /models && python3 /usr/local/bin/write-yolo-onnx.py /models/yolo-synthetic.onnx
FROM ${this.images.node}
LABEL hsi-chaos.real-ai=true hsi-chaos.weights=synthetic
WORKDIR /app
COPY node_modules /app/node_modules
COPY detector-onnx.mjs /app/
COPY --from=model /models /models
ENV NODE_ENV=production
EXPOSE 8095
CMD ["node", "/app/detector-onnx.mjs"]
`;
    const target = { name: 'detector-onnx', ref: this.realImages.detectorReal };
    const inputs = `${nodeHash}\n${toolsHash}\n${dockerfile}\n${script.toString('utf8')}\n${bundle.contentHash}\n${PINNED.onnxruntimeNodeVersion}`;
    await this.ensure(target, inputs, async (hash, logFile) => {
      const modules = await this.onnxRuntimeModules(logFile);
      const copies = { 'write-yolo-onnx.py': join(SCRIPTS, 'write-yolo-onnx.py'), 'detector-onnx.mjs': join(out, 'detector-onnx.mjs') };
      await this.dockerBuild(target, hash, logFile, dockerfile, {}, copies, (context) => copyOnnxRuntime(modules, join(context, 'node_modules')));
    });
  }

  /**
   * `localReady`: the bookworm images' build, when it runs beside this one (a cold machine); the
   * detector image starts from its Node image, so it waits for it. The forky images do not.
   */
  async realAi(localReady: Promise<unknown> = Promise.resolve()): Promise<ImageBuildReport[]> {
    const { modes } = this.real;
    const forkyHash = await this.forkyBase();
    const toolsHash = await this.modelTools(forkyHash);
    const jobs: Promise<void>[] = [];
    if (modes.llm === 'real') jobs.push(this.llamaServer(toolsHash));
    if (modes.detector === 'real') {
      await localReady;
      const nodeHash = await this.node(await this.base(this.debianMirror()));
      jobs.push(this.detector(nodeHash, toolsHash));
    }
    await Promise.all(jobs);
    return this.reports;
  }
}

/** onnxruntime-common and onnxruntime-node without the other platforms' binaries (about 30 of 290 MB). */
function copyOnnxRuntime(from: string, to: string): void {
  cpSync(join(from, 'onnxruntime-common'), join(to, 'onnxruntime-common'), { recursive: true });
  const ort = join(from, 'onnxruntime-node');
  cpSync(ort, join(to, 'onnxruntime-node'), {
    recursive: true,
    filter: (src) => {
      const rel = src.slice(ort.length);
      if (!rel.startsWith('/bin/napi-v6/')) return true;
      const parts = rel.split('/'); // ['', 'bin', 'napi-v6', os, arch, file]
      return (parts[3] === undefined || parts[3] === 'linux') && (parts[4] === undefined || parts[4] === 'x64');
    },
  });
}

export async function buildRealAiImages(opts: RealAiBuildOptions, localReady?: Promise<unknown>): Promise<ImageBuildReport[]> {
  if (opts.modes.detector !== 'real' && opts.modes.llm !== 'real') return [];
  return new RealAiImageBuild(opts).realAi(localReady);
}
