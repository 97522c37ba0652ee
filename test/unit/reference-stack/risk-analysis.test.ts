import { describe, expect, it } from 'vitest';
import {
  buildPrompt,
  FALLBACK_ASSESSMENT,
  jsonObjectCandidates,
  parseRiskAssessment,
  riskLevelForScore,
  RiskParseError,
} from '../../../reference-stack/backend/risk-analysis.ts';

describe('risk answer parsing', () => {
  it('reads a plain JSON answer', () => {
    expect(parseRiskAssessment('{"risk_score": 72, "risk_level": "high", "summary": "Person at the door", "reasoning": "night"}')).toEqual({
      risk_score: 72,
      risk_level: 'high',
      summary: 'Person at the door',
      reasoning: 'night',
    });
  });

  it('tolerates text, fences and a <think> block around the JSON', () => {
    const content = `<think>The user wants {"risk_score": 99}... let me think</think>
Here is my assessment:
\`\`\`json
{"risk_score": "35", "risk_level": "Medium", "summary": "A car {parked}", "reasoning": "daytime \\"normal\\""}
\`\`\`
Hope this helps.`;
    expect(parseRiskAssessment(content)).toEqual({ risk_score: 35, risk_level: 'medium', summary: 'A car {parked}', reasoning: 'daytime "normal"' });
  });

  it('derives a missing or unknown level from the score and rounds the score', () => {
    expect(parseRiskAssessment('{"risk_score": 90.4, "summary": "x"}')).toMatchObject({ risk_score: 90, risk_level: 'critical', reasoning: '' });
    expect(parseRiskAssessment('{"risk_score": 10, "risk_level": "meh", "summary": "x"}').risk_level).toBe('low');
    expect([0, 29, 30, 59, 60, 84, 85, 100].map(riskLevelForScore)).toEqual(['low', 'low', 'medium', 'medium', 'high', 'high', 'critical', 'critical']);
  });

  it('skips invalid objects and picks the first valid one', () => {
    expect(parseRiskAssessment('{"note": 1} then {"risk_score": 5, "risk_level": "low", "summary": "ok"}').risk_score).toBe(5);
  });

  it('rejects answers without a valid risk JSON', () => {
    expect(() => parseRiskAssessment('no json here')).toThrow(RiskParseError);
    expect(() => parseRiskAssessment('{"risk_score": 150, "summary": "x"}')).toThrow(/risk_score/);
    expect(() => parseRiskAssessment('{"risk_score": 10, "summary": ""}')).toThrow(RiskParseError);
    expect(() => parseRiskAssessment('{"risk_score": 10, "summary": "x"')).toThrow(RiskParseError);
  });

  it('finds balanced objects, respecting strings', () => {
    expect(jsonObjectCandidates('a {"x": "}"} b {"y": {"z": 1}}')).toEqual(['{"x": "}"}', '{"y": {"z": 1}}', '{"z": 1}']);
  });

  it('has the contract fallback', () => {
    expect(FALLBACK_ASSESSMENT).toMatchObject({ risk_score: 50, risk_level: 'medium', summary: 'Analysis unavailable' });
  });
});

describe('prompt', () => {
  it('is ChatML with the detections of the batch', () => {
    const detections = [
      { id: 2, object_type: 'car', confidence: 0.8, detected_at: new Date('2024-01-01T10:00:05Z'), file_path: '/a.jpg', bbox_x: 1, bbox_y: 2, bbox_width: 3, bbox_height: 4 },
      { id: 1, object_type: 'person', confidence: 0.91, detected_at: new Date('2024-01-01T10:00:00Z'), file_path: '/a.jpg', bbox_x: null, bbox_y: null, bbox_width: null, bbox_height: null },
    ];
    const prompt = buildPrompt({ batchId: 'batch-0000beef', cameraId: 'front_door', detections });
    expect(prompt.startsWith('<|im_start|>system\n')).toBe(true);
    expect(prompt.endsWith('<|im_start|>assistant\n')).toBe(true);
    expect(prompt).toContain('<|im_end|>\n<|im_start|>user\n');
    expect(prompt).toContain('Camera: Front Door (front_door)');
    expect(prompt).toContain('Detections (2): 1 person, 1 car');
    expect(prompt).toContain('Time window: 2024-01-01T10:00:00.000Z to 2024-01-01T10:00:05.000Z');
    expect(prompt.indexOf('person (confidence 0.91)')).toBeLessThan(prompt.indexOf('car (confidence 0.80) at (1, 2) size 3x4'));
    expect(prompt).toContain('"risk_score"');
  });

  it('lists at most 50 detections', () => {
    const many = Array.from({ length: 120 }, (_, i) => ({
      id: i,
      object_type: 'person',
      confidence: 0.5,
      detected_at: new Date(1_700_000_000_000 + i),
      file_path: '/a.jpg',
      bbox_x: null,
      bbox_y: null,
      bbox_width: null,
      bbox_height: null,
    }));
    const prompt = buildPrompt({ batchId: 'batch-00000001', cameraId: 'garage', detections: many });
    expect(prompt).toContain('... and 70 more');
    expect(prompt).toContain('Detections (120): 120 person');
  });
});
