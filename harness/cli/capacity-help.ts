import { WHAT_IF_KEYS } from '../capacity/what-if.ts';

/** The capacity command's help text, apart from the command (main.ts's help imports it without a cycle). */
export const DEFAULT_CAPACITY_SCENARIO = 'capacity-detector';

export const CAPACITY_HELP = `  capacity [SCENARIO] find the highest load the stack sustains with every SLO holding (coarse steps
                      up, then bisection, one stack), explained per stage from the traces; results in
                      results/<run-id>/capacity.json (default scenario: ${DEFAULT_CAPACITY_SCENARIO})
      --min R / --max R   bounds in uploads/s (default: 0.6× / 2× the model's prediction)
      --step-factor F     coarse growth per step (default 1.25); --resolution F stop bisecting at (default 0.03)
      --detect-budget MS  detect p95 budget (default 2000); --analyze-budget MS (default 30000)
      --window S          measurement window (default 6); --max-windows N (default 6; coarse steps stop at 4); --warmup S (default 3)
      --tolerance F       p95 stability band, ±F (default 0.2); --backlog-tolerance F (growth allowed beyond a critically loaded queue's, share of the load; default 0)
      --vram-headroom F   VRAM that must stay free (default 0.1)
      --time-limit S      whole search, stack start excluded (default 300)
      --require N         exit 1 when fewer than N cameras are sustained
      --set KEY=VALUE     what-if (repeatable): ${Object.keys(WHAT_IF_KEYS).join(', ')}
      --gpus N            GPUs the stack uses, for "cameras per GPU" (default 1)
      --ai MODE           emulated (default) or real AI services (docs/real-inference.md); --set keys
                          are the emulators' and do not apply to real engines
      --external STACK    search on a running stack (run id, folder or stack.json of "stack up")
      --dialect D         reference, hsi-current or auto (default: detected)
      --run-id ID         name the results folder`;

