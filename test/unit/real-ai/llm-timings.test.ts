import { describe, expect, it } from 'vitest';
import { completionResponseSchema, RISK_JSON_SCHEMA, timingAttributes } from '../../../reference-stack/backend/llm-client.ts';
import { parseRiskAssessment } from '../../../reference-stack/backend/risk-analysis.ts';

/** A /completion answer as llama-server 0.7.0 sends it (trimmed), measured on this machine. */
const LLAMA_ANSWER = {
  index: 0,
  content: '{"risk_score":63,"risk_level": "medium",\n "summary" :"SSIbeiIHImAREm","reasoning":"ybSmmoNBnOBejm"}',
  tokens: [],
  id_slot: 0,
  stop: true,
  model: '/models/model.gguf',
  tokens_predicted: 253,
  tokens_evaluated: 147,
  timings: {
    cache_n: 0,
    prompt_n: 147,
    prompt_ms: 120.68,
    prompt_per_token_ms: 0.820952380952381,
    prompt_per_second: 1218.0974477958237,
    predicted_n: 253,
    predicted_ms: 926.916,
    predicted_per_token_ms: 3.6782380952380955,
    predicted_per_second: 271.8692955996013,
  },
};

describe('llama.cpp timings', () => {
  it('parses a real answer and turns its timings into span attributes', () => {
    const response = completionResponseSchema.parse(LLAMA_ANSWER);
    expect(timingAttributes(response.timings)).toEqual({
      'ai.llm.timings.prompt_tokens': 147,
      'ai.llm.timings.prompt_ms': 120.7,
      'ai.llm.timings.cached_tokens': 0,
      'ai.llm.timings.generated_tokens': 253,
      'ai.llm.timings.generation_ms': 926.9,
      'ai.llm.timings.tokens_per_second': 271.9,
      'ai.inference.time_ms': 1047.6,
    });
    expect(parseRiskAssessment(response.content)).toMatchObject({ risk_score: 63, risk_level: 'medium' });
  });

  it('derives tokens/s when the server leaves it out, and skips what is missing', () => {
    expect(timingAttributes({ predicted_n: 50, predicted_ms: 200 })).toEqual({
      'ai.llm.timings.generated_tokens': 50,
      'ai.llm.timings.generation_ms': 200,
      'ai.llm.timings.tokens_per_second': 250,
      'ai.inference.time_ms': 200,
    });
    expect(timingAttributes(undefined)).toEqual({});
    expect(timingAttributes({ predicted_n: 5, predicted_ms: 0 })).toEqual({ 'ai.llm.timings.generated_tokens': 5, 'ai.llm.timings.generation_ms': 0, 'ai.inference.time_ms': 0 });
  });

  it('rejects timings that are not numbers (the answer is malformed)', () => {
    expect(completionResponseSchema.safeParse({ content: 'x', timings: { prompt_ms: 'slow' } }).success).toBe(false);
  });

  it('asks for every field the risk JSON needs, with bounded strings', () => {
    expect(RISK_JSON_SCHEMA.required).toEqual(['risk_score', 'risk_level', 'summary', 'reasoning']);
    expect(RISK_JSON_SCHEMA.properties.risk_score).toEqual({ type: 'integer', minimum: 0, maximum: 100 });
    expect(RISK_JSON_SCHEMA.properties.summary.pattern).toMatch(/\{\d+,\d+\}\$$/);
  });
});
