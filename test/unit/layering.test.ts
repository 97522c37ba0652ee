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
