/** What bench/load-driver.bench.ts and its tool hosts (load-driver-host.ts) say to each other over IPC. */

export const BENCH_CAMERA = 'bench_cam';

/** One measured (or warm-up) round. */
export type HostRequest = { op: 'max'; seconds: number } | { op: 'lag' | 'floor' | 'mixed'; seconds: number; rate: number };

export interface LagStats {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** `cpuUs`: the host process's CPU time (user + system) per completed request, max rounds only */
export type HostAnswer = { ok: true; rate: number; cpuUs?: number; lag?: LagStats; detail?: string } | { ok: false; error: string };
