import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A slim Jaeger v2 distribution: Jaeger is an OpenTelemetry Collector distribution whose
 * `cmd/jaeger` registers every receiver, exporter and storage backend it ships (Kafka,
 * Zipkin, Cassandra, Elasticsearch, OpenSearch, Badger, ClickHouse, …), about 2,300 Go
 * packages. The stack needs OTLP in, memory storage, the query API/UI and remote sampling:
 * the files below (in `jaeger-slim/`) replace the component list, the main command and the
 * storage extension's backend switch in a copy of Jaeger's module, which leaves about 800
 * packages to compile. Everything the stack runs is Jaeger's own code at the pinned version.
 */
const SLIM_DIR = join(dirname(fileURLToPath(import.meta.url)), 'jaeger-slim');

interface SlimPatch {
  /** Path inside Jaeger's module. */
  target: string;
  /** File in jaeger-slim/ that replaces it; undefined removes the target. */
  source?: string;
}

export const SLIM_PATCHES: readonly SlimPatch[] = [
  { target: 'cmd/jaeger/main.go', source: 'main.go' },
  { target: 'cmd/jaeger/internal/components.go', source: 'components.go' },
  { target: 'cmd/jaeger/internal/extension/jaegerstorage/config.go', source: 'jaegerstorage-config.go' },
  { target: 'cmd/jaeger/internal/extension/jaegerstorage/extension.go', source: 'jaegerstorage-extension.go' },
  // The v1 storage factory (every v1 backend) is named by cmd/query/app only for its ArchiveStorage type.
  { target: 'internal/storage/v1/factory/config.go' },
  { target: 'internal/storage/v1/factory/factory.go', source: 'storage-v1-factory.go' },
];

/** The configuration baked into the image: all-in-one reduced to the slim components. */
export const SLIM_CONFIG_FILE = join(SLIM_DIR, 'config.yaml');

/** Everything that decides the slim binary, for the image's inputs hash. */
export function slimInputs(): string[] {
  const sources = SLIM_PATCHES.map((p) => `${p.target}<-${p.source === undefined ? '(removed)' : readFileSync(join(SLIM_DIR, p.source), 'utf8')}`);
  return [...sources, readFileSync(SLIM_CONFIG_FILE, 'utf8')];
}

function makeWritable(path: string): void {
  const stat = statSync(path);
  chmodSync(path, stat.mode | 0o200);
  if (stat.isDirectory()) for (const entry of readdirSync(path)) makeWritable(join(path, entry));
}

/**
 * Writes a Go module at `dir` that builds the slim binary: a patched copy of Jaeger's module
 * (from `upstreamDir`, the module cache) under `src/`, required through a replace directive,
 * with Jaeger's own replace directives and go.sum.
 */
export function writeSlimModule(dir: string, upstreamDir: string, moduleVersion: string): void {
  rmSync(dir, { recursive: true, force: true });
  const src = join(dir, 'src');
  cpSync(upstreamDir, src, { recursive: true });
  makeWritable(dir);
  for (const patch of SLIM_PATCHES) {
    const target = join(src, patch.target);
    if (!existsSync(target)) throw new Error(`the slim Jaeger patch expects ${patch.target} in jaeger ${moduleVersion}; update jaeger-slim.ts for this version`);
    rmSync(target);
    if (patch.source !== undefined) writeFileSync(target, readFileSync(join(SLIM_DIR, patch.source)));
  }
  const upstreamMod = readFileSync(join(src, 'go.mod'), 'utf8').split('\n');
  const replaces = upstreamMod.filter((line) => line.startsWith('replace ')).join('\n');
  const goLine = upstreamMod.find((line) => line.startsWith('go ')) ?? 'go 1.24';
  writeFileSync(
    join(dir, 'go.mod'),
    `module hsichaos.local/jaegerslim\n\n${goLine}\n\nrequire github.com/jaegertracing/jaeger ${moduleVersion}\n\nreplace github.com/jaegertracing/jaeger => ./src\n\n${replaces}\n`,
  );
  writeFileSync(join(dir, 'go.sum'), readFileSync(join(src, 'go.sum')));
}
