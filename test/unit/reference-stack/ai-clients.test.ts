import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../../reference-stack/backend/circuit-breaker.ts';
import { DetectorClient, DetectorUnavailableError } from '../../../reference-stack/backend/detector-client.ts';
import { COMPLETION_PARAMETERS, LlmClient, LlmUnavailableError, RISK_JSON_SCHEMA } from '../../../reference-stack/backend/llm-client.ts';
import { parseRiskAssessment } from '../../../reference-stack/backend/risk-analysis.ts';
import { Semaphore } from '../../../reference-stack/backend/semaphore.ts';
import { loadSettings } from '../../../reference-stack/backend/settings.ts';
import { initTracing, type Tracing } from '../../../reference-stack/telemetry/tracing.ts';

/** A tiny fake AI server: each request is answered by the next scripted reply (the last one repeats). */
interface Reply {
  status: number;
  body: unknown;
}
interface Seen {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let baseUrl: string;
let script: Reply[] = [];
let seen: Seen[] = [];
const memory = new InMemorySpanExporter();
let tracing: Tracing;

beforeAll(async () => {
  tracing = initTracing({ serviceName: 'unit-test', env: { OTEL_TRACES_EXPORTER: 'none' }, extraSpanProcessors: [new SimpleSpanProcessor(memory)] });
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('latin1')));
    req.on('end', () => {
      seen.push({ path: req.url ?? '', headers: req.headers, body });
      const reply = script.length > 1 ? script.shift()! : script[0]!;
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await tracing.shutdown(1000);
});

beforeEach(() => {
  script = [];
  seen = [];
  memory.reset();
});

const completion = (content: string) => ({
  status: 200,
  body: { content, model: 'nemotron-emulated', tokens_predicted: 42, tokens_evaluated: 310, timings: { prompt_ms: 12.5, predicted_ms: 100 }, stop: true },
});
const RISK = '{"risk_score": 81, "risk_level": "high", "summary": "Person at night", "reasoning": "late"}';

function settings(extra: Record<string, string> = {}) {
  return loadSettings({ DATABASE_URL: 'postgres://u:p@h/db', REDIS_URL: 'redis://h', YOLO26_URL: baseUrl, NEMOTRON_URL: baseUrl, ...extra });
}

/** Runs fn inside a parent span with contract baggage, as the analysis worker does. */
async function inParent<T>(fn: () => Promise<T>): Promise<T> {
  const bag = propagation.createBaggage({ 'camera.id': { value: 'front_door' }, 'batch.id': { value: 'batch-00000001' } });
  return tracing.tracer.startActiveSpan('analysis_processing', {}, propagation.setBaggage(context.active(), bag), async (span) => {
    try {
      return await fn();
    } finally {
      span.end();
    }
  });
}

describe('LLM client', () => {
  it('posts the contract body with traceparent and baggage, and records tokens', async () => {
    script = [completion(`Sure! ${RISK}`)];
    const llm = new LlmClient({ settings: settings(), tracer: tracing.tracer, semaphore: new Semaphore(1) });
    const result = await inParent(() => llm.complete('<|im_start|>user\nhi<|im_end|>', parseRiskAssessment));
    await llm.close();
    expect(result.value).toEqual({ risk_score: 81, risk_level: 'high', summary: 'Person at night', reasoning: 'late' });
    expect(result.attempts).toBe(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.path).toBe('/completion');
    expect(JSON.parse(seen[0]!.body)).toEqual({ prompt: '<|im_start|>user\nhi<|im_end|>', ...COMPLETION_PARAMETERS, json_schema: RISK_JSON_SCHEMA });
    expect(COMPLETION_PARAMETERS).toEqual({ temperature: 0.7, top_p: 0.95, max_tokens: 1536, stop: ['<|im_end|>', '<|im_start|>'] });
    expect(seen[0]?.headers['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(seen[0]?.headers['baggage']).toContain('batch.id=batch-00000001');
    const span = memory.getFinishedSpans().find((s) => s.name === 'llm_inference');
    expect(span?.attributes).toMatchObject({
      'ai.model.name': 'nemotron',
      retry_attempt: 0,
      'url.full': `${baseUrl}/completion`,
      'http.response.status_code': 200,
      'ai.llm.prompt_tokens': 310,
      'ai.llm.completion_tokens': 42,
      'ai.inference.time_ms': 112.5,
    });
    const parent = memory.getFinishedSpans().find((s) => s.name === 'analysis_processing');
    expect(span?.parentSpanContext?.spanId).toBe(parent?.spanContext().spanId);
  });

  it('drops the baggage header with HSI_DEFECT_LLM_CLIENT_DROPS_BAGGAGE', async () => {
    script = [completion(RISK)];
    const llm = new LlmClient({ settings: settings(), tracer: tracing.tracer, semaphore: new Semaphore(1), dropBaggage: true });
    await inParent(() => llm.complete('p', parseRiskAssessment));
    await llm.close();
    expect(seen[0]?.headers['traceparent']).toBeDefined();
    expect(seen[0]?.headers['baggage']).toBeUndefined();
  });

  it('retries 5xx and invalid content, then succeeds', async () => {
    script = [{ status: 503, body: { error: 'loading model' } }, completion('I cannot answer that'), completion(RISK)];
    const llm = new LlmClient({ settings: settings(), tracer: tracing.tracer, semaphore: new Semaphore(1), retryWithoutBackoff: true });
    const result = await inParent(() => llm.complete('p', parseRiskAssessment));
    await llm.close();
    expect(result.attempts).toBe(3);
    const spans = memory.getFinishedSpans().filter((s) => s.name === 'llm_inference');
    expect(spans.map((s) => s.attributes['retry_attempt'])).toEqual([0, 1, 2]);
    expect(spans.map((s) => s.status.code)).toEqual([2, 2, 0]);
    expect(spans[1]?.attributes['error.type']).toBe('invalid_response');
  });

  it('gives up after NEMOTRON_MAX_RETRIES attempts (the caller falls back)', async () => {
    script = [{ status: 500, body: 'boom' }];
    const llm = new LlmClient({ settings: settings({ NEMOTRON_MAX_RETRIES: '2' }), tracer: tracing.tracer, semaphore: new Semaphore(1), retryWithoutBackoff: true });
    const error = await inParent(() => llm.complete('p', parseRiskAssessment)).catch((e: unknown) => e);
    await llm.close();
    expect(error).toBeInstanceOf(LlmUnavailableError);
    expect((error as LlmUnavailableError).attempts).toBe(2);
    expect((error as LlmUnavailableError).last.code).toBe('http_500');
    expect(seen).toHaveLength(2);
  });

  it('does not retry a 400', async () => {
    script = [{ status: 400, body: { error: 'bad prompt' } }];
    const llm = new LlmClient({ settings: settings(), tracer: tracing.tracer, semaphore: new Semaphore(1), retryWithoutBackoff: true });
    const error = await llm.complete('p', parseRiskAssessment).catch((e: unknown) => e);
    await llm.close();
    expect((error as LlmUnavailableError).attempts).toBe(1);
  });

  it('waits 2^attempt seconds between attempts without the defect', async () => {
    script = [{ status: 500, body: 'x' }, completion(RISK)];
    const llm = new LlmClient({ settings: settings(), tracer: tracing.tracer, semaphore: new Semaphore(1) });
    const started = Date.now();
    await inParent(() => llm.complete('p', parseRiskAssessment));
    await llm.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(850);
    const parent = memory.getFinishedSpans().find((s) => s.name === 'analysis_processing');
    expect(parent?.events.find((e) => e.name === 'retry_scheduled')?.attributes).toMatchObject({ retry_attempt: 1 });
  });
});

describe('detector client with the circuit breaker', () => {
  const image = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(100)]);

  it('opens after 5 failed calls, rejects with circuit_open, and closes after a recovery', async () => {
    script = [{ status: 503, body: { error: 'overloaded' } }];
    let now = 0;
    const s = settings({ DETECTOR_MAX_RETRIES: '1' });
    const breaker = new CircuitBreaker({ name: 'yolo26', settings: s.detectorCircuitBreaker, now: () => now });
    const detector = new DetectorClient({ settings: s, tracer: tracing.tracer, breaker, semaphore: new Semaphore(4), retryWithoutBackoff: true });
    const run = () =>
      tracing.tracer.startActiveSpan('detection_processing', async (span) => {
        try {
          return await detector.detect(image, '/x.jpg', 'image/jpeg');
        } catch (error) {
          return error;
        } finally {
          span.end();
        }
      });
    for (let i = 0; i < 5; i++) expect(await run()).toBeInstanceOf(DetectorUnavailableError);
    expect(breaker.state).toBe('open');
    const rejected = (await run()) as DetectorUnavailableError;
    expect(rejected.last.code).toBe('circuit_open');
    expect(seen).toHaveLength(5); // the rejected call never reached the server

    const requests = memory.getFinishedSpans().filter((x) => x.name === 'yolo26_detection_request');
    expect(requests).toHaveLength(5);
    expect(requests.every((x) => x.attributes['circuit_breaker.state'] === 'closed')).toBe(true);
    expect(requests[4]?.events.map((e) => e.name)).toContain('circuit_breaker.opened');
    const processing = memory.getFinishedSpans().filter((x) => x.name === 'detection_processing');
    expect(processing[5]?.events.map((e) => e.name)).toEqual(['circuit_breaker.rejected']);

    // Recovery: the detector answers again; two successful trial calls close the breaker.
    script = [{ status: 200, body: { detections: [], inference_time_ms: 5, image_width: 10, image_height: 10 } }];
    now += s.detectorCircuitBreaker.recoveryMs;
    memory.reset();
    expect(await run()).toMatchObject({ attempts: 1 });
    expect(breaker.state).toBe('half_open');
    expect(await run()).toMatchObject({ attempts: 1 });
    expect(breaker.state).toBe('closed');
    const trial = memory.getFinishedSpans().filter((x) => x.name === 'yolo26_detection_request');
    expect(trial.map((x) => x.attributes['circuit_breaker.state'])).toEqual(['half_open', 'half_open']);
    expect(trial[1]?.events.map((e) => e.name)).toContain('circuit_breaker.closed');
    const first = memory.getFinishedSpans().find((x) => x.name === 'detection_processing');
    expect(first?.events.map((e) => e.name)).toContain('circuit_breaker.half_opened');
    await detector.close();
  });

  it('does not count 4xx answers', async () => {
    script = [{ status: 400, body: { error: 'bad image' } }];
    const s = settings();
    const breaker = new CircuitBreaker({ name: 'yolo26', settings: s.detectorCircuitBreaker });
    const detector = new DetectorClient({ settings: s, tracer: tracing.tracer, breaker, semaphore: new Semaphore(1), retryWithoutBackoff: true });
    for (let i = 0; i < 8; i++) await detector.detect(image, '/x.jpg', 'image/jpeg').catch(() => undefined);
    await detector.close();
    expect(seen).toHaveLength(8); // not retried, never rejected
    expect(breaker.state).toBe('closed');
    expect(breaker.snapshot().failures).toBe(0);
  });

  it('keeps the breaker closed with HSI_DEFECT_BREAKER_NEVER_OPENS', async () => {
    script = [{ status: 500, body: 'x' }];
    const s = settings({ DETECTOR_MAX_RETRIES: '1' });
    const breaker = new CircuitBreaker({ name: 'yolo26', settings: s.detectorCircuitBreaker, neverOpens: true });
    const detector = new DetectorClient({ settings: s, tracer: tracing.tracer, breaker, semaphore: new Semaphore(1), retryWithoutBackoff: true });
    for (let i = 0; i < 12; i++) await detector.detect(image, '/x.jpg', 'image/jpeg').catch(() => undefined);
    await detector.close();
    expect(seen).toHaveLength(12);
    expect(breaker.state).toBe('closed');
  });
});

describe('active span helper', () => {
  it('has no active span outside a span', () => {
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});
