import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Relative module specifiers of a file's static and dynamic imports and re-exports. */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s*['"](\.[^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** Files under `fromDir` importing anything under `toDir`, as "file → specifier". */
function crossings(fromDir: string, toDir: string): string[] {
  const out: string[] = [];
  for (const file of tsFiles(join(ROOT, fromDir))) {
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = relative(ROOT, resolve(dirname(file), spec));
      if (target === toDir || target.startsWith(`${toDir}/`)) out.push(`${relative(ROOT, file)} → ${spec}`);
    }
  }
  return out;
}

describe('layering: dependencies point one way', () => {
  it('the harness imports nothing from assertions/ (the assertion families build on the harness, not the other way)', () => {
    expect(crossings('harness', 'assertions')).toEqual([]);
  });

  it('the check sees static, type-only, re-export and dynamic imports (counter-example)', () => {
    const text = [
      "import { a } from '../../assertions/x.ts';",
      "import type { B } from '../y.ts';",
      "export * from './z.ts';",
      "const m = await import('../w.ts');",
      "import {\n  c,\n  d,\n} from '../v.ts';",
      "// import { not } from 'a-package';",
    ].join('\n');
    expect(importsOf(text)).toEqual(['../../assertions/x.ts', '../y.ts', './z.ts', '../v.ts', '../w.ts']);
  });
});

/** Every import of a folder's files that lands in `toDir` (its subfolders included). */
function crossingsInto(fromDir: string, toDir: string, except: (rel: string) => boolean = () => false): string[] {
  return crossings(fromDir, toDir).filter((line) => !except(line.split(' → ')[0]!));
}

