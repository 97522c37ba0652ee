import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatDifference, type ConformReport, type ContractChecker } from '../conform/differences.ts';
import type { DialectChoice } from '../contract/dialects.ts';
import { dialectFlag, stackAccessOf } from './access-flags.ts';
import { ConfigError, ExitCode, HarnessError } from '../errors.ts';
import type { EvidenceEndpoints } from '../experiment/evaluator.ts';
import { RunResults } from '../util/run-results.ts';
import { parseDefects } from '../stack/defects.ts';
import { ensureDockerEngine } from '../stack/docker-engine.ts';
import { HsiStack, newRunId, type StartedHsiStack } from '../stack/hsi-stack.ts';
import { prepareImages } from '../stack/images/prepare-images.ts';
import { parseDurationMs } from '../util/duration.ts';
import { config, parse } from './main.ts';
import { CONFORM_HELP } from './conform-help.ts';
import { colour, logLine } from './output.ts';
import { probeExternalStack, readStackFile } from './stack-file.ts';

/**
 * `hsi-chaos conform --external STACK | --stack`: contract tests for any HSI-compatible stack.
 * Each difference is one line (area, where, what, expected vs seen); exit 1 when there is any,
 * 0 when none, 2 on bad input, 3 when the stack does not answer. `conform.json` holds the lot.
 */
interface Target {
  endpoints: EvidenceEndpoints;
  /** From stack.json; --dialect and --api-key win. */
  dialect?: DialectChoice;
  apiKey?: string;
  stack?: StartedHsiStack;
}

async function startStack(values: { config?: string | undefined; 'image-mode'?: string | undefined; profile?: string | undefined }, defects: readonly string[]): Promise<Target> {
  const cfg = config(values);
  const parsed = parseDefects(defects);
  await ensureDockerEngine({ bootstrap: cfg.dockerBootstrap, log: logLine });
  await prepareImages(cfg, { log: logLine });
  const stack = await new HsiStack(cfg).withRunId(newRunId('conform')).withLog(logLine).withDefects(parsed).start();
  return { stack, endpoints: { backendUrl: stack.getBackendUrl(), jaegerUrl: stack.getJaegerQueryUrl(), postgresUrl: stack.getPostgresConnectionUri(), redisUrl: stack.getRedisUrl() } };
}

export function printConform(report: ConformReport, file: string): void {
  const lines = [''];
  const verdict = report.differences.length === 0 ? colour.green('CONFORMS') : colour.red(`${report.differences.length} DIFFERENCE${report.differences.length === 1 ? '' : 'S'}`);
  lines.push(`${colour.bold('hsi-chaos conform')} ${report.backendUrl} (dialect ${report.dialect}): ${verdict}`);
  for (const c of report.checks) lines.push(`  ${c.status === 'ok' ? colour.green('ok     ') : c.status === 'skipped' ? colour.yellow('skipped') : colour.red('differs')} ${c.area.padEnd(9)} ${c.where}${c.note ? colour.dim(` (${c.note})`) : ''}`);
  if (report.differences.length > 0) lines.push('', 'differences:');
  for (const d of report.differences) lines.push(`  ${formatDifference(d)}`);
  for (const n of report.notes) lines.push(`  note: ${n}`);
  lines.push(`  report           ${file}`, '');
  process.stdout.write(lines.join('\n'));
}

export async function cmdConform(args: string[], runConform: ContractChecker | undefined): Promise<number> {
  const { values } = parse(args, {
    external: { type: 'string' },
    stack: { type: 'boolean' },
    defect: { type: 'string', multiple: true },
    profile: { type: 'string' },
    dialect: { type: 'string' },
    'api-key': { type: 'string' },
    'event-timeout': { type: 'string' },
    out: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(`${CONFORM_HELP}\n`);
    return ExitCode.pass;
  }
  if ((values.external === undefined) === (values.stack !== true)) throw new ConfigError('conform needs exactly one of --external STACK or --stack');
  if (values.defect !== undefined && values.stack !== true) throw new ConfigError('--defect needs --stack (an external stack has its own settings)');
  if (values.profile !== undefined && values.stack !== true) throw new ConfigError('--profile needs --stack (an external stack runs its own profile)');
  const dialectChoice = dialectFlag(values.dialect);
  const eventTimeoutMs = values['event-timeout'] === undefined ? 60_000 : parseDurationMs(values['event-timeout']);
  if (eventTimeoutMs === undefined || eventTimeoutMs <= 0) throw new ConfigError(`--event-timeout must be a duration such as 60s (got "${values['event-timeout']}")`);
  if (runConform === undefined) throw new HarnessError('conform: the contract checks are not wired into this entry point (bin/hsi-chaos.js passes them)', ExitCode.internal);
  const cfg = config(values);
  let target: Target;
  if (values.external !== undefined) {
    const { file, ...stack } = readStackFile(values.external, cfg.resultsDir);
    await probeExternalStack({ ...stack, file });
    target = { endpoints: stack.endpoints, ...(stack.dialect !== undefined ? { dialect: stack.dialect } : {}), ...(stack.apiKey !== undefined ? { apiKey: stack.apiKey } : {}) };
  } else {
    parseDefects(values.defect ?? []);
    target = await startStack(values, values.defect ?? []);
  }
  try {
    const access = stackAccessOf({ flag: dialectChoice, file: { ...(target.dialect ? { dialect: target.dialect } : {}), ...(target.apiKey ? { apiKey: target.apiKey } : {}) }, config: cfg.dialect, env: process.env });
    const dialect: DialectChoice = access.dialect ?? 'auto';
    const apiKey = values['api-key'] ?? access.apiKey;
    const report = await runConform({ endpoints: target.endpoints, dialect, fixturesDir: cfg.fixturesDir, eventTimeoutMs, log: logLine, ...(apiKey !== undefined ? { apiKey } : {}) });
    const file = values.out !== undefined ? resolve(values.out) : new RunResults(cfg.resultsDir, newRunId('conform')).writeJson('conform.json', report);
    if (values.out !== undefined) writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    printConform(report, file);
    return report.differences.length === 0 ? ExitCode.pass : ExitCode.expectationFailed;
  } finally {
    if (target.stack) {
      logLine('stopping the stack…');
      await target.stack.stop();
    }
  }
}
