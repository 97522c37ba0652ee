/**
 * The HSI pipeline's stages as the capacity model reads them from traces: which spans give
 * a stage's service time S and waiting time W, and where its slots c come from. Span and
 * service names follow HSI-CONTRACT.md and the reference stack (overridable for a real
 * stack whose AI services are named differently).
 */
import { HSI_SPANS, REFERENCE_SERVICES, type HsiSpanNames } from '../contract/hsi-names.ts';

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

/** The span and service names the stage model reads: the contract's, flattened. */
export type HsiTraceNames = HsiSpanNames & { backendService: string; detectorService: string; llmService: string };

export const HSI_TRACE_NAMES: Readonly<HsiTraceNames> = Object.freeze({
  ...HSI_SPANS,
  backendService: REFERENCE_SERVICES.backend,
  detectorService: REFERENCE_SERVICES.detector,
  llmService: REFERENCE_SERVICES.llm,
});