describe('layering: nothing imports upwards', () => {
  it('only the CLI edge (harness/cli/) imports harness/cli/', () => {
    expect(crossingsInto('harness', 'harness/cli', (rel) => rel.startsWith('harness/cli/'))).toEqual([]);
    expect(crossings('assertions', 'harness/cli')).toEqual([]);
    expect(crossings('reference-stack', 'harness/cli')).toEqual([]);
  });

  it('the reference stack imports of the harness only the contract module (both bundle it)', () => {
    const outside = crossings('reference-stack', 'harness').filter((line) => !/→ (\.\.\/)+harness\/contract\//.test(line));
    expect(outside).toEqual([]);
    expect(crossings('reference-stack', 'assertions')).toEqual([]);
  });

  it('product code imports nothing from tests, benches, experiments or the scenario files', () => {
    const out: string[] = [];
    for (const from of ['harness', 'assertions', 'reference-stack']) for (const to of ['test', 'bench', 'experiments', 'scenarios', 'bin']) out.push(...crossings(from, to));
    expect(out).toEqual([]);
  });
});

/** The top-level harness folder (or root file) a path is in: `harness/load/k6/x.ts` → `harness/load`. */
function harnessPart(rel: string): string {
  const parts = rel.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : rel;
}

/** Edges between top-level harness folders, each with one import that makes it: "from → to" → "file → specifier". */
function harnessFolderEdges(): Map<string, string> {
  const edges = new Map<string, string>();
  for (const file of tsFiles(join(ROOT, 'harness'))) {
    const rel = relative(ROOT, file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = relative(ROOT, resolve(dirname(file), spec));
      const [from, to] = [harnessPart(rel), harnessPart(target)];
      if (from !== to && target.startsWith('harness/') && !edges.has(`${from} → ${to}`)) edges.set(`${from} → ${to}`, `${rel} → ${spec}`);
    }
  }
  return edges;
}

/** A cycle in a directed graph given as "a → b" edges, as its nodes ("a → b → a"), or undefined when there is none. */
export function findCycle(edges: Iterable<string>): string | undefined {
  const next = new Map<string, string[]>();
  for (const edge of edges) {
    const [from, to] = edge.split(' → ') as [string, string];
    next.set(from, [...(next.get(from) ?? []), to]);
  }
  const done = new Set<string>();
  const walk = (node: string, path: string[]): string | undefined => {
    const seen = path.indexOf(node);
    if (seen >= 0) return [...path.slice(seen), node].join(' → ');
    if (done.has(node)) return undefined;
    for (const to of next.get(node) ?? []) {
      const cycle = walk(to, [...path, node]);
      if (cycle !== undefined) return cycle;
    }
    done.add(node);
    return undefined;
  };
  for (const node of next.keys()) {
    const cycle = walk(node, []);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}

/**
 * Folder edges that close a cycle today, kept as named debt (every other edge must keep the
 * folders acyclic): the report model and schema carry the capacity search's result, while the
 * search runs on the experiment machinery that writes reports; scenario validation reads the
 * load driver's metric list, thresholds and schedule, while the driver runs scenarios.
 */
const KNOWN_CYCLE_EDGES: readonly string[] = ['harness/report → harness/capacity', 'harness/scenario → harness/load'];

describe('layering: no cycle between top-level harness folders', () => {
  it('the folders\' imports form no cycle but through the named known edges', () => {
    const edges = harnessFolderEdges();
    for (const known of KNOWN_CYCLE_EDGES) expect(edges.has(known), `${known} is gone: drop it from KNOWN_CYCLE_EDGES`).toBe(true);
    const cycle = findCycle([...edges.keys()].filter((e) => !KNOWN_CYCLE_EDGES.includes(e)));
    const hops = cycle?.split(' → ').slice(1).map((to, i, all) => `${i === 0 ? cycle.split(' → ')[0] : all[i - 1]} → ${to}`) ?? [];
    expect(cycle, hops.map((h) => `${h}: ${edges.get(h) ?? '?'}`).join('\n')).toBeUndefined();
  });

  it('the check finds a cycle of any length, and the known edges close real ones (counter-example)', () => {
    expect(findCycle(['a → b', 'b → c', 'c → a', 'c → d'])).toBe('a → b → c → a');
    expect(findCycle(['a → b', 'b → c', 'a → c'])).toBeUndefined();
    // Each known edge closes a cycle of this tree: without the exception the rule fails on it.
    for (const known of KNOWN_CYCLE_EDGES) {
      const others = [...harnessFolderEdges().keys()].filter((e) => e === known || !KNOWN_CYCLE_EDGES.includes(e));
      expect(findCycle(others), known).toContain(known);
    }
  });
});

/** Package (bare) specifiers of a file's static and dynamic imports: `pg`, `ioredis`, `node:fs`. */
export function packageImportsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'".][^'"]*)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'".][^'"]*)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** The HSI's storage clients: reading its tables and queues is HSI-shaped I/O. */
const HSI_STORAGE_PACKAGES = new Set(['pg', 'ioredis']);

describe('layering: HSI specifics enter assertions/ through assertions/hsi/ only', () => {
  it('outside assertions/hsi/, assertion modules import nothing from the contract module or the dialect adapters', () => {
    const direct = ['harness/contract', 'harness/dialect'].flatMap((to) => crossingsInto('assertions', to, (rel) => rel.startsWith('assertions/hsi/')));
    expect(direct).toEqual([]);
  });

  it("outside assertions/hsi/, no assertion module reads the HSI's PostgreSQL or Redis, or runs the conform checks", () => {
    const offenders = crossingsInto('assertions', 'harness/conform', (rel) => rel.startsWith('assertions/hsi/'));
    for (const file of tsFiles(join(ROOT, 'assertions'))) {
      const rel = relative(ROOT, file);
      if (rel.startsWith('assertions/hsi/')) continue;
      for (const spec of packageImportsOf(readFileSync(file, 'utf8'))) if (HSI_STORAGE_PACKAGES.has(spec)) offenders.push(`${rel} → ${spec} (HSI storage reads belong in assertions/hsi/)`);
    }
    expect(offenders).toEqual([]);
  });

  it('the check sees package imports, static and dynamic, not relative ones (counter-example)', () => {
    const text = ["import pg from 'pg';", "import { Redis } from 'ioredis';", "import { x } from './pg.ts';", "const m = await import('ioredis');", "import type { Y } from 'node:fs';"].join('\n');
    expect(packageImportsOf(text).filter((s) => HSI_STORAGE_PACKAGES.has(s))).toEqual(['pg', 'ioredis', 'ioredis']);
  });
});

/**
 * String and template literals that spell an HSI route (`/api/…`, `/ws/…`, also after a `${base}`)
 * in code, comments left out. Jaeger's query API (`/api/v3/…`, `/api/traces…`, `/api/services`…) is not the HSI's.
 */
export function hardCodedRoutes(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
  const out: string[] = [];
  for (const m of code.matchAll(/['"`](?:\$\{[^}]*\})?(\/(?:api|ws)\/[^'"`\s]*)/g)) if (!/^\/api\/(v3\/|traces|services|operations|dependencies)/.test(m[1]!)) out.push(m[1]!);
  return out;
}

describe('layering: HSI routes live in the contract module', () => {
  it('no HSI route is spelled in harness/ or assertions/ code outside harness/contract/', () => {
    const offenders: string[] = [];
    for (const dir of ['harness', 'assertions']) {
      for (const file of tsFiles(join(ROOT, dir))) {
        const rel = relative(ROOT, file);
        if (rel.startsWith('harness/contract/')) continue;
        for (const route of hardCodedRoutes(readFileSync(file, 'utf8'))) offenders.push(`${rel}: ${route} (use HSI_ROUTES / HSI_API_ROUTES from harness/contract/)`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('the check sees quoted and templated routes, not comments or Jaeger\'s API (counter-example)', () => {
    const text = [
      "const a = '/api/cameras';",
      'const b = `${base}/api/events/${id}`;',
      'const c = "/ws/events";',
      '// GET /api/system/health in a comment',
      '/** POST /api/cameras/{camera_id}/uploads */',
      "const j = `${query}/api/v3/traces/${id}`;",
      "const k = '/api/traces';",
    ].join('\n');
    expect(hardCodedRoutes(text)).toEqual(['/api/cameras', '/api/events/${id}', '/ws/events']);
  });
});
