import { z } from 'zod';
import { cameraNameFromId } from './db.ts';

/**
 * The analysis step's pure parts: the Nemotron prompt (ChatML, as HSI's prompts for
 * llama.cpp), the parsing of the model's answer into the contract's risk JSON, and the
 * fallback when the LLM cannot be reached.
 */

export const RISK_LEVELS = ['low', 'medium', 'high', 'critical'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

export interface RiskAssessment {
  risk_score: number;
  risk_level: RiskLevel;
  summary: string;
  reasoning: string;
}

/** HSI's fallback when the LLM fails: risk 50, medium, "Analysis unavailable". */
export const FALLBACK_ASSESSMENT: Readonly<RiskAssessment> = {
  risk_score: 50,
  risk_level: 'medium',
  summary: 'Analysis unavailable',
  reasoning: 'The LLM could not be reached or gave no valid answer; default risk assigned.',
};

/** Level from score with HSI's bands: low < 30, medium < 60, high < 85, critical otherwise. */
export function riskLevelForScore(score: number): RiskLevel {
  if (score < 30) return 'low';
  if (score < 60) return 'medium';
  if (score < 85) return 'high';
  return 'critical';
}

export const riskAssessmentSchema = z
  .object({
    risk_score: z.coerce.number().finite().min(0).max(100),
    risk_level: z.string().optional(),
    summary: z.string().trim().min(1),
    reasoning: z.string().optional(),
  })
  .transform((raw): RiskAssessment => {
    const score = Math.round(raw.risk_score);
    const level = raw.risk_level?.trim().toLowerCase();
    return {
      risk_score: score,
      risk_level: (RISK_LEVELS as readonly string[]).includes(level ?? '') ? (level as RiskLevel) : riskLevelForScore(score),
      summary: raw.summary,
      reasoning: raw.reasoning ?? '',
    };
  });

export class RiskParseError extends Error {
  override name = 'RiskParseError';
  readonly code = 'invalid_response';
}

/** Candidate JSON objects in the text: every balanced {...} (strings and escapes respected), outermost first. */
export function jsonObjectCandidates(text: string): string[] {
  const out: string[] = [];
  for (let start = text.indexOf('{'); start !== -1; start = text.indexOf('{', start + 1)) {
    let depth = 0;
    let inString = false;
    let escaped = false;
    for (let i = start; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{') depth++;
      else if (c === '}') {
        depth--;
        if (depth === 0) {
          out.push(text.slice(start, i + 1));
          break;
        }
      }
    }
    if (out.length >= 20) break;
  }
  return out;
}

/**
 * The risk JSON in the model's `content`: tolerates text around it, a ```json fence and a
 * <think>...</think> block (Nemotron reasoning). Throws RiskParseError when nothing validates.
 */
export function parseRiskAssessment(content: string): RiskAssessment {
  const cleaned = content.replace(/<think>[\s\S]*?<\/think>/gi, ' ').replace(/```(?:json)?/gi, ' ');
  let lastProblem = 'no JSON object in the answer';
  for (const candidate of jsonObjectCandidates(cleaned)) {
    let value: unknown;
    try {
      value = JSON.parse(candidate);
    } catch {
      lastProblem = 'malformed JSON';
      continue;
    }
    const parsed = riskAssessmentSchema.safeParse(value);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    lastProblem = issue === undefined ? 'invalid risk JSON' : `${issue.path.join('.') || '(root)'}: ${issue.message}`;
  }
  throw new RiskParseError(`no valid risk assessment in the LLM answer (${lastProblem})`);
}

export interface PromptDetection {
  id: number;
  object_type: string | null;
  confidence: number | null;
  detected_at: Date;
  file_path: string;
  bbox_x: number | null;
  bbox_y: number | null;
  bbox_width: number | null;
  bbox_height: number | null;
}

/** Detections listed one per line at most; the rest are only counted. */
export const PROMPT_MAX_DETECTION_LINES = 50;

const SYSTEM_PROMPT = [
  'You are a home security analyst. You review object detections from one security camera',
  'and rate the security risk they represent. Answer with one JSON object only, no other text:',
  '{"risk_score": <integer 0-100>, "risk_level": "low" | "medium" | "high" | "critical",',
  ' "summary": "<one sentence>", "reasoning": "<short explanation>"}',
  'Risk bands: low 0-29, medium 30-59, high 60-84, critical 85-100.',
].join('\n');

/** The ChatML prompt for one batch (llama.cpp /completion takes the raw prompt). */
export function buildPrompt(batch: { batchId: string; cameraId: string; detections: readonly PromptDetection[] }): string {
  const sorted = [...batch.detections].sort((a, b) => a.detected_at.getTime() - b.detected_at.getTime() || a.id - b.id);
  const counts = new Map<string, number>();
  for (const d of sorted) counts.set(d.object_type ?? 'unknown', (counts.get(d.object_type ?? 'unknown') ?? 0) + 1);
  const first = sorted[0]?.detected_at;
  const last = sorted[sorted.length - 1]?.detected_at;
  const lines = sorted.slice(0, PROMPT_MAX_DETECTION_LINES).map((d) => {
    const confidence = d.confidence === null ? '?' : d.confidence.toFixed(2);
    const box = d.bbox_x === null ? '' : ` at (${d.bbox_x}, ${d.bbox_y}) size ${d.bbox_width}x${d.bbox_height}`;
    return `- ${d.detected_at.toISOString()} ${d.object_type ?? 'unknown'} (confidence ${confidence})${box}`;
  });
  if (sorted.length > PROMPT_MAX_DETECTION_LINES) lines.push(`- ... and ${sorted.length - PROMPT_MAX_DETECTION_LINES} more`);
  const user = [
    `Camera: ${cameraNameFromId(batch.cameraId)} (${batch.cameraId})`,
    `Batch: ${batch.batchId}`,
    first !== undefined && last !== undefined ? `Time window: ${first.toISOString()} to ${last.toISOString()}` : 'Time window: unknown',
    `Detections (${sorted.length}): ${[...counts.entries()].map(([k, v]) => `${v} ${k}`).join(', ')}`,
    ...lines,
    '',
    'Rate the risk of this activity.',
  ].join('\n');
  return `<|im_start|>system\n${SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n${user}<|im_end|>\n<|im_start|>assistant\n`;
}
