import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, errorMessage } from '../errors.ts';
import type { Scenario } from './scenario-types.ts';
import { validateScenario } from './validate-scenario.ts';

/** The repository root (harness/scenario/ -> ../..). */
export const PROJECT_ROOT = resolve(import.meta.dirname, '..', '..');
const BUILTIN_NAME = /^[a-z0-9][a-z0-9-]*$/;

export interface LoadScenarioOptions {
  /** fixture root (default <projectRoot>/fixtures/images) */
  fixturesDir?: string;
  /** where built-in scenarios live: <projectRoot>/scenarios */
  projectRoot?: string;
  /** base for relative paths (default cwd) */
  cwd?: string;
}

/** Names of the built-in scenarios: scenarios/<name>.ts */
export function listBuiltinScenarios(projectRoot = PROJECT_ROOT): string[] {
  const dir = join(projectRoot, 'scenarios');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && statSync(join(dir, f)).isFile())
    .map((f) => f.slice(0, -3))
    .filter((n) => BUILTIN_NAME.test(n))
    .sort();
}

/**
 * Loads a scenario by built-in name (`steady` -> scenarios/steady.ts) or by file path
 * (`./my-scenario.ts`), imports it at run time and validates its default export.
 */
export async function loadScenario(nameOrPath: string, options: LoadScenarioOptions = {}): Promise<Scenario> {
  const root = options.projectRoot ?? PROJECT_ROOT;
  const cwd = options.cwd ?? process.cwd();
  const fixturesDir = options.fixturesDir ?? join(root, 'fixtures', 'images');
  let file: string;
  if (BUILTIN_NAME.test(nameOrPath) && !nameOrPath.endsWith('.ts')) {
    file = join(root, 'scenarios', `${nameOrPath}.ts`);
    if (!existsSync(file)) {
      throw new ConfigError(`scenario "${nameOrPath}": no built-in scenario of that name (built-in: ${listBuiltinScenarios(root).join(', ')}); or give a file path`);
    }
  } else {
    file = isAbsolute(nameOrPath) ? nameOrPath : resolve(cwd, nameOrPath);
    if (!existsSync(file) || !statSync(file).isFile()) throw new ConfigError(`scenario file ${nameOrPath} does not exist`);
  }
  const source = relative(cwd, file).startsWith('..') ? file : relative(cwd, file);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    const first = errorMessage(error).split('\n')[0] ?? '';
    throw new ConfigError(`${source}: cannot be loaded: ${first}`);
  }
  if (module.default === undefined) {
    throw new ConfigError(`${source}: no default export; end the file with \`export default defineScenario({ ... })\``);
  }
  return validateScenario(module.default, { fixturesDir, source, root: cwd });
}
