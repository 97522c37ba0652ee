import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const CONTRACT = join(ROOT, 'harness', 'contract');

/** Relative specifiers of a file's imports and re-exports (static and dynamic). */
function relativeImports(text: string): string[] {
  return [...text.matchAll(/\bfrom\s*['"](\.[^'"]+)['"]/g), ...text.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? '');
}

describe('the contract module is the bottom layer', () => {
  it('harness/contract imports only itself (and packages): the reference stack and the harness both bundle it', () => {
    const out: string[] = [];
    for (const name of readdirSync(CONTRACT).filter((n) => n.endsWith('.ts'))) {
      const file = join(CONTRACT, name);
      for (const spec of relativeImports(readFileSync(file, 'utf8'))) {
        const target = resolve(dirname(file), spec);
        if (dirname(target) !== CONTRACT) out.push(`${relative(ROOT, file)} → ${spec}`);
      }
    }
    expect(out).toEqual([]);
  });

  it('the check sees an import out of the folder (counter-example)', () => {
    expect(relativeImports("import { x } from '../errors.ts';\nexport { y } from './dialects.ts';\nawait import('../z.ts');")).toEqual(['../errors.ts', './dialects.ts', '../z.ts']);
  });
});
