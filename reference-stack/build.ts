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
} as const;

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

export async function bundleReferenceStack(outDir: string): Promise<BundleResult> {
  const out = resolve(outDir);
  mkdirSync(out, { recursive: true });
  const result = await build({
    entryPoints: entryPoints(),
    outdir: out,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    banner: { js: ESM_REQUIRE_BANNER },
    // pg's optional native binding is never used.
    external: ['pg-native'],
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
