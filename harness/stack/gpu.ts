import { run } from '../util/exec.ts';

/**
 * GPU device requests for AI containers: 'on' always, 'off' never, 'auto' when the
 * engine reports an nvidia runtime (the same test testcontainers' Ollama module makes).
 */
export async function detectGpu(mode: 'auto' | 'on' | 'off'): Promise<boolean> {
  if (mode !== 'auto') return mode === 'on';
  const res = await run('docker', ['info', '--format', '{{json .Runtimes}}']).catch(() => undefined);
  return res !== undefined && res.code === 0 && res.stdout.includes('nvidia');
}
