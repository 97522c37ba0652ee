import { randomBytes } from 'node:crypto';
import { faultSettingsJson } from '../common/fault-knobs.ts';
import { createLogger } from '../common/log.ts';
import { stopOnSignals } from '../common/lifecycle.ts';
import { loadProfile, ProfileError, type StackProfile } from '../common/profile.ts';
import { createDetectorEmulator, DEFAULT_SERVICE_NAME } from './app.ts';
import { initDetectorTracing } from './defects.ts';
import { EmulatorSettingsError, loadEmulatorSettings, type EmulatorSettings } from './settings.ts';

/**
 * YOLO26 detector EMULATOR: a CPU stand-in for HSI's GPU object detector (ai-yolo26, port 8095).
 * It speaks the real service's HTTP contract, but runs no model: it reads the image header for
 * the size, derives 1-3 detections from the image's SHA-256, and holds each request for a
 * service time drawn from a lognormal (EMULATOR_SERVICE_MEAN_MS / _P95_MS) on one of
 * EMULATOR_GPU_SLOTS "slots", queueing FIFO when all are busy. It sleeps; it does not burn CPU.
 * Per-request faults: /admin/faults (common/fault-knobs.ts). Defects: HSI_DEFECT_DETECTOR_* at start,
 * /admin/defects while it runs.
 */

export { DEFAULT_SERVICE_NAME, EMULATED_MODEL_NAME, SPAN_INFERENCE } from './app.ts';

const log = createLogger(process.env['OTEL_SERVICE_NAME'] ?? DEFAULT_SERVICE_NAME);

async function main(): Promise<void> {
  let settings: EmulatorSettings;
  let profile: StackProfile;
  try {
    settings = loadEmulatorSettings();
    profile = loadProfile();
  } catch (error) {
    if (error instanceof EmulatorSettingsError || error instanceof ProfileError) {
      log.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const seed = settings.seed ?? randomBytes(8).toString('hex');

  const tracing = initDetectorTracing(settings.defects, seed, {
    serviceName: DEFAULT_SERVICE_NAME,
    resourceAttributes: { 'service.version': '0.1.0', 'ai.emulated': true, 'hsi.reference_stack': true, 'hsi.component': 'ai-yolo26' },
  });
  if (settings.defects.notInstrumented) log.warn('defect HSI_DEFECT_DETECTOR_NOT_INSTRUMENTED is on: the detector emits no spans');
  else if (settings.defects.dropSpansFraction > 0) {
    log.warn('defect HSI_DEFECT_DETECTOR_DROPS_SPANS is on: a fraction of traces lose their detector spans', { fraction: settings.defects.dropSpansFraction });
  }
  const dropper = tracing.dropper;
  const app = createDetectorEmulator({
    settings,
    tracer: tracing.tracer,
    log,
    seed,
    profile,
    defects: tracing.defects,
    ...(dropper !== undefined ? { extraStats: () => ({ spans_dropped: dropper.dropped }) } : {}),
  });

  stopOnSignals(log, app.server, tracing);

  await app.server.listen(settings.port, settings.host);
  log.info('YOLO26 emulator listening', {
    port: settings.port,
    slots: settings.gpuSlots,
    service_mean_ms: settings.serviceMeanMs,
    service_p95_ms: settings.serviceP95Ms,
    seed,
    analytic_capacity_rps: app.analyticCapacityRps,
    faults: settings.faults === undefined ? null : faultSettingsJson(settings.faults),
    instrumented: !settings.defects.notInstrumented,
    profile,
  });
}

process.on('unhandledRejection', (reason) => {
  log.error('unhandled promise rejection', { error: reason });
});

await main();
