import { createLogger } from '../common/log.ts';
import { stopOnSignals } from '../common/lifecycle.ts';
import { initTracing } from '../telemetry/tracing.ts';
import { DEFAULT_SERVICE_NAME, LlmProxy } from './app.ts';

/** The tracing proxy in front of llama.cpp's server (LLM_UPSTREAM_URL), on PORT (8091). */

const log = createLogger(process.env['OTEL_SERVICE_NAME'] ?? DEFAULT_SERVICE_NAME);

async function main(): Promise<void> {
  const upstreamText = process.env['LLM_UPSTREAM_URL'] ?? '';
  let upstream: URL;
  try {
    upstream = new URL(upstreamText);
  } catch {
    log.error(`invalid environment: LLM_UPSTREAM_URL: expected the llama.cpp server's URL, got ${JSON.stringify(upstreamText)}`);
    process.exit(2);
  }
  const port = Number(process.env['PORT'] ?? '8091');
  const tracing = initTracing({ serviceName: DEFAULT_SERVICE_NAME, resourceAttributes: { 'service.version': '0.1.0', 'ai.emulated': false, 'ai.engine': 'llama.cpp', 'hsi.component': 'ai-llm' } });
  const proxy = new LlmProxy({ upstream, tracer: tracing.tracer, log, maxBodyBytes: 8 * 1024 * 1024, timeoutMs: 600_000 });
  stopOnSignals(log, proxy.server, tracing);
  await proxy.server.listen(port, process.env['HOST'] ?? '0.0.0.0');
  log.info('LLM tracing proxy listening', { port, upstream: upstream.href });
}

process.on('unhandledRejection', (reason) => {
  log.error('unhandled promise rejection', { error: reason });
});

await main();
