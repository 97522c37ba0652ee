/** `hsi-chaos conform` in the CLI's help (a module of its own: main.ts and conform-command.ts both read it). */
export const CONFORM_HELP = `  conform             contract tests for an HSI-compatible stack: read APIs, queue payloads
                      and dead letters (per dialect), span names and attributes of one traced
                      upload, context on each hop, its event on /ws/events; one line per
                      difference, exit 1 if any
      --external STACK    the stack (run id, folder or stack.json of "stack up")
      --stack             start the reference stack for the check and remove it afterwards
      --profile P         with --stack: reference (default) or hsi-current
      --defect NAME       with --stack: a defect switch (to see what conform reports)
      --dialect D         auto (default: the stack file's, else detected), reference or hsi-current
      --api-key KEY       sent as X-API-Key (default: HSI_CHAOS_API_KEY, else the stack file's apiKey)
      --event-timeout T   how long to wait for the upload's event (default 60s)
      --out FILE          where to write conform.json (default results/conform-<time>/)`;
