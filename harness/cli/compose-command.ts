import type { StackConfig } from '../config/stack-config.ts';
import { profileEnvironment } from '../stack/compose/compose-stack.ts';
import type { StackProfile } from '../contract/profiles.ts';
import { ExitCode } from '../errors.ts';
import { RunResults } from '../util/run-results.ts';
import { checkComposeFile, ComposeStack } from '../stack/compose/compose-stack.ts';
import { composeStatusLine, ensureComposePlugin } from '../stack/compose/compose-plugin.ts';
import { ensureDockerEngine } from '../stack/docker-engine.ts';
import { newRunId } from '../stack/hsi-stack.ts';
import { prepareImages } from '../stack/images/prepare-images.ts';
import { logLine } from './output.ts';
import { STACK_FILE } from './stack-file.ts';

/**
 * `--compose FILE` at the CLI's edge: the file is checked before anything starts (one line,
 * exit 2, checkComposeFile), then the edge's side effects: a Docker engine and the Compose v2 plugin (installed
 * when allowed, harness/stack/compose/compose-plugin.ts).
 */
export async function ensureComposeEdge(cfg: StackConfig): Promise<void> {
  await ensureDockerEngine({ bootstrap: cfg.dockerBootstrap, log: logLine });
  const status = await ensureComposePlugin({ cacheDir: cfg.cacheDir, log: logLine, ...(cfg.debianMirror !== undefined ? { debianMirror: cfg.debianMirror } : {}) });
  if (status.action !== 'present') logLine(composeStatusLine(status));
}

/** `stack up --compose FILE`: a detached compose stack and its stack.json for `run --external`. */
export async function stackUpCompose(cfg: StackConfig, file: string, profile?: StackProfile): Promise<number> {
  const path = checkComposeFile(file);
  await ensureComposeEdge(cfg);
  await new ComposeStack(cfg, path).validate();
  await prepareImages(cfg, { log: logLine });
  const runId = newRunId('stack');
  const results = new RunResults(cfg.resultsDir, runId);
  const builder = new ComposeStack(cfg, path).withRunId(runId).withDetached(true).withWorkDir(results.path('compose')).withLog(logLine);
  if (profile !== undefined) builder.withRoleEnvironment(profileEnvironment(profile));
  const stack = await builder.start();
  const postgresUrl = stack.getPostgresConnectionUri();
  const redisUrl = stack.getRedisUrl();
  const emulatorUrls = stack.emulatorUrls();
  const stackFile = results.writeJson(STACK_FILE, {
    endpoints: { backendUrl: stack.getBackendUrl(), jaegerUrl: stack.getJaegerQueryUrl(), ...(postgresUrl !== undefined ? { postgresUrl } : {}), ...(redisUrl !== undefined ? { redisUrl } : {}) },
    toxiproxyUrl: stack.getToxiproxyApiUrl(),
    emulatorUrls,
    // The compose override sets OTEL_BSP_SCHEDULE_DELAY on every service that exports spans.
    spanExportDelayMs: cfg.otelBatchDelayMs,
  });
  const row = (name: string, value: string | undefined) => (value === undefined ? [] : [`  ${name.padEnd(11)} ${value}`]);
  process.stdout.write(
    [
      `stack ${runId} up in ${stack.timings.totalSeconds.toFixed(1)} s from ${path} (compose project ${stack.project})`,
      ...row('backend', stack.getBackendUrl()),
      ...row('jaeger', stack.getJaegerQueryUrl()),
      ...row('toxiproxy', stack.getToxiproxyApiUrl()),
      ...row('postgres', postgresUrl),
      ...row('redis', redisUrl),
      ...Object.entries(emulatorUrls).flatMap(([k, v]) => row(k, v)),
      ...stack.plan.proxies.map((p) => `  proxy       ${p.name}: ${p.upstream} via hsi-chaos-toxiproxy:${p.listenPort}`),
      `endpoints written to ${stackFile} (use: hsi-chaos run <scenario> --external ${runId})`,
      `remove it with: hsi-chaos stack down ${runId}`,
      '',
    ].join('\n'),
  );
  return ExitCode.pass;
}
