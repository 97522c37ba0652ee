import { randomBytes } from 'node:crypto';
import { faultSettingsJson } from '../common/fault-knobs.ts';
import { createLogger } from '../common/log.ts';
import { stopOnSignals } from '../common/lifecycle.ts';
import { initTracing } from '../telemetry/tracing.ts';
import { createLlmEmulator, DEFAULT_SERVICE_NAME } from './app.ts';
import { LlmSettingsError, loadLlmSettings, type LlmSettings } from './settings.ts';

/**
 * Nemotron LLM EMULATOR: a CPU stand-in for HSI's ai-llm service (Nemotron on llama.cpp,
 * `llama-server --parallel N --cont-batching`, port 8091). It speaks llama-server's routes
 * (/completion, /v1/chat/completions, /health, /slots) but runs no model: the answer is a
 * risk analysis derived from a hash of the prompt, and each request holds one of
 * EMULATOR_LLM_SLOTS slots for prompt tokens / prefill rate + generated tokens / decode rate
 * (× EMULATOR_TIME_SCALE), queueing FIFO up to EMULATOR_MAX_QUEUE. It sleeps; it does not
 * burn CPU. Per-request faults: /admin/faults (common/fault-knobs.ts).
 */

export { DEFAULT_SERVICE_NAME, SPAN_GENERATE } from './app.ts';

const log = createLogger(process.env['OTEL_SERVICE_NAME'] ?? DEFAULT_SERVICE_NAME);

async function main(): Promise<void> {
  let settings: LlmSettings;
  try {
    settings = loadLlmSettings();
  } catch (error) {
    if (error instanceof LlmSettingsError) {
      log.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const seed = settings.seed ?? randomBytes(8).toString('hex');

  const tracing = initTracing({
    serviceName: DEFAULT_SERVICE_NAME,
    resourceAttributes: { 'service.version': '0.1.0', 'ai.emulated': true, 'hsi.reference_stack': true, 'hsi.component': 'ai-llm' },
  });
  const app = createLlmEmulator({ settings, tracer: tracing.tracer, log, seed });

  stopOnSignals(log, app.server, tracing);

  await app.server.listen(settings.port, settings.host);
  log.info('LLM emulator listening', {
    port: settings.port,
    model_name: settings.modelName,
    slots: settings.slots,
    n_ctx: settings.ctxSize,
    max_queue: settings.maxQueue,
    prefill_tokens_per_s: settings.prefillTokensPerS,
    decode_tokens_per_s: settings.decodeTokensPerS,
    completion_tokens_mean: settings.completionTokensMean,
    time_scale: settings.timeScale,
    load_ms: app.loadMs,
    seed,
    analytic_capacity_rps: app.analyticCapacityRps,
    vram_used_gb: app.vramUsedGb,
    faults: settings.faults === undefined ? null : faultSettingsJson(settings.faults),
  });
}

process.on('unhandledRejection', (reason) => {
  log.error('unhandled promise rejection', { error: reason });
});

await main();
