import { z } from 'zod';
import { HSI_SPANS, REFERENCE_SERVICES } from './hsi-names.ts';

/**
 * The HSI stack's wire contract (shared/HSI-CONTRACT.md) as schemas. The harness checks
 * live answers of any target against them: the reference stack in its contract tests,
 * a real stack before a run (a renamed field would otherwise fail every assertion
 * downstream with a confusing message).
 */
const bbox = z.object({ x: z.number(), y: z.number(), width: z.number(), height: z.number() });

export const DetectResponse = z.object({
  detections: z.array(z.object({ class: z.string(), confidence: z.number().min(0).max(1), bbox })),
  inference_time_ms: z.number().nonnegative(),
  image_width: z.number().int().positive(),
  image_height: z.number().int().positive(),
});

export const DetectorHealth = z.object({
  status: z.string(),
  model_loaded: z.boolean(),
  device: z.string(),
  cuda_available: z.boolean(),
  model_name: z.string(),
  vram_used_gb: z.number().nullable(),
  tensorrt_enabled: z.boolean(),
});

/** llama.cpp /completion; `content` carries the risk JSON. */
export const LlmCompletionResponse = z.object({ content: z.string() }).loose();

export const RiskAssessment = z.object({
  risk_score: z.number().min(0).max(100),
  risk_level: z.enum(['low', 'medium', 'high', 'critical']),
  summary: z.string(),
  reasoning: z.string(),
});

const pagination = z.object({ total: z.number().int().nonnegative(), limit: z.number().int(), offset: z.number().int(), has_more: z.boolean() });

export const EventsResponse = z.object({
  items: z.array(
    z
      .object({
        id: z.union([z.number(), z.string()]),
        camera_id: z.string(),
        started_at: z.string(),
        ended_at: z.string().nullable(),
        risk_score: z.number(),
        risk_level: z.string(),
        summary: z.string(),
        detection_count: z.number().int(),
        detection_ids: z.array(z.union([z.number(), z.string()])),
      })
      .loose(),
  ),
  pagination,
});

export const DetectionsResponse = z.object({ items: z.array(z.object({ id: z.union([z.number(), z.string()]), camera_id: z.string() }).loose()), pagination });

export const SystemHealth = z.object({
  status: z.string(),
  services: z.object({ database: z.unknown(), redis: z.unknown(), ai: z.unknown() }).loose(),
});

export const GpuStats = z.object({
  gpu_utilization: z.number().nullable(),
  memory_used: z.number().nullable(),
  memory_total: z.number().nullable(),
  temperature: z.number().nullable(),
  inference_fps: z.number().nullable(),
});

export const UploadAccepted = z.object({ id: z.string(), camera_id: z.string(), file_path: z.string() }).loose();

/** Parses or returns the first issue as "field: message" (for one-line test failures). */
export function contractViolation(schema: z.ZodType, value: unknown): string | undefined {
  const result = schema.safeParse(value);
  if (result.success) return undefined;
  const issue = result.error.issues[0];
  return issue ? `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}` : 'invalid';
}

/** Spans that carry the AI engines' own figures (reference-stack/backend, the detectors). */
export const HSI_AI_SPANS = Object.freeze({
  backendService: REFERENCE_SERVICES.backend,
  /** Backend CLIENT span per LLM attempt; llama.cpp's timings as `ai.llm.timings.*`. */
  llmRequest: HSI_SPANS.llmRequest,
  /** Backend CLIENT span per detector attempt. */
  detectorRequest: HSI_SPANS.detectorRequest,
  /** The detector's own span; `ai.inference.time_ms` is the model's time. */
  detectorInference: HSI_SPANS.detectorInference,
});

/**
 * The contract's outcome rules (HSI-CONTRACT.md, Pipeline 5): an LLM failure still yields an
 * event, with risk 50 and a summary starting "Analysis unavailable" (the real HSI appends
 * " - LLM service error"); only other failures (the database) may dead-letter an analysis job.
 */
export const HSI_FALLBACK_EVENT = Object.freeze({ riskScore: 50, summaryPrefix: 'Analysis unavailable' });

/** A dead-letter entry's error code or text that names an LLM failure. */
export const HSI_LLM_FAILURE_PATTERN = /\b(llm|nemotron|completion)/i;

/** The contract's resilience defaults (HSI-CONTRACT.md, Resilience settings), by environment variable. */
export const HSI_RESILIENCE_DEFAULTS = Object.freeze({
  DETECTOR_MAX_RETRIES: 3,
  NEMOTRON_MAX_RETRIES: 3,
  DETECTOR_CB_FAILURE_THRESHOLD: 5,
  DETECTOR_CB_RECOVERY_SECONDS: 60,
  /** Backoff before retry n: base · 2^(n-1), capped, with jitter. */
  retryBaseMs: 1000,
  retryCapMs: 30_000,
  retryJitter: 0.1,
});
