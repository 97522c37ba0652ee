import { existsSync } from 'node:fs';
import type { RunObserver } from '../experiment/run-session.ts';
import type { FidelityTolerances } from '../report/replay-fidelity.ts';
import { RUN_TRACES_FILE } from '../traces/legacy-export.ts';
import type { TraceTree } from '../traces/span-model.ts';
import { compareFidelity, noiseReference } from './fidelity.ts';
import { readTraceFile } from './input.ts';

/**
 * The runner's hook for a replay: when the run finishes (before its reports are written), its
 * traces (results/<run>/traces.json, kept by the evaluator after the drain) are compared with
 * the incident's and the "replay fidelity" section is added to the report model. With `aa`
 * (the traces of an earlier run of the same scenario), the section also holds that A/A noise.
 */
export function replayFidelityObserver(incident: { traces: readonly TraceTree[]; description: string }, tolerances?: Partial<FidelityTolerances>, aa?: { traces: readonly TraceTree[]; reference: string }): RunObserver {
  return {
    name: 'replay fidelity',
    onFinish(ctx) {
      const file = ctx.results.path(RUN_TRACES_FILE);
      if (!existsSync(file)) {
        ctx.log(`replay fidelity: no ${RUN_TRACES_FILE} (the run's traces were not collected), no fidelity section`);
        return;
      }
      const traces = readTraceFile(file).traces;
      ctx.model.replayFidelity = compareFidelity(incident.traces, traces, { incident: incident.description, ...(tolerances ? { tolerances } : {}) });
      // --aa: an earlier run of this same scenario is the noise reference
      if (aa) ctx.model.replayFidelity.noise = noiseReference(aa.traces, traces, aa.reference, tolerances);
      ctx.log(`replay fidelity: ${ctx.model.replayFidelity.verdict}${ctx.model.replayFidelity.failures.length > 0 ? ` (${ctx.model.replayFidelity.failures.length} check(s) out of tolerance)` : ''}`);
    },
  };
}
