import { createLogger } from '../common/log.ts';
import { stopOnSignals } from '../common/lifecycle.ts';
import { initTracing } from '../telemetry/tracing.ts';
import { DEFAULT_SERVICE_NAME, OnnxDetector } from './app.ts';
import { createOnnxEngine, ModelFileError } from './engine.ts';
import { loadOnnxDetectorSettings, OnnxDetectorSettingsError } from './settings.ts';

/**
 * The REAL detector (ai-yolo26 on ONNX Runtime): loads the model, then serves the contract.
 * A bad setting or a missing model file: one log line and exit 2, before listening.
 */

const log = createLogger(process.env['OTEL_SERVICE_NAME'] ?? DEFAULT_SERVICE_NAME);

async function main(): Promise<void> {
  let settings;
  let engine;
  try {
    settings = loadOnnxDetectorSettings();
    const started = performance.now();
    engine = await createOnnxEngine({ modelPath: settings.modelPath, device: settings.device, threads: settings.threads });
    log.info('model loaded', { model: settings.modelPath, device: engine.device, load_ms: Math.round(performance.now() - started), weights: engine.metadata['weights'] ?? 'trained', gflops: engine.metadata['gflops'] ?? null });
  } catch (error) {
    if (error instanceof OnnxDetectorSettingsError || error instanceof ModelFileError) {
      log.error(error.message);
      process.exit(2);
    }
    log.error(`model load failed: ${(error as Error).message}`);
    process.exit(2);
  }
  const tracing = initTracing({
    serviceName: DEFAULT_SERVICE_NAME,
    resourceAttributes: { 'service.version': '0.1.0', 'ai.emulated': false, 'ai.weights': engine.metadata['weights'] ?? 'trained', 'hsi.reference_stack': true, 'hsi.component': 'ai-yolo26' },
  });
  const app = new OnnxDetector({ settings, engine, tracer: tracing.tracer, log });
  stopOnSignals(log, app.server, tracing);
  await app.server.listen(settings.port, settings.host);
  log.info('YOLO detector (ONNX Runtime) listening', { port: settings.port, device: engine.device, concurrency: settings.concurrency, threads: settings.threads });
}

process.on('unhandledRejection', (reason) => {
  log.error('unhandled promise rejection', { error: reason });
});

await main();
