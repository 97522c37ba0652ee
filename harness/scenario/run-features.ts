import type { RunFeatures } from '../load/metrics.ts';
import type { RequestKind, Workload } from './scenario-types.ts';

/**
 * What a workload makes the native driver record (metrics.ts RECORDED_METRICS): one
 * computation for scenario validation (which thresholds can see samples) and for the driver
 * (which metrics it defines), so the two cannot disagree.
 */
export function runFeatures(workloads: readonly Pick<Workload, 'requests' | 'websocket'>[], kinds: Readonly<Record<string, Pick<RequestKind, 'checks'>>>, httpTransport: boolean): RunFeatures {
  const uploads = workloads.some((w) => w.requests === undefined && w.websocket === undefined);
  const used = Object.entries(kinds)
    .filter(([name]) => workloads.some((w) => w.requests?.[name] !== undefined))
    .map(([, kind]) => kind);
  return {
    http: (uploads && httpTransport) || used.length > 0,
    checks: used.some((k) => Object.keys(k.checks).length > 0),
    websockets: workloads.some((w) => w.websocket !== undefined),
  };
}
