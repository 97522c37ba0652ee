/**
 * The HSI pipeline's stages as the capacity model reads them from traces: which spans give
 * a stage's service time S and waiting time W, and where its slots c come from. Span and
 * service names follow HSI-CONTRACT.md and the reference stack (overridable for a real
 * stack whose AI services are named differently).
 */
export type StageName = 'upload' | 'detection-queue' | 'detector' | 'batching' | 'analysis-queue' | 'llm' | 'database';

export const STAGE_ORDER: readonly StageName[] = ['upload', 'detection-queue', 'detector', 'batching', 'analysis-queue', 'llm', 'database'];

export const STAGE_LABELS: Readonly<Record<StageName, string>> = {
  upload: 'upload',
  'detection-queue': 'detection queue wait',
  detector: 'detector',
  batching: 'batching',
  'analysis-queue': 'analysis queue wait',
  llm: 'LLM',
  database: 'database',
};

export interface HsiTraceNames {
  backendService: string;
  detectorService: string;
  llmService: string;
  upload: string;
  detectionProcessing: string;
  detectorRequest: string;
  detectorServer: string;
  detectorInference: string;
  batchAggregation: string;
  analysisPublish: string;
  analysisProcessing: string;
  llmRequest: string;
  llmServer: string;
  llmGenerate: string;
  eventCreation: string;
}

export const HSI_TRACE_NAMES: Readonly<HsiTraceNames> = Object.freeze({
  backendService: 'nemotron-backend',
  detectorService: 'ai-yolo26-emulator',
  llmService: 'ai-llm-emulator',
  upload: 'POST /api/cameras/{camera_id}/uploads',
  detectionProcessing: 'detection_processing',
  detectorRequest: 'yolo26_detection_request',
  detectorServer: 'POST /detect',
  detectorInference: 'yolo26_inference',
  batchAggregation: 'batch_aggregation',
  analysisPublish: 'analysis_queue publish',
  analysisProcessing: 'analysis_processing',
  llmRequest: 'llm_inference',
  llmServer: 'POST /completion',
  llmGenerate: 'llm_generate',
  eventCreation: 'event_creation',
});
