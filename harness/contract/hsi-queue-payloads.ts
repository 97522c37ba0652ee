import { z } from 'zod';

/**
 * The work queues' payloads as any HSI stack must write them (HSI-CONTRACT.md, Pipeline 1 and
 * 4), for checking a live stack (`hsi-chaos conform`). Both dialects: the real HSI writes the
 * analysis `timestamp` as epoch seconds (float) and batch ids as uuid4 hex; the reference stack
 * ISO strings and `batch-<8 hex>`. Extra fields (`trace_context`, `close_reason`) are allowed.
 */
const timestamp = z.union([z.string().min(1), z.number()]);

export const DetectionQueuePayload = z
  .object({
    camera_id: z.string().min(1),
    file_path: z.string().min(1),
    timestamp,
    media_type: z.string().min(1),
    pipeline_start_time: timestamp.nullable().optional(),
    file_hash: z.string().nullable().optional(),
  })
  .loose();

export const AnalysisQueuePayload = z
  .object({
    batch_id: z.string().min(1),
    camera_id: z.string().min(1),
    detection_ids: z.array(z.union([z.number().int(), z.string().regex(/^\d+$/)])).min(1),
    timestamp,
    pipeline_start_time: timestamp.nullable().optional(),
  })
  .loose();
