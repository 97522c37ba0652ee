/**
 * Functions longer than N lines (from the line of the function's first token to its last,
 * nested functions included), found with the TypeScript parser in git-tracked .ts/.js files.
 * The brief's rule: functions that fit on a screen (< 80 lines).
 *
 *     node_modules/.bin/node test/style/long-functions.ts [MAX=80] [DIR…=harness assertions reference-stack bin]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';

export interface LongFunction {
  file: string;
  line: number;
  name: string;
  lines: number;
}

const ROOT = resolve(import.meta.dirname, '..', '..');

function nameOf(node: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
  if (node.name !== undefined) return node.name.getText(sf);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(sf);
  return '<anonymous>';
}

/** The functions of one source text longer than `max` lines. */
export function longFunctionsIn(file: string, text: string, max: number): LongFunction[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: LongFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (end - start + 1 > max) out.push({ file, line: start + 1, name: nameOf(node as ts.FunctionLikeDeclaration, sf), lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Every git-tracked .ts/.js file under `dirs` (relative to the project root), longest functions first. */
export function longFunctions(dirs: readonly string[], max = 80): LongFunction[] {
  const files = execFileSync('git', ['ls-files', '--', ...dirs], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.endsWith('.d.ts'));
  return files.flatMap((f) => longFunctionsIn(f, readFileSync(join(ROOT, f), 'utf8'), max)).sort((a, b) => b.lines - a.lines);
}

if (import.meta.main) {
  const [maxArg, ...dirs] = process.argv.slice(2);
  const max = Number(maxArg ?? 80);
  const found = longFunctions(dirs.length > 0 ? dirs : ['harness', 'assertions', 'reference-stack', 'bin'], max);
  for (const f of found) process.stdout.write(`${f.lines}\t${f.file}:${f.line}\t${f.name}\n`);
  process.stdout.write(`${found.length} functions longer than ${max} lines\n`);
}
