import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Bundles the reference services into self-contained ESM files for Node 24 (no node_modules in
 * the image): `backend.mjs`, `detector-emulator.mjs` and, once `llm-emulator/main.ts` exists,
 * `llm-emulator.mjs`.
 *
 *   node reference-stack/build.ts <outDir>
 */

const HERE = dirname(fileURLToPath(import.meta.url));

/** Entry points that must exist. */
export const REQUIRED_ENTRY_POINTS = {
  backend: join(HERE, 'backend', 'main.ts'),
  'detector-emulator': join(HERE, 'detector-emulator', 'main.ts'),
} as const;

/** Entry points bundled only when present (written in parallel; the build must not break without them). */
export const OPTIONAL_ENTRY_POINTS = {
  'llm-emulator': join(HERE, 'llm-emulator', 'main.ts'),
  /** The tracing proxy in front of the real llama.cpp server (ai: real). */
  'llm-proxy': join(HERE, 'llm-proxy', 'main.ts'),
} as const;

/**
 * The real detector (ONNX Runtime) is its own bundle in its own image: onnxruntime-node is a
 * native package that lives in that image only, so it stays external.
 */
export const REAL_DETECTOR_ENTRY_POINTS = {
  'detector-onnx': join(HERE, 'detector-onnx', 'main.ts'),
} as const;
export const REAL_DETECTOR_EXTERNALS = ['onnxruntime-node'] as const;

/** What the build bundles now: the required entries plus the optional ones that exist. */
export function entryPoints(): Record<string, string> {
  const entries: Record<string, string> = { ...REQUIRED_ENTRY_POINTS };
  for (const [name, file] of Object.entries(OPTIONAL_ENTRY_POINTS)) if (existsSync(file)) entries[name] = file;
  return entries;
}


/** CommonJS dependencies (pg, ioredis, grpc-js...) call require(); ESM output needs one. */
const ESM_REQUIRE_BANNER = "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

export interface BundleResult {
  /** Absolute paths, sorted. */
  files: string[];
  /** sha256 (hex) over the outputs' names and contents. */
  contentHash: string;
}

export interface BundleOptions {
  /** Default: the reference stack's entry points. */
  entries?: Record<string, string>;
  /** Packages left to the image's node_modules. */
  external?: readonly string[];
}

export async function bundleReferenceStack(outDir: string, options: BundleOptions = {}): Promise<BundleResult> {
  const out = resolve(outDir);
  mkdirSync(out, { recursive: true });
  const result = await build({
    entryPoints: options.entries ?? entryPoints(),
    outdir: out,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    banner: { js: ESM_REQUIRE_BANNER },
    // pg's optional native binding is never used.
    external: ['pg-native', ...(options.external ?? [])],
    // Deterministic output: no absolute paths of this machine in the bundle, no timestamps.
    sourcemap: false,
    legalComments: 'none',
    minify: false,
    metafile: true,
    logLevel: 'warning',
    absWorkingDir: HERE,
  });
  if (result.errors.length > 0) throw new Error(`esbuild failed: ${result.errors.map((e) => e.text).join('; ')}`);
  const files = Object.keys(result.metafile.outputs)
    .map((file) => resolve(HERE, file))
    .sort();
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(file.slice(out.length + 1));
    hash.update('\0');
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  return { files, contentHash: hash.digest('hex') };
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const outDir = process.argv[2];
  if (outDir === undefined || outDir === '') {
    process.stderr.write('usage: node reference-stack/build.ts <outDir>\n');
    process.exit(2);
  }
  const { files, contentHash } = await bundleReferenceStack(outDir);
  for (const file of files) process.stdout.write(`${file}\n`);
  process.stdout.write(`sha256 ${contentHash}\n`);
}
