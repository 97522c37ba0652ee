/** The replay and traces commands in `hsi-chaos --help` (no imports: main.ts reads it while loading). */
export const REPLAY_HELP = `  replay [FILE]       turn an incident's traces into a scenario file (and run it with --run)
      FILE                Jaeger JSON export ({"data":[...]}) or OTLP JSON; or instead:
      --jaeger URL        Jaeger query service (api/v3 or legacy) with --service (default
                          nemotron-backend) and --start/--end (ISO times) or --since 15m,
                          and/or --trace-id ID (repeatable)
      --out FILE          scenario file to write (default results/replays/<name>.ts)
      --name NAME         scenario name (default replay-<time of the first upload>)
      --sampling-rate R   fraction of uploads the traces hold (default: sampling.rate on the
                          root spans, else 1)
      --redact            replace camera names and file paths
      --run               run it at once (embedded stack, or --external STACK), with a
                          "replay fidelity" section in report.html and summary.json
      --tolerance-p95 0.2 --tolerance-errors 0.1 --tolerance-window 1s --tolerance-load 0.1
      --strict-p95        judge every p95 by the band alone (default: a p95 outside it fails
                          only when the durations also differ by a KS test at 5 %)
      --aa                with --run: run the replay twice and show, per operation, how far
                          the two runs' p95 lie apart (the noise a miss is held against)
  traces export RUN   write a run's traces as Jaeger legacy JSON (--out FILE, --redact);
                      or --jaeger URL with --service and a window, as for replay`;
