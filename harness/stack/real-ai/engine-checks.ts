import { existsSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { presetBytes, type AiModes, type RealAiConfig } from '../../config/real-ai-config.ts';
import { ConfigError, HarnessError } from '../../errors.ts';
import { run } from '../../util/exec.ts';
import { lastWordsOf } from '../containers/container-last-words.ts';
import { RUN_ID_LABEL, ROLE_LABEL } from '../containers/container-hardening.ts';
import { EngineWaitError } from '../containers/engine-health-wait.ts';

/**
 * What can be known about the real engines before a container starts (model files, model size
 * against memory), and a one-line reason when an engine never became healthy.
 */

const GB = 1024 ** 3;

export interface ModelPlan {
  service: 'llm' | 'detector';
  /** Host path of a mounted model file, or undefined for the image's own model. */
  hostFile: string | undefined;
  bytes: number;
}

/** The model each real engine will load, with its size. */
export function modelPlans(cfg: RealAiConfig, modes: AiModes): ModelPlan[] {
  const plans: ModelPlan[] = [];
  const mounted = (service: 'llm' | 'detector', file: string | undefined): ModelPlan | undefined => {
    if (cfg.modelDir === undefined || file === undefined) return undefined;
    const hostFile = join(cfg.modelDir, file);
    const field = service === 'llm' ? 'realAi.llmModelFile' : 'realAi.detectorModelFile';
    if (!existsSync(hostFile) || !statSync(hostFile).isFile()) {
      throw new ConfigError(`${field}: model file ${hostFile} does not exist; put the model there or fix realAi.modelDir / ${field}`);
    }
    return { service, hostFile, bytes: statSync(hostFile).size };
  };
  if (cfg.modelDir !== undefined && !existsSync(cfg.modelDir)) {
    throw new ConfigError(`realAi.modelDir: folder ${cfg.modelDir} does not exist; create it or drop the setting to use the images' own models`);
  }
  if (modes.llm === 'real') plans.push(mounted('llm', cfg.llmModelFile) ?? { service: 'llm', hostFile: undefined, bytes: presetBytes(cfg.llmPreset) });
  if (modes.detector === 'real') plans.push(mounted('detector', cfg.detectorModelFile) ?? { service: 'detector', hostFile: undefined, bytes: 14e6 });
  return plans;
}

/**
 * Refuses a model that cannot fit: larger than the engine's memory limit, or (on CPU) than this
 * machine's memory. On a GPU host the weights go to device memory, which Docker does not report:
 * there the engine's own failure is the signal.
 */
export function checkModelsFit(plans: readonly ModelPlan[], cfg: RealAiConfig, gpus: boolean, machineBytes = totalmem()): void {
  for (const p of plans) {
    const what = p.hostFile ?? (p.service === 'llm' ? `preset ${cfg.llmPreset}` : 'the synthetic detector model');
    const gb = (p.bytes / GB).toFixed(2);
    if (cfg.memoryLimitMb > 0 && p.bytes > cfg.memoryLimitMb * 1024 * 1024) {
      throw new ConfigError(`realAi.memoryLimitMb: the ${p.service} model (${what}, ${gb} GB) does not fit in ${cfg.memoryLimitMb} MB; raise the limit or pick a smaller model (realAi.llmPreset)`);
    }
    if (!gpus && p.bytes > machineBytes * 0.9) {
      throw new ConfigError(`realAi: the ${p.service} model (${what}, ${gb} GB) is larger than this machine's memory (${(machineBytes / GB).toFixed(1)} GB); use a GPU host or a smaller model (realAi.llmPreset)`);
    }
  }
}

/** The last meaningful lines a container of this run and role wrote (docker logs), for one-line errors. */
export async function lastLogLine(runId: string, role: string): Promise<string> {
  const ps = await run('docker', ['ps', '-a', '-q', '--filter', `label=${RUN_ID_LABEL}=${runId}`, '--filter', `label=${ROLE_LABEL}=${role}`]).catch(() => undefined);
  const id = ps?.stdout.trim().split('\n')[0];
  if (id === undefined || id === '') return 'no container output';
  return lastWordsOf(id);
}

/** Whether a container start failed because its health wait ran out (not because it exited). */
export function isHealthTimeout(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return !/exited/i.test(message) && /not accessible after|timed out|timeout/i.test(message);
}

/**
 * How an engine's start failed, for its one line. The container's own state decides first: an
 * engine that exited failed to start, whichever error reached us (an engine that exits within
 * milliseconds can beat testcontainers' port lookup, which then says "Timed out after 10000ms
 * while waiting for container ports to be bound to the host": a fresh-clone CI under load saw it
 * named a health timeout). Otherwise our own wait's end, or testcontainers' HTTP wait (the tracing
 * proxy's: "URL /health not accessible after 120000ms") running out.
 */
export function engineFailureHead(error: unknown, detail: string, healthTimeoutSeconds: number): string {
  const exited = /^exited with code /.test(detail);
  const timedOut = !exited && (error instanceof EngineWaitError ? error.end === 'timeout' : isHealthTimeout(error));
  return timedOut ? `did not become healthy within ${healthTimeoutSeconds} s (realAi.healthTimeoutSeconds)` : 'failed to start';
}

/** Runs an engine's start; a failure becomes one line naming the engine, its wait and its last words (exit 2). */
export async function startEngine<T>(what: string, runId: string, role: string, healthTimeoutSeconds: number, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    // The engines' own wait read their last words before testcontainers removed the container.
    const waited = error instanceof EngineWaitError ? error : undefined;
    const detail = waited?.lastWords ?? (await lastLogLine(runId, role));
    throw new HarnessError(`${what} ${engineFailureHead(error, detail, healthTimeoutSeconds)}: ${detail}`);
  }
}
