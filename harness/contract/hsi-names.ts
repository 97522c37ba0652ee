/**
 * Service and span names of the HSI pipeline as the reference stack emits them
 * (reference-stack/README.md, HSI-CONTRACT.md "Tracing"). Everything that knows the HSI shape
 * takes these as overridable defaults, because the real stack names its AI services differently.
 */

export interface HsiServiceNames {
  backend: string;
  detector: string;
  llm: string;
}

export const REFERENCE_SERVICES: Readonly<HsiServiceNames> = Object.freeze({
  backend: 'nemotron-backend',
  detector: 'ai-yolo26-emulator',
  llm: 'ai-llm-emulator',
});

export interface HsiSpanNames {
  upload: string;
  detectionPublish: string;
  detectionProcessing: string;
  detectorRequest: string;
  detectorServer: string;
  detectorInference: string;
  insertDetections: string;
  batchAggregation: string;
  analysisPublish: string;
  analysisProcessing: string;
  llmRequest: string;
  llmServer: string;
  llmGenerate: string;
  eventCreation: string;
}

export const HSI_SPANS: Readonly<HsiSpanNames> = Object.freeze({
  upload: 'POST /api/cameras/{camera_id}/uploads',
  detectionPublish: 'detection_queue publish',
  detectionProcessing: 'detection_processing',
  detectorRequest: 'yolo26_detection_request',
  detectorServer: 'POST /detect',
  detectorInference: 'yolo26_inference',
  insertDetections: 'INSERT detections',
  batchAggregation: 'batch_aggregation',
  analysisPublish: 'analysis_queue publish',
  analysisProcessing: 'analysis_processing',
  llmRequest: 'llm_inference',
  llmServer: 'POST /completion',
  llmGenerate: 'llm_generate',
  eventCreation: 'event_creation',
});

/** Correlation attributes that survive a broken propagation (HSI-CONTRACT.md, Tracing). */
export const HSI_CORRELATION = Object.freeze({
  filePath: 'file_path',
  batchId: 'batch_id',
  cameraId: 'camera_id',
  /** On batch_aggregation: this detection opened the batch (its trace carries the batch's analysis). */
  batchOpened: 'batch.opened',
});

/** Baggage keys of the contract. */
export const HSI_BAGGAGE_KEYS = ['camera.id', 'event.priority', 'request.source', 'batch.id'] as const;

/** Names of the HSI hops, as results report them. */
export const HSI_HOP_NAMES = Object.freeze({
  driverToBackend: 'http: load driver → backend',
  detectionQueue: 'queue: detection_queue producer → consumer',
  backendToDetector: 'http: backend → detector',
  analysisQueue: 'queue: analysis_queue producer → consumer',
  backendToLlm: 'http: backend → llm',
});

export interface HsiNameOptions {
  services?: Partial<HsiServiceNames>;
  spans?: Partial<HsiSpanNames>;
}

export function hsiNames(options: HsiNameOptions = {}): { services: HsiServiceNames; spans: HsiSpanNames } {
  return { services: { ...REFERENCE_SERVICES, ...options.services }, spans: { ...HSI_SPANS, ...options.spans } };
}
