/**
 * What every hsi-chaos container gets, whatever its class: published ports bound to
 * 127.0.0.1 only (load must never leave the machine, and nothing else should reach the
 * stack), our labels for cleanup, and GPU device requests where asked for.
 */
export const MANAGED_LABEL = 'hsi-chaos.managed';
export const RUN_ID_LABEL = 'hsi-chaos.run-id';
export const ROLE_LABEL = 'hsi-chaos.role';

interface PortBinding {
  HostIp?: string;
  HostPort?: string;
}
/** The part of Docker's HostConfig we touch (structural, so any dockerode version fits). */
export interface MutableHostConfig {
  PortBindings?: Record<string, PortBinding[]> | unknown;
  DeviceRequests?: unknown;
}

export function bindPublishedPortsToLoopback(hostConfig: MutableHostConfig): void {
  const bindings = hostConfig.PortBindings as Record<string, PortBinding[]> | undefined;
  if (!bindings) return;
  for (const list of Object.values(bindings)) {
    for (const binding of list) binding.HostIp = '127.0.0.1';
  }
}

/** The nvidia device request the Ollama module of testcontainers uses: all GPUs. */
export function requestAllGpus(hostConfig: MutableHostConfig): void {
  hostConfig.DeviceRequests = [{ Driver: 'nvidia', Count: -1, Capabilities: [['gpu']] }];
}

export function hsiLabels(runId: string, role: string): Record<string, string> {
  return { [MANAGED_LABEL]: 'true', [RUN_ID_LABEL]: runId, [ROLE_LABEL]: role };
}
